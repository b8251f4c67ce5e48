"""`krx cockpit`: Streamlit on loopback, pointed at a PC backend, stopped by PID."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration
KRX = str(Path(sys.executable).with_name("krx"))


def test_krx_cockpit_serves_on_loopback_with_the_given_backend(stack, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([KRX, "cockpit", "--no-browser", "--port", str(port),
                             "--pc-url", stack.pc.base_url,
                             "--workspace", str(stack.pc.workspace)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url + "/_stcore/health", timeout=1, trust_env=False).is_success:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        assert "<title>" in httpx.get(url, trust_env=False).text
        import psutil

        child = psutil.Process(proc.pid).children()[0]
        listening = {c.laddr.ip for c in child.net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN}
        assert listening == {"127.0.0.1"}  # never a public address
        env = child.environ()
        assert env["KRX_COCKPIT_PC_URL"] == stack.pc.base_url
        assert env["KRX_COCKPIT_TOKEN_FILE"] == str(stack.pc.workspace / "pc_token")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        psutil.wait_procs([child], timeout=10)
        assert not child.is_running()
    finally:
        if proc.poll() is None:
            proc.kill()
