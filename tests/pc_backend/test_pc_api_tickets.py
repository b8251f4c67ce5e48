"""Draft → submit → retried submit (same ticket) → DRY_RUN fill visible after the next PULL,
through the real PC backend; the draft and its key survive a restart and an unreachable OCI."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest
from oci_server import REPO_DAILY, OciServer, error_of, stop_server  # noqa: I001
from pc_server import OciFactory, PcFactory, PcServer, hash_files, stop_pc
from sshd import Sshd

pytestmark = pytest.mark.integration


def _ready(c: httpx.Client) -> None:
    r = c.post("/api/v1/ops/cycle")
    assert r.status_code == 200, r.text
    assert c.post("/api/v1/pull").status_code == 200
    plan = c.get("/api/v1/plan")
    assert plan.status_code == 200 and plan.json()["decision"] == "READY", plan.text


def _bars_until(src: Path, dst: Path, last: str) -> Path:
    """A copy of the csv bars without the rows after `last` (the next open is not known yet)."""
    dst.mkdir(exist_ok=True)
    for f in src.iterdir():
        if f.suffix == ".csv":
            lines = f.read_text(encoding="utf-8").splitlines(keepends=True)
            keep = [ln for ln in lines[1:] if ln[:10] <= last]
            (dst / f.name).write_text("".join([lines[0], *keep]), encoding="utf-8")
        elif f.is_file():
            shutil.copyfile(f, dst / f.name)
    return dst


def test_pc_draft_submit_retry_and_dry_run_fill(
    tmp_path: Path, oci_factory: OciFactory, pc_factory: PcFactory, sshd: Sshd,
) -> None:
    # Monday 2025-12-29 10:00 KST with bars up to Friday 2025-12-26: the cycle plans the 26th
    # and a DRY_RUN ticket waits for the open of the 29th, which arrives later in the data.
    bars = _bars_until(REPO_DAILY, tmp_path / "bars", "2025-12-26")
    oci = oci_factory(bars, env={"KRX_OCI_NOW": "2025-12-29T10:00:00+09:00",
                                 "KRX_OCI_TICKET_PROCESSOR": "true",
                                 "KRX_OCI_TICKET_INTERVAL_S": "0.5"})
    pc = pc_factory(oci)
    with pc.client() as c:
        assert error_of(c.get("/api/v1/tickets/draft"))["error"] == "NO_DRAFT"
        _ready(c)
        r = c.post("/api/v1/tickets/draft", json={})
        assert r.status_code == 200, r.text
        draft = r.json()
        key, tid = draft["idempotency_key"], draft["ticket"]["ticket_id"]
        assert draft["record"] is None and draft["attempts"] == 0
        # re-drafting the same plan keeps the key
        assert c.post("/api/v1/tickets/draft").json()["idempotency_key"] == key
        # not confirmed: refused, nothing sent, workspace unchanged
        files = hash_files(pc.workspace)
        bad = c.post("/api/v1/tickets/submit", json={"confirm": False})
        assert bad.status_code == 422 and error_of(bad)["field"] == "confirm"
        assert hash_files(pc.workspace) == files

        first = c.post("/api/v1/tickets/submit", json={"confirm": True})
        assert first.status_code == 201, first.text
        assert first.json()["ticket"]["ticket_id"] == tid
        assert first.json()["idempotency_key"] == key

    # restart the PC backend on the same workspace, now through the real SSH tunnel: the retry
    # resends the same key and gets the same ticket
    stop_pc(pc)
    pc2 = pc_factory(oci, via=sshd)
    with pc2.client() as c:
        again = c.post("/api/v1/tickets/submit", json={"confirm": True})
        assert again.status_code == 200, again.text
        assert again.json()["ticket"]["ticket_id"] == tid
        assert c.get("/api/v1/tickets/draft").json()["attempts"] == 2
        listed = c.get("/api/v1/tickets").json()
        assert [t["ticket"]["ticket_id"] for t in listed] == [tid]

        state = None
        deadline = time.monotonic() + 30
        while state != "AWAITING_NEXT_OPEN" and time.monotonic() < deadline:
            state = c.get(f"/api/v1/tickets/{tid}").json()["state"]
            time.sleep(0.2)
        assert state == "AWAITING_NEXT_OPEN"
        for f in REPO_DAILY.glob("*.csv"):  # the open of 2025-12-29 is now in the data
            shutil.copyfile(f, bars / f.name)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = c.get(f"/api/v1/tickets/{tid}").json()["state"]
            if state == "DRY_RUN_FILLED":
                break
            time.sleep(0.3)
        assert state == "DRY_RUN_FILLED"
        c.post("/api/v1/pull")
        snap = c.get("/api/v1/snapshot").json()
        [rec] = [t for t in snap["tickets"] if t["ticket"]["ticket_id"] == tid]
        assert rec["state"] == "DRY_RUN_FILLED" and rec["fills"]
        assert snap["portfolio"] == c.get("/api/v1/workspace/portfolio").json()


def test_pc_submit_with_oci_down_fails_fast_and_keeps_the_draft(
    oci: OciServer, pc: PcServer,
) -> None:
    with pc.client() as c:
        _ready(c)
        draft = c.post("/api/v1/tickets/draft").json()
        stop_server(oci)
        t0 = time.monotonic()
        r = c.post("/api/v1/tickets/submit", json={"confirm": True})
        elapsed = time.monotonic() - t0
        assert r.status_code == 503, r.text
        assert error_of(r)["error"] == "OCI_UNREACHABLE"
        assert elapsed < 5.0
        kept = c.get("/api/v1/tickets/draft").json()
        assert kept["idempotency_key"] == draft["idempotency_key"]
        assert kept["record"] is None and kept["attempts"] == 1
        status = c.get("/api/v1/status").json()
        assert status["oci"]["reachable"] is False and status["oci"]["error"]
        assert status["draft_ticket_id"] == draft["ticket"]["ticket_id"]
        for path in ("/api/v1/plan", "/api/v1/audit", "/api/v1/emergency-stop"):
            t0 = time.monotonic()
            assert c.get(path).status_code == 503
            assert time.monotonic() - t0 < 5.0
