"""Helpers for the PC backend tests: a REAL `krx pc serve` subprocess on a free loopback port,
in front of a REAL OCI backend (`tests/oci_backend/oci_server.py`)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "oci_backend"))

from oci_server import OciServer, free_port, spawn_logged, terminate, wait_healthy  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

# Tuesday 2025-12-30 10:00 KST: the cycle plans 2025-12-29, the real data's last session.
# The in-process ticket processor runs every 0.5 s, so a DRY_RUN ticket fills on its own.
NOW = {"KRX_OCI_NOW": "2025-12-30T10:00:00+09:00", "KRX_OCI_TICKET_PROCESSOR": "true",
       "KRX_OCI_TICKET_INTERVAL_S": "0.5"}


OciFactory = Callable[..., OciServer]


@dataclass
class PcServer:
    base_url: str
    workspace: Path
    log_path: Path
    proc: subprocess.Popen

    @property
    def token(self) -> str:
        return (self.workspace / "pc_token").read_text(encoding="utf-8").strip()

    def client(self, *, authed: bool = True, timeout: float = 120.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if authed else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout,
                            trust_env=False)

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


PcFactory = Callable[..., PcServer]


def pc_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a test PC backend: no inherited KRX_PC_* settings, no env file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRX_PC_", "KRX_OCI_"))}
    env["KRX_PC_ENV_FILE"] = ""  # never the pc.env of this checkout (a developer's own)
    env.update(extra or {})
    return env


def write_token_file(path: Path, token: str) -> Path:
    path.write_text(token + "\n", encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def start_pc(workspace: Path, log_path: Path, *, args: list[str], env: dict[str, str],
             timeout: float = 60.0) -> PcServer:
    """Start `krx pc serve ARGS` and return once `/health` answers 200."""
    port = free_port()
    cmd = [sys.executable, "-m", "krx_cli.main", "pc", "serve", "--port", str(port),
           "--workspace", str(workspace), *args]
    proc = spawn_logged(cmd, pc_env(env), log_path)
    server = PcServer(f"http://127.0.0.1:{port}", workspace, log_path, proc)
    wait_healthy(proc, server.base_url, server.output, timeout=timeout, what="PC backend")
    return server


def stop_pc(server: PcServer) -> None:
    terminate(server.proc)


def start_direct(oci: OciServer, workspace: Path, log_path: Path,
                 env: dict[str, str] | None = None) -> PcServer:
    token_file = write_token_file(workspace.parent / f"{workspace.name}.oci_token", oci.token)
    return start_pc(workspace, log_path, args=["--direct", oci.base_url],
                    env={"KRX_PC_OCI_TOKEN_FILE": str(token_file), **(env or {})})


def start_tunneled(oci: OciServer, sshd_env: dict[str, str], workspace: Path, log_path: Path,
                   env: dict[str, str] | None = None, timeout: float = 20.0) -> PcServer:
    """A PC backend reaching `oci` through the SSH tunnel of an sshd (its `env()`); returns
    once the tunnel is UP."""
    token_file = write_token_file(workspace.parent / f"{workspace.name}.oci_token", oci.token)
    server = start_pc(workspace, log_path, args=[], env={
        **sshd_env, "KRX_PC_OCI_TOKEN_FILE": str(token_file),
        "KRX_PC_REMOTE_PORT": oci.base_url.rsplit(":", 1)[1],
        "KRX_PC_TUNNEL_PORT": str(free_port()), "KRX_PC_PROBE_INTERVAL_S": "0.5", **(env or {})})
    with server.client() as c:
        deadline = time.monotonic() + timeout
        while (state := c.get("/api/v1/status").json()["tunnel"]["state"]) != "UP":
            if time.monotonic() > deadline:
                stop_pc(server)
                raise RuntimeError(f"tunnel not UP within {timeout}s ({state}):\n"
                                   f"{server.output()}")
            time.sleep(0.1)
    return server


def hash_files(root: Path) -> dict[str, str]:
    """sha256 of every workspace file (the lock file is not data)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}
