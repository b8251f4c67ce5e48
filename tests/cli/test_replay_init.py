"""`krx replay init` (issue 16 item 18): an empty replay root from the command line, served by
a real `krx oci serve` (uvicorn on a free loopback port) that replays a past session on asking."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "oci_backend"))
from oci_server import new_token, start_server, stop_server  # noqa: E402

KRX = str(Path(sys.executable).with_name("krx"))


def _krx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KRX, *args], capture_output=True, text=True, encoding="utf-8",
                          timeout=300)


@pytest.mark.integration
def test_krx_replay_init_then_oci_serve_replays_an_asof(tmp_path: Path,
                                                        krx_data_dir: Path) -> None:
    root = tmp_path / "replay-root"
    data = f"csv:{krx_data_dir}"
    r = _krx("replay", "init", "--data-dir", str(root), "--data", data, "--mode", "MANUAL",
             "--set", "rsi_period=14", "--set", "adx_threshold=10")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"krx oci serve --data-dir {root} --data {data}" in r.stdout
    marker = json.loads((root / "state" / "replay.json").read_text(encoding="utf-8"))
    assert marker["replay"] is True and "rsi_period=14" in marker["label"]
    settings = json.loads((root / "state" / "settings.json").read_text(encoding="utf-8"))
    assert settings["execution_mode"] == "MANUAL"
    assert settings["strategy"]["rsi_period"] == 14
    assert settings["strategy"]["adx_threshold"] == 10
    assert not list((root / "reports" / "plans").glob("*.json"))  # no cycle was run

    server = start_server(root, tmp_path / "oci.log", token=new_token(), data_spec=data)
    try:
        with server.client() as c:
            assert c.get("/health").status_code == 200
            cycle = c.post("/api/v1/ops/cycle", json={"asof": "2025-06-13"})
            assert cycle.status_code == 200, cycle.text
            body = cycle.json()
            assert body["plan_id"] and body["summary"]["asof"] == "2025-06-13"
            assert any(risk["code"] == "REPLAY" for risk in body["summary"]["risks"])
    finally:
        stop_server(server)


def test_krx_replay_init_refuses_a_used_directory_and_bad_set(tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x", encoding="utf-8")
    r = _krx("replay", "init", "--data-dir", str(busy))
    assert r.returncode == 2 and "--data-dir" in r.stderr and "not empty" in r.stderr
    assert sorted(p.name for p in busy.iterdir()) == ["x"]
    fresh = tmp_path / "fresh"
    r = _krx("replay", "init", "--data-dir", str(fresh), "--set", "rsi_period=1")
    assert r.returncode == 2 and "rsi_period" in r.stderr
    assert not fresh.exists()
    r = _krx("replay", "--data", "demo")  # the range replay still needs its window
    assert r.returncode == 2 and "--start and --end required" in r.stderr
