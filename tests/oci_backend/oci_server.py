"""Helpers for the OCI API tests: a REAL uvicorn server (`krx oci serve`) in a subprocess.

Each server gets a free loopback port, its own temp data root and token, and writes its
combined stdout/stderr to a file the tests can search (e.g. for a leaked token). It is
stopped by its PID (terminate, wait, kill only if it does not exit), never by name or port.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from krx_common.procs import free_port, stop_all
from oci_backend.paths import DataPaths, data_paths

REPO = Path(__file__).resolve().parents[2]
REPO_DAILY = REPO / "data" / "krx" / "daily"


def new_token() -> str:
    return "t0k-" + secrets.token_urlsafe(32)


@dataclass
class OciServer:
    base_url: str
    token: str
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen

    @property
    def paths(self) -> DataPaths:
        return data_paths(self.data_dir)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, *, authed: bool = True, timeout: float = 120.0) -> httpx.Client:
        """A client for this server; with the bearer token unless `authed=False`."""
        return httpx.Client(base_url=self.base_url, headers=self.auth if authed else {},
                            timeout=timeout, trust_env=False)

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def server_env(token: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a test server: no inherited KRX_OCI_* / KRX_DATA_DIR / KRX_ID."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KRX_OCI_") and k not in ("KRX_DATA_DIR", "KRX_ID", "KRX_PW")}
    env["KRX_OCI_TICKET_PROCESSOR"] = "false"  # tests run the processor explicitly
    # the 09:30 watch depends on the real time of day: only its own tests turn it on
    env["KRX_OCI_MORNING_WATCH"] = "false"
    if token is not None:
        env["KRX_OCI_TOKEN"] = token
    env.update(extra or {})
    return env


def serve_command(port: int, data_dir: Path, data_spec: str) -> list[str]:
    return [sys.executable, "-m", "krx_cli.main", "oci", "serve", "--host", "127.0.0.1",
            "--port", str(port), "--data-dir", str(data_dir), "--data", data_spec]


def start_server(data_dir: Path, log_path: Path, *, token: str, data_spec: str,
                 env: dict[str, str] | None = None, token_in_env: bool = True,
                 timeout: float = 60.0) -> OciServer:
    """Start `krx oci serve` and return once `/health` answers 200."""
    port = free_port()
    proc = spawn_logged(serve_command(port, data_dir, data_spec),
                        server_env(token if token_in_env else None, env), log_path)
    server = OciServer(f"http://127.0.0.1:{port}", token, data_dir, log_path, proc)
    wait_healthy(proc, server.base_url, server.output, timeout=timeout, what="server")
    return server


def stop_server(server: OciServer) -> None:
    """Terminate by PID and wait; kill only if it ignores SIGTERM."""
    terminate(server.proc)


def spawn_logged(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """`cmd` from the repository root, stdout and stderr both into `log_path`."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(proc: subprocess.Popen, base_url: str, output: Callable[[], str], *,
                 timeout: float, what: str) -> None:
    """Return once `GET base_url/health` answers 200. RuntimeError with the process's output
    when it exits first, or (after stopping it) when it stays silent for `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{output()}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1.0, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.02)  # a refused connect costs ~1 ms; hundreds of starts wait on this
    terminate(proc)
    raise RuntimeError(f"{what} did not answer /health within {timeout}s:\n{output()}")


def terminate(proc: subprocess.Popen) -> None:
    """Terminate by PID and wait; kill only if it ignores SIGTERM."""
    stop_all([proc], timeout=20)


ServerFactory = Callable[..., OciServer]


def hash_tree(root: Path) -> dict[str, str]:
    """sha256 of every stored file under `root` (lock files are not stored data)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.endswith(".lock"):
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def error_of(response: httpx.Response) -> dict:
    """The standard error body; fails the test with the raw text when it is not one."""
    try:
        body = response.json()
    except json.JSONDecodeError:
        pytest.fail(f"not a JSON error body ({response.status_code}): {response.text[:500]}")
    assert {"error", "message", "field"} <= set(body), body
    return body


def wait_replanned(client: httpx.Client, revision: int, timeout: float = 60.0) -> dict:
    """The snapshot once the background re-plan of `revision` has landed (the summary
    carries that revision); fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        snap = client.get("/api/v1/sync/snapshot").json()
        summary = snap.get("summary")
        if summary and max(summary["portfolio_revision"], summary["settings_revision"]) >= revision:
            return snap
        if time.monotonic() > deadline:
            pytest.fail(f"no re-plan for revision {revision} within {timeout} s: {summary}")
        time.sleep(0.05)


def start_limited_server(tmp_path: Path, limit: int) -> OciServer:
    """`krx oci serve` in a child with RLIMIT_FSIZE = `limit` and SIGXFSZ ignored, so a write
    past the limit fails with EFBIG instead of killing the process."""
    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    port, token = free_port(), new_token()
    log_path = tmp_path / "limited.log"
    data = tmp_path / "data"
    data.mkdir()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(serve_command(port, data, f"csv:{REPO_DAILY}"), cwd=REPO,
                                env=server_env(token), stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=cap)  # noqa: PLW1509 (needed for the rlimit)
    server = OciServer(f"http://127.0.0.1:{port}", token, data, log_path, proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(server.base_url + "/health", timeout=1, trust_env=False).is_success:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(server.output())
