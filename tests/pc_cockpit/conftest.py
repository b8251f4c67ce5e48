"""Fixtures of the cockpit page tests: a REAL OCI backend and a REAL PC backend (`krx pc serve
--direct`) on loopback, and the cockpit driven in-process by `streamlit.testing` AppTest.

The OCI backend runs on the in-repo KRX bars with its clock frozen on 2025-09-03 10:00 KST, so
the cycle plans the session of 2025-09-02, whose plan is READY (one BUY of 305720). The ticket
processor is off: the tests run what they need explicitly.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

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


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """OCI + PC backend shared by the tests of one module (each test PULLs what it needs)."""
    s = start_stack(tmp_path_factory.mktemp("stack"))
    yield s
    stop_stack(s)


@pytest.fixture
def fresh_stack(tmp_path: Path) -> Iterator[Stack]:
    """OCI + PC backend of one test (for tests that stop or break one of them)."""
    s = start_stack(tmp_path)
    yield s
    stop_stack(s)


@pytest.fixture
def cockpit(monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    """`cockpit(stack, page=None, lang="ko", **state)` → an AppTest of the cockpit, pointed at
    `stack`'s PC backend (its real token file), run once on `page` (a file under pages/)."""
    from streamlit.testing.v1 import AppTest

    def make(stack: Stack | None, page: str | None = None, lang: str = "ko",
             pc_url: str | None = None, token_file: Path | None = None,
             **state: object) -> AppTest:
        url = pc_url or (stack.pc.base_url if stack else "http://127.0.0.1:9")
        token = token_file or (stack.pc.workspace / "pc_token" if stack else Path("/nonexistent"))
        monkeypatch.setenv("KRX_COCKPIT_PC_URL", url)
        monkeypatch.setenv("KRX_COCKPIT_TOKEN_FILE", str(token))
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.session_state["lang_en"] = lang == "en"
        for key, value in state.items():
            at.session_state[key] = value
        at.run()
        if page is not None:
            at.switch_page(f"pages/{page}.py")
            at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return make


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
