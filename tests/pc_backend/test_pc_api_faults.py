"""Faults around the PC backend: a hung OCI answers a fast 503 (no hang), a damaged workspace
file is reported with its path and left as it is."""

from __future__ import annotations

import signal
import time

import pytest
from oci_server import OciServer, error_of  # noqa: I001
from pc_server import PcFactory

pytestmark = pytest.mark.integration


def test_pc_hung_oci_gives_a_fast_503_and_recovers(oci: OciServer, pc_factory: PcFactory) -> None:
    pc = pc_factory(oci, env={"KRX_PC_READ_TIMEOUT_S": "1"})
    with pc.client() as c:
        assert c.post("/api/v1/pull").status_code == 200
        oci.proc.send_signal(signal.SIGSTOP)
        try:
            for method, path in (("POST", "/api/v1/pull"), ("GET", "/api/v1/plan"),
                                 ("GET", "/api/v1/audit")):
                t0 = time.monotonic()
                r = c.request(method, path)
                assert r.status_code == 503, r.text
                assert time.monotonic() - t0 < 3.0  # one read timeout, not retried
                body = error_of(r)
                assert body["error"] == "OCI_UNREACHABLE" and "ReadTimeout" in body["message"]
            t0 = time.monotonic()
            status = c.get("/api/v1/status").json()
            assert time.monotonic() - t0 < 3.0
            assert status["oci"]["reachable"] is False and status["pulled_revision"] is not None
        finally:
            oci.proc.send_signal(signal.SIGCONT)
        assert c.post("/api/v1/pull").status_code == 200
        assert c.get("/api/v1/status").json()["oci"]["reachable"] is True


def test_pc_damaged_workspace_file_is_named_and_left_alone(
    oci: OciServer, pc_factory: PcFactory,
) -> None:
    pc = pc_factory(oci)
    with pc.client() as c:
        assert c.post("/api/v1/pull").status_code == 200
        s = c.get("/api/v1/workspace/settings").json()
        s["strategy"]["rsi_period"] = 33
        assert c.put("/api/v1/workspace/settings", json=s).status_code == 200
        damaged = pc.workspace / "working" / "settings.json"
        damaged.write_text('{"benchmark": ', encoding="utf-8")
        for path in ("/api/v1/workspace/settings", "/api/v1/diff"):
            r = c.get(path)
            assert r.status_code == 500
            body = error_of(r)
            assert body["error"] == "WORKSPACE_CORRUPT" and str(damaged) in body["message"]
        r = c.post("/api/v1/push", json={"reason": "x"})
        assert r.status_code == 500 and error_of(r)["error"] == "WORKSPACE_CORRUPT"
        status = c.get("/api/v1/status")
        assert status.status_code == 200
        assert str(damaged) in status.json()["workspace_error"]
        assert status.json()["oci"]["reachable"] is True
        assert damaged.read_text(encoding="utf-8") == '{"benchmark": '
        # discarding the edits is the way out
        assert c.delete("/api/v1/workspace/edits").status_code == 200
        assert c.get("/api/v1/workspace/settings").json()["strategy"]["rsi_period"] == 40
