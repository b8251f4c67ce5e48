"""The KIS fake as a real process for tests: `krx fake-kis` on a free loopback port, stopped
by its PID (never by name or port). Reusable by any test package:

    with running_fake_kis(data_dir, domain="paper", page_size=3) as kis:
        kis.base_url                      # http://127.0.0.1:PORT
        kis.control("session", date="2025-01-02", phase="open")
        kis.counters()["token_issuances"]
        kis.restart()                     # same port, same --state file
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from krx_common.procs import free_port, log_tail, spawn, stop_all, wait_http

REPO = Path(__file__).resolve().parents[2]
KRX_DAILY = REPO / "data" / "krx" / "daily"


class FakeKisHandle:
    def __init__(self, cmd: list[str], port: int, log_path: Path) -> None:
        self.cmd, self.port, self.log_path = cmd, port, log_path
        self.base_url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = spawn(self.cmd, log_path=self.log_path)
        if not wait_http(f"{self.base_url}/__fake__/health", self.proc, 30.0):
            self.stop()
            raise RuntimeError(f"krx fake-kis did not start:\n{log_tail(self.log_path)}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_all([self.proc])
            self.proc = None

    def kill(self) -> None:
        """SIGKILL by PID (a crash of the fake itself)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def control(self, route: str, **body: Any) -> Any:
        r = httpx.post(f"{self.base_url}/__fake__/{route}", json=body, timeout=10)
        r.raise_for_status()
        return r.json()

    def state(self) -> Any:
        return httpx.get(f"{self.base_url}/__fake__/state", timeout=10).json()

    def counters(self) -> Any:
        return httpx.get(f"{self.base_url}/__fake__/counters", timeout=10).json()


@contextmanager
def running_fake_kis(data_dir: Path | str = KRX_DAILY, *, tmp_dir: Path, domain: str = "paper",
                     session_date: str | None = None, phase: str = "open",
                     cash: float | None = None, cano: str = "50000000",
                     acnt_prdt_cd: str = "01", slippage_bps: float | None = None,
                     partial_fraction: float | None = None, page_size: int = 15,
                     fill_mode: str = "limit",
                     rate_limit: int | None = None, state_file: Path | None = None,
                     holdings: dict[str, tuple[int, float]] | None = None,
                     ) -> Iterator[FakeKisHandle]:
    """A started fake; stopped by PID when the block ends (also on error)."""
    port = free_port()
    cmd = [sys.executable, "-m", "krx_cli.main", "fake-kis", "--port", str(port),
           "--data", f"csv:{data_dir}", "--domain", domain, "--phase", phase,
           "--cano", cano, "--acnt-prdt-cd", acnt_prdt_cd, "--page-size", str(page_size),
           "--fill-mode", fill_mode]
    for flag, value in (("--session-date", session_date), ("--cash", cash),
                        ("--slippage-bps", slippage_bps),
                        ("--partial-fraction", partial_fraction),
                        ("--rate-limit", rate_limit), ("--state", state_file)):
        if value is not None:
            cmd += [flag, str(value)]
    for ticker, (qty, avg) in (holdings or {}).items():
        cmd += ["--holding", f"{ticker}:{qty}:{avg}"]
    handle = FakeKisHandle(cmd, port, tmp_dir / f"fake-kis-{port}.log")
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()
