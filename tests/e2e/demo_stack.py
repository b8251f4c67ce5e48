"""`krx demo` as a test fixture: the real command in a subprocess (OCI backend, PC backend,
cockpit), its URLs read from what it prints, stopped with SIGINT (the operator's Ctrl-C) by
its PID; the test then checks the three children are gone."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from krx_common.procs import free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
OUTPUT = REPO / "test-output" / "cockpit"


def require_chromium() -> None:
    """Skip without Debian's chromium locally; fail in CI (env CI set)."""
    if not os.path.exists(CHROMIUM):
        msg = "Debian chromium (/usr/bin/chromium) is needed for the browser tests"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


@dataclass
class DemoStack:
    proc: subprocess.Popen
    root: Path
    log: Path
    url: str = ""
    oci_url: str = ""
    pc_url: str = ""
    children: list[psutil.Process] = field(default_factory=list)

    @property
    def pc_token(self) -> str:
        return (self.root / "pc_workspace" / "pc_token").read_text(encoding="utf-8").strip()

    @property
    def oci_token(self) -> str:
        return (self.root / "state" / "demo_token").read_text(encoding="utf-8").strip()

    def pc(self, timeout: float = 300.0) -> httpx.Client:
        return httpx.Client(base_url=self.pc_url, timeout=timeout, trust_env=False,
                            headers={"Authorization": f"Bearer {self.pc_token}"})

    def oci(self, timeout: float = 120.0) -> httpx.Client:
        return httpx.Client(base_url=self.oci_url, timeout=timeout, trust_env=False,
                            headers={"Authorization": f"Bearer {self.oci_token}"})

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def demo_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KRX_OCI_", "KRX_PC_", "KRX_COCKPIT_"))
           and k not in ("KRX_DATA_DIR", "KRX_ID", "KRX_PW")}
    env.update(extra or {})
    return env


def start_demo(root: Path, *args: str, env: dict[str, str] | None = None,
               oci_port: int | None = None, timeout: float = 180.0) -> DemoStack:
    """`krx demo --no-browser` on free ports; returns once it printed the cockpit URL."""
    log = root.parent / f"{root.name}-demo.log"
    cmd = [sys.executable, "-m", "krx_cli.main", "demo", "--no-browser",
           "--data-dir", str(root), "--oci-port", str(oci_port or free_port()),
           "--pc-port", str(free_port()), "--cockpit-port", str(free_port()), *args]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=demo_env(env), stdout=out,
                                stderr=subprocess.STDOUT)
    stack = DemoStack(proc, root, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = stack.output()
        m = re.search(r"cockpit: (http://127\.0\.0\.1:\d+)", text)
        if m:
            stack.url = m.group(1)
            stack.oci_url = re.search(r"OCI backend\s+(http://\S+)", text).group(1)  # type: ignore[union-attr]
            stack.pc_url = re.search(r"PC backend\s+(http://\S+)", text).group(1)  # type: ignore[union-attr]
            stack.children = psutil.Process(proc.pid).children()
            return stack
        if proc.poll() is not None:
            raise RuntimeError(f"krx demo exited with {proc.returncode}:\n{text}")
        time.sleep(0.1)
    stop_demo(stack)
    raise RuntimeError(f"krx demo did not print its URL within {timeout}s:\n{stack.output()}")


def stop_demo(stack: DemoStack, timeout: float = 60.0) -> int:
    """Ctrl-C (SIGINT to krx demo's PID); its exit code. Kills by PID only if it hangs."""
    if stack.proc.poll() is None:
        stack.proc.send_signal(signal.SIGINT)
        try:
            stack.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stack.proc.kill()
            stack.proc.wait(timeout=10)
            for child in stack.children:
                if child.is_running():
                    child.kill()
    return int(stack.proc.returncode)


def wait_until(check, timeout: float, what: str, interval: float = 0.5):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def screenshot_dir(lang: str) -> Path:
    path = OUTPUT / lang
    path.mkdir(parents=True, exist_ok=True)
    return path


def clear_output() -> None:
    if OUTPUT.exists():
        shutil.rmtree(OUTPUT)
