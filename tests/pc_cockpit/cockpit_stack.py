"""The cockpit tests' stack: a REAL OCI backend and a REAL PC backend on loopback, and
helpers to read an AppTest. Its own module (not conftest) so that test files import it by a
name no other test folder uses."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "oci_backend"))
sys.path.insert(0, str(TESTS / "pc_backend"))

from oci_server import (  # noqa: E402
    REPO,
    REPO_DAILY,
    OciServer,
    free_port,
    new_token,
    serve_command,
    server_env,
    stop_server,
)
from pc_server import PcServer, pc_env, stop_pc, write_token_file  # noqa: E402

APP = TESTS.parent / "pc_cockpit" / "app.py"
NOW = {"KRX_OCI_NOW": "2025-09-03T10:00:00+09:00"}
PLAN_ASOF = "2025-09-02"


@dataclass
class Stack:
    oci: OciServer
    pc: PcServer

    def pc_client(self) -> httpx.Client:
        return self.pc.client()

    def oci_client(self) -> httpx.Client:
        return self.oci.client()


def _wait_health(url: str, proc: subprocess.Popen, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n"
                               + log.read_text(encoding="utf-8", errors="replace"))
        try:
            if httpx.get(f"{url}/health", timeout=1.0, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer /health:\n"
                       + log.read_text(encoding="utf-8", errors="replace"))


def start_stack(tmp: Path, name: str = "ws") -> Stack:
    """OCI and the PC backend (direct mode) started side by side — the PC backend does not
    need OCI up to start — then the day's cycle, as cron would have run it."""
    root = tmp / f"oci-{name}"
    root.mkdir(parents=True, exist_ok=True)
    token = new_token()
    oci_port, pc_port = free_port(), free_port()
    oci_log, pc_log = tmp / f"oci-{name}.log", tmp / f"pc-{name}.log"
    with open(oci_log, "wb") as log:
        oci_proc = subprocess.Popen(serve_command(oci_port, root, f"csv:{REPO_DAILY}"),
                                    cwd=REPO, env=server_env(token, NOW), stdout=log,
                                    stderr=subprocess.STDOUT)
    oci = OciServer(f"http://127.0.0.1:{oci_port}", token, root, oci_log, oci_proc)
    workspace = tmp / name
    token_file = write_token_file(tmp / f"{name}.oci_token", token)
    cmd = [sys.executable, "-m", "krx_cli.main", "pc", "serve", "--port", str(pc_port),
           "--workspace", str(workspace), "--direct", oci.base_url]
    env = pc_env({"KRX_PC_OCI_TOKEN_FILE": str(token_file), "KRX_PC_DATA": f"csv:{REPO_DAILY}"})
    with open(pc_log, "wb") as log:
        pc_proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    pc = PcServer(f"http://127.0.0.1:{pc_port}", workspace, pc_log, pc_proc)
    try:
        deadline = time.monotonic() + 90
        _wait_health(oci.base_url, oci_proc, oci_log, deadline)
        _wait_health(pc.base_url, pc_proc, pc_log, deadline)
        with oci.client() as c:
            assert c.post("/api/v1/ops/cycle").status_code == 200
    except BaseException:
        stop_pc(pc)
        stop_server(oci)
        raise
    return Stack(oci, pc)


def stop_stack(stack: Stack) -> None:
    stop_pc(stack.pc)
    stop_server(stack.oci)


def texts(at: object, *kinds: str) -> str:
    """Every text of the given element kinds (default: all messages and markdown) joined."""
    kinds = kinds or ("title", "success", "info", "warning", "error", "markdown", "caption",
                      "subheader", "code")
    out = []
    for kind in kinds:
        for el in getattr(at, kind):
            out.append(str(el.value))
    return "\n".join(out)


def pull(stack: Stack) -> dict:
    with stack.pc_client() as c:
        r = c.post("/api/v1/pull")
        assert r.status_code == 200, r.text
        return r.json()
