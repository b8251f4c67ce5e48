"""`krx pc pull | push --reason | status | submit` against a running PC backend."""

from __future__ import annotations

import subprocess
import sys

import pytest
from oci_server import OciServer  # noqa: I001
from pc_server import REPO, PcServer, pc_env

pytestmark = pytest.mark.integration


def _krx(pc: PcServer, *args: str) -> subprocess.CompletedProcess:
    port = pc.base_url.rsplit(":", 1)[1]
    return subprocess.run([sys.executable, "-m", "krx_cli.main", "pc", *args], cwd=REPO,
                          env=pc_env({"KRX_PC_PORT": port, "KRX_PC_WORKSPACE": str(pc.workspace)}),
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_pc_cli_pull_push_status_submit(oci: OciServer, pc: PcServer) -> None:
    with oci.client() as o:
        assert o.post("/api/v1/ops/cycle").status_code == 200
    r = _krx(pc, "pull")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("pulled revision ")
    with pc.client() as c:
        plan = c.get("/api/v1/snapshot").json()["plan"]
    assert plan is not None and plan["decision"] == "READY", plan
    r = _krx(pc, "submit")
    assert r.returncode == 1 and "KRX Alertor 주문 티켓" in r.stdout  # shown, not sent
    with pc.client() as c:
        assert c.get("/api/v1/tickets").json() == []
    r = _krx(pc, "submit", "--yes")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("submitted: ")
    r = _krx(pc, "submit", "--yes")
    assert r.returncode == 0 and "already submitted" in r.stdout

    with pc.client() as c:
        s = c.get("/api/v1/workspace/settings").json()
        s["strategy"]["max_positions"] = 3
        assert c.put("/api/v1/workspace/settings", json=s).status_code == 200
    # not a terminal and no --yes: shows the diff, refuses, pushes nothing
    r = _krx(pc, "push", "--reason", "fewer positions")
    assert r.returncode == 1
    assert "settings strategy.max_positions: 5 -> 3" in r.stdout and "--yes" in r.stderr
    with oci.client() as o:
        assert o.get("/api/v1/sync/snapshot").json()["settings"]["strategy"]["max_positions"] == 5
    r = _krx(pc, "push", "--reason", "fewer positions", "--yes")
    assert r.returncode == 0, r.stderr
    assert "pushed: revision" in r.stdout
    with oci.client() as o:
        assert o.get("/api/v1/sync/snapshot").json()["settings"]["strategy"]["max_positions"] == 3


def test_pc_cli_without_a_backend_says_how_to_start_it(tmp_path) -> None:
    port = "1"  # nothing listens there
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "pc_token").write_text("t" * 40, encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "krx_cli.main", "pc", "pull"], cwd=REPO,
                       env=pc_env({"KRX_PC_PORT": port, "KRX_PC_WORKSPACE": str(ws)}),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "krx pc start" in r.stderr
