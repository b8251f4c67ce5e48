"""`krx demo`: the cycle on the synthetic market, then the OCI backend on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

KRX = str(Path(sys.executable).with_name("krx"))


def test_krx_demo_no_serve_runs_the_cycle_labelled_synthetic(tmp_path):
    res = subprocess.run([KRX, "demo", "--no-serve", "--data-dir", str(tmp_path)],
                         capture_output=True, text=True, encoding="utf-8", timeout=180)
    assert res.returncode == 2, res.stdout + res.stderr  # synthetic data is a WARN: exit 2
    assert "SYNTHETIC MARKET DATA" in res.stdout and "regime " in res.stdout
    assert (tmp_path / "reports/ops/summary/ops_summary_latest.json").exists()


@pytest.mark.integration
def test_krx_demo_serves_the_oci_backend_with_a_private_token(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRX_OCI_")}
    proc = subprocess.Popen([KRX, "demo", "--data-dir", str(tmp_path), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "demo backend did not come up"
            time.sleep(0.2)
        token_file = tmp_path / "state" / "demo_token"
        assert oct(token_file.stat().st_mode)[-3:] == "600"
        token = token_file.read_text(encoding="utf-8").strip()
        assert httpx.get(base + "/api/v1/sync/snapshot", trust_env=False).status_code == 401
        snap = httpx.get(base + "/api/v1/sync/snapshot", trust_env=False,
                         headers={"Authorization": f"Bearer {token}"})
        assert snap.status_code == 200
        assert snap.json()["summary"]["freshness"]["synthetic"] is True
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
