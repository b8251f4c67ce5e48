"""The fault drill (issue 15) and the read-only data root, on real filesystems: a tmpfs of
its own as the data root (`mount -t tmpfs`), filled to the last byte or remounted read-only,
under a real `krx oci serve`. CI runs as root in a container, where mounting works: there a
failing mount fails the test; only a non-root local run skips."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from fault_drill_harness import (
    NOW,
    MountUnavailable,
    fill,
    read_only,
    run_fault_drill,
    tmpfs,
)
from filelock import FileLock
from oci_server import REPO_DAILY, OciServer, hash_tree, new_token, start_server, stop_server

from contracts import AuditAction, AuditEntry
from krx_common.atomic import WriteFailed
from oci_backend.audit_log import AuditLog

pytestmark = [pytest.mark.integration]


@pytest.fixture(autouse=True)
def _needs_mount() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI runs as root: the fault drill must be able to mount a tmpfs")
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")


@pytest.mark.slow
def test_fault_drill_each_fault_ends_degraded_not_dead_with_nothing_overwritten(
        tmp_path: Path) -> None:
    try:
        report = run_fault_drill(tmp_path, size="16m")
    except MountUnavailable as exc:  # root, yet no mount: the container lacks CAP_SYS_ADMIN
        pytest.fail(f"root cannot mount a tmpfs here: {exc}")
    for row in report.rows:
        print(f"{row.fault}: {row.health} | refused {row.refused} | recovered {row.recovered}"
              f" | unchanged {row.unchanged} | {row.seconds} s")
    assert [r.fault for r in report.rows] == [
        "damaged journal", "deleted stop file", "full disk", "clock step (10 days back)",
        "read-only data root"]
    assert report.problems == []
    assert all(r.recovered and r.unchanged for r in report.rows)
    assert all(r.health.startswith("degraded") for r in report.rows)
    assert report.one_process, "the first three faults must not kill or restart the backend"
    assert report.tracebacks == 0


def test_full_disk_audit_append_takes_back_its_partial_line(tmp_path: Path) -> None:
    """A full disk let an append write part of a line: the log gained a torn line although
    the append failed. Now the failed append leaves the log byte-identical."""
    with tmpfs(tmp_path / "disk", "256k") as disk:
        log = AuditLog(disk / "audit.jsonl", FileLock(str(tmp_path / "audit.lock")))
        log.append(AuditEntry(actor="t", action=AuditAction.INCIDENT, target="disk",
                              reason="the first line"))
        before = log.path.read_bytes()
        fill(disk)  # the log's last page still has room for part of the next line
        with pytest.raises(WriteFailed, match="ENOSPC"):
            log.append(AuditEntry(actor="t", action=AuditAction.INCIDENT, target="disk",
                                  reason="x" * 9000))
        assert log.path.read_bytes() == before
        assert [e.reason for e in log.read(limit=10)] == ["the first line"]
        assert log.skipped == []


def _start(root: Path, log: Path) -> OciServer:
    return start_server(root, log, token=new_token(), data_spec=f"csv:{REPO_DAILY}",
                        env={"KRX_OCI_NOW": NOW})


@pytest.mark.parametrize("initialised", [True, False], ids=["initialised", "empty"])
def test_read_only_data_root_fails_closed_with_a_clear_message_and_writes_nothing(
        tmp_path: Path, initialised: bool) -> None:
    """A data root on a read-only mount (root ignores file modes, not a read-only mount):
    start-up comes up degraded (never a crash or a traceback), /health names the cause
    without a path, every write answers a 5xx naming it, and not a byte is written."""
    with tmpfs(tmp_path / "disk", "16m") as disk:
        root = disk / "data"
        root.mkdir()
        if initialised:
            stop_server(_start(root, tmp_path / "init.log"))
        before = hash_tree(disk)
        with read_only(disk):
            server = _start(root, tmp_path / "ro.log")
            try:
                with server.client() as c:
                    r = c.get("/health")
                    assert r.status_code == 200, r.text
                    health = r.json()
                    assert health["status"] == "degraded"
                    assert "read-only" in health["error"].lower(), health
                    assert str(disk) not in r.text
                    _write_refused(c.post("/api/v1/sync/push", json={
                        "reason": "read-only", "portfolio": {"cash": 1.0}},
                        headers={"If-Match": '"1"'}), str(disk))
                    _write_refused(c.post("/api/v1/emergency-stop", json={
                        "on": True, "reason": "read-only", "by": "t"}), str(disk))
                    _write_refused(c.post("/api/v1/ops/cycle"), str(disk))
                    snap = c.get("/api/v1/sync/snapshot")
                    if initialised:  # reads go on
                        assert snap.status_code == 200, snap.text
                    else:  # nothing to read and nothing may be created: refused, named
                        _write_refused(snap, str(disk))
            finally:
                stop_server(server)
            output = server.output()
            assert "Traceback" not in output
        assert hash_tree(disk) == before


def _write_refused(r: httpx.Response, path: str) -> None:
    assert r.status_code >= 500, r.text
    body = r.json()
    assert "read-only" in body["message"].lower(), body
    assert path not in r.text
