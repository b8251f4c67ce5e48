"""`krx cockpit`: the Streamlit cockpit on 127.0.0.1:8501, talking only to the PC backend.

The command line and environment of that process are `pc_cockpit.server.cockpit_command` and
`cockpit_env`, which `krx demo` and the PC launcher use too.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from pc_cockpit.server import APP, cockpit_command, cockpit_env

__all__ = ["APP", "DEFAULT_PORT", "cockpit_command", "cockpit_env", "register", "run", "stop",
           "wait_healthy"]

DEFAULT_PORT = 8501


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cockpit", help="run the cockpit (Streamlit, 127.0.0.1:8501)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"cockpit port on 127.0.0.1 (default {DEFAULT_PORT})")
    p.add_argument("--pc-url", default=None,
                   help="PC backend URL (default $KRX_COCKPIT_PC_URL or http://127.0.0.1:8000)")
    p.add_argument("--workspace", type=Path, default=None,
                   help="PC workspace holding pc_token (default: the PC backend's)")
    p.add_argument("--token-file", type=Path, default=None,
                   help="the PC backend's token file (default <workspace>/pc_token)")
    p.add_argument("--no-browser", dest="browser", action="store_false",
                   help="do not open a browser tab")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    token_file = args.token_file
    if token_file is None and args.workspace is not None:
        token_file = args.workspace / "pc_token"
    url = f"http://127.0.0.1:{args.port}"
    proc = subprocess.Popen(cockpit_command(args.port), env=cockpit_env(args.pc_url, token_file))
    print(f"cockpit: {url} (Ctrl-C stops it)", file=sys.stderr)
    if args.browser:
        _open_when_up(url, proc)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return stop(proc)


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> bool:
    """True once the cockpit's `/_stcore/health` answers; False if it died or timed out."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1.0, trust_env=False).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return False


def _open_when_up(url: str, proc: subprocess.Popen) -> None:
    import webbrowser

    if wait_healthy(url, proc):
        webbrowser.open(url)


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """Terminate `proc` (by its PID), kill it if it does not exit in `timeout` s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    return 0
