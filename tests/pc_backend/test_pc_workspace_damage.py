"""Defect 9 (issue 15), damaged PC workspace files, against a real PC backend in front of a real
OCI backend: every workspace file is validated against its model on read; a damaged one is
named by `/status` (which keeps answering) and by the routes that need it, and is never
rewritten silently; PULL repairs the files it owns (snapshot.json)."""

from __future__ import annotations

import json

import httpx
import pytest
from oci_server import OciServer, error_of  # noqa: I001
from pc_server import PcFactory, PcServer

pytestmark = pytest.mark.integration


def _pull_and_edit(c: httpx.Client, rsi_period: int = 33) -> None:
    assert c.post("/api/v1/pull").status_code == 200
    s = c.get("/api/v1/workspace/settings").json()
    s["strategy"]["rsi_period"] = rsi_period
    assert c.put("/api/v1/workspace/settings", json=s).status_code == 200


def _assert_named(r: httpx.Response, path: str) -> None:
    assert r.status_code == 500, r.text
    body = error_of(r)
    assert body["error"] == "WORKSPACE_CORRUPT" and path in body["message"], body


def test_damaged_pc_settings_file_keeps_status_up_and_is_named(
    oci: OciServer, pc: PcServer,
) -> None:
    damaged = pc.workspace / "working" / "settings.json"
    with pc.client() as c:
        _pull_and_edit(c)
        valid = damaged.read_text(encoding="utf-8")
        for content in (b"42", b'"x"', valid.encode("utf-16")):
            damaged.write_bytes(content)
            status = c.get("/api/v1/status")
            assert status.status_code == 200, status.text
            assert str(damaged) in status.json()["workspace_error"]
            assert status.json()["oci"]["reachable"] is True
            for method, route in (("GET", "/api/v1/workspace/settings"), ("GET", "/api/v1/diff"),
                                  ("POST", "/api/v1/pull")):
                _assert_named(c.request(method, route), str(damaged))
            # routes that do not need the file keep working
            assert c.get("/api/v1/workspace/portfolio").status_code == 200
            assert c.get("/api/v1/audit").status_code == 200
            assert c.get("/api/v1/snapshot").status_code == 200
            assert damaged.read_bytes() == content  # left as it is
        # discarding the edits is the way out
        assert c.delete("/api/v1/workspace/edits").status_code == 200
        assert c.get("/api/v1/status").json()["workspace_error"] is None


def test_damaged_pc_snapshot_is_repaired_by_pull(oci: OciServer, pc: PcServer) -> None:
    snapshot = pc.workspace / "snapshot.json"
    with pc.client() as c:
        assert c.post("/api/v1/pull").status_code == 200
        good = json.loads(snapshot.read_text(encoding="utf-8"))
        for content in ("{}", '{"revision": 1}', "[]"):
            snapshot.write_text(content, encoding="utf-8")
            status = c.get("/api/v1/status")
            assert status.status_code == 200 and str(snapshot) in status.json()["workspace_error"]
            _assert_named(c.get("/api/v1/snapshot"), str(snapshot))
            r = c.post("/api/v1/pull")
            assert r.status_code == 200, r.text
            repaired = json.loads(snapshot.read_text(encoding="utf-8"))
            assert repaired["revision"] == good["revision"]
            assert repaired["settings"] == good["settings"]
            assert c.get("/api/v1/status").json()["workspace_error"] is None

        # With an edit pending, the damaged base cannot tell the operator's changes from OCI's:
        # the pull replaces the base and keeps the edit, as a conflict to pick, not silently.
        _pull_and_edit(c, rsi_period=33)
        snapshot.write_text("{}", encoding="utf-8")
        r = c.post("/api/v1/pull")
        assert r.status_code == 200, r.text
        conflicts = r.json()["conflicts"]
        assert [(x["artifact"], x["path"], x["mine"], x["theirs"]) for x in conflicts] == [
            ("settings", "strategy.rsi_period", 33, 40)]
        assert c.get("/api/v1/workspace/settings").json()["strategy"]["rsi_period"] == 33
        r = c.post("/api/v1/conflicts/resolve", json={"choices": [
            {"artifact": "settings", "path": "strategy.rsi_period", "pick": "mine"}]})
        assert r.status_code == 200, r.text
        assert [(d["path"], d["mine"]) for d in r.json()["changes"]] == [
            ("strategy.rsi_period", 33)]


def test_damaged_pc_working_file_is_never_rewritten_into_nulls(
    oci: OciServer, pc_factory: PcFactory,
) -> None:
    pc = pc_factory(oci)
    with pc.client() as c:
        assert c.post("/api/v1/pull").status_code == 200
        for artifact in ("settings", "portfolio"):
            damaged = pc.workspace / "working" / f"{artifact}.json"
            for content in ("{}", "[]", '{"strategy": {}}' if artifact == "settings"
                            else '{"cash": 5}'):
                damaged.parent.mkdir(exist_ok=True)
                damaged.write_text(content, encoding="utf-8")
                for method, route in (("GET", f"/api/v1/workspace/{artifact}"),
                                      ("GET", "/api/v1/diff"), ("POST", "/api/v1/pull"),
                                      ("POST", "/api/v1/push")):
                    _assert_named(c.request(method, route, **(
                        {"json": {"reason": "x"}} if route.endswith("push") else {})),
                        str(damaged))
                status = c.get("/api/v1/status")
                assert status.status_code == 200 and str(damaged) in status.json()[
                    "workspace_error"]
                assert damaged.read_text(encoding="utf-8") == content  # never rewritten
            assert c.delete("/api/v1/workspace/edits").status_code == 200
            assert not damaged.exists()
