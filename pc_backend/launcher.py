"""`krx pc start | stop | status`: the PC processes (backend with its tunnel, cockpit) as one unit.

`start` spawns each process detached, writes a PID file `<run_dir>/<name>.json` holding the pid
*and the process start time* (psutil `create_time`), then waits for its health check. `stop`
stops exactly the processes whose pid and start time still match their PID file: gracefully
first (`terminate`), forced after a timeout (`kill`), then removes the PID files. A PID file
whose process is gone, or whose pid now belongs to another process (reboot, pid reuse), is
stale: it is removed and nothing is signalled. Nothing is ever found or killed by name or port.
Works on Windows, macOS and Linux (psutil; no POSIX-only signals). Spawning, the health wait
and the PID files are `krx_common.procs`.
"""

from __future__ import annotations

import os
import sys
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

from contracts.common import now_kst
from krx_common.atomic import durable_unlink
from krx_common.defaults import COCKPIT_PORT, PC_TOKEN_NAME
from krx_common.procs import (
    PidRecord,
    cockpit_env,
    log_tail,
    pid_path,
    process_of,
    spawn,
    wait_http,
)
from pc_backend.config import PcConfig

NAMES = ("backend", "cockpit")  # start order; stopped in reverse


class LaunchError(Exception):
    """A process did not come up; the message says which and shows its log tail."""


class Launcher:
    """`cockpit_command(port)` is the cockpit's command line (`pc_cockpit.server`, handed in by
    `krx pc start`); without it only the backend is started."""

    def __init__(self, config: PcConfig, *, env_file: Path | None = None,
                 cockpit_port: int = COCKPIT_PORT,
                 cockpit_command: Callable[[int], list[str]] | None = None,
                 say: Callable[[str], None] = print) -> None:
        self.config = config
        self.env_file = env_file
        self.cockpit_port = cockpit_port
        self.cockpit_command = cockpit_command
        self.run_dir = config.resolved_run_dir()
        self.say = say

    # -- records ---------------------------------------------------------------------------------
    def records(self) -> dict[str, PidRecord | None]:
        return {name: PidRecord.read(pid_path(self.run_dir, name)) for name in NAMES
                if pid_path(self.run_dir, name).exists()}

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str], url: str,
               health: str, timeout: float) -> PidRecord:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.run_dir / f"{name}.log"
        popen = spawn(cmd, env, log_path=log_path)
        try:
            create_time = psutil.Process(popen.pid).create_time()
        except psutil.NoSuchProcess:
            raise LaunchError(f"{name} exited at once:\n{log_tail(log_path)}") from None
        rec = PidRecord(name=name, pid=popen.pid, create_time=create_time, cmdline=cmd,
                        url=url, log=str(log_path), started_at=now_kst().isoformat())
        rec.write(pid_path(self.run_dir, name))  # before waiting: `stop` can always find it
        if not wait_http(health, popen, timeout):
            exited = popen.poll()
            self._stop_one(name, rec, timeout=5.0, quiet=True)  # never leave it half-started
            what = (f"exited with code {exited}" if exited is not None
                    else f"did not answer {health} within {timeout:g} s")
            raise LaunchError(f"{name} {what} (log {log_path}):\n{log_tail(log_path)}")
        return rec

    # -- verbs -----------------------------------------------------------------------------------
    def start(self, *, direct: str | None = None, cockpit: bool = True, browser: bool = True,
              timeout: float = 90.0) -> dict[str, PidRecord]:
        """Start what is not running yet; returns the running records. On a failure the
        processes started by this call are stopped again."""
        cfg = self.config
        running: dict[str, PidRecord] = {}
        for name, rec in self.records().items():
            if rec is not None and process_of(rec) is not None:
                running[name] = rec
            else:
                self._forget(name, rec)
        started: list[str] = []
        env = dict(os.environ)
        try:
            if "backend" not in running:
                cmd = [sys.executable, "-m", "krx_cli.main", "pc", "serve",
                       "--host", "127.0.0.1", "--port", str(cfg.port),
                       "--workspace", str(cfg.workspace)]
                if self.env_file is not None:
                    cmd += ["--env-file", str(self.env_file)]
                if direct is not None:
                    cmd += ["--direct", direct]
                url = f"http://127.0.0.1:{cfg.port}"
                running["backend"] = self._spawn("backend", cmd, env, url, f"{url}/health",
                                                 timeout)
                started.append("backend")
                self.say(f"backend: {url} (pid {running['backend'].pid})")
            if cockpit and "cockpit" not in running and self.cockpit_command is not None:
                url = f"http://127.0.0.1:{self.cockpit_port}"
                running["cockpit"] = self._spawn(
                    "cockpit", self.cockpit_command(self.cockpit_port),
                    cockpit_env(running["backend"].url, cfg.workspace / PC_TOKEN_NAME, env),
                    url, f"{url}/_stcore/health", timeout)
                started.append("cockpit")
                self.say(f"cockpit: {url} (pid {running['cockpit'].pid})")
        except BaseException:
            for name in reversed(started):
                self._stop_one(name, PidRecord.read(pid_path(self.run_dir, name)))
            raise
        if browser:
            target = running.get("cockpit") or running["backend"]
            webbrowser.open(target.url if target.name == "cockpit" else f"{target.url}/docs")
        return running

    def stop(self, *, timeout: float = 10.0) -> list[str]:
        """Stop the processes of the PID files (cockpit first); returns what was stopped."""
        stopped = []
        records = self.records()
        for name in reversed(NAMES):
            if name in records and self._stop_one(name, records[name], timeout=timeout):
                stopped.append(name)
        return stopped

    def _forget(self, name: str, rec: PidRecord | None) -> None:
        why = "unreadable" if rec is None else (
            f"pid {rec.pid} is gone or now another process (reboot or pid reuse)")
        self.say(f"{name}: stale PID file ({why}); removed, no process touched")
        durable_unlink(pid_path(self.run_dir, name))

    def _stop_one(self, name: str, rec: PidRecord | None, *, timeout: float = 10.0,
                  quiet: bool = False) -> bool:
        proc = process_of(rec) if rec is not None else None
        if proc is None:
            if quiet:
                durable_unlink(pid_path(self.run_dir, name))
            else:
                self._forget(name, rec)
            return False
        try:
            children = proc.children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        asked = (name == "backend" and _listens_on(proc, rec.url)  # type: ignore[union-attr]
                 and self._ask_shutdown(rec))  # type: ignore[arg-type]
        if not asked:
            proc.terminate()  # SIGTERM on POSIX; on Windows this is already forced
        try:
            proc.wait(timeout=timeout)
            how = "stopped (asked over its API)" if asked else "stopped"
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
            how = f"killed after {timeout:g} s"
        # Workers it started (e.g. a sweep's processes) die with it; none is left behind.
        _, alive = psutil.wait_procs(children, timeout=2)
        for child in alive:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        durable_unlink(pid_path(self.run_dir, name))
        if not quiet:
            self.say(f"{name}: {how} (pid {proc.pid})")
        return True

    def _ask_shutdown(self, rec: PidRecord) -> bool:
        """Ask the backend to stop itself (graceful on every OS); False if it did not agree."""
        try:
            token = (self.config.workspace / PC_TOKEN_NAME).read_text(encoding="utf-8").strip()
            r = httpx.post(f"{rec.url}/api/v1/shutdown", timeout=3.0, trust_env=False,
                           headers={"Authorization": f"Bearer {token}"})
            return r.status_code == 202
        except (OSError, httpx.HTTPError):
            return False

    def status(self) -> dict[str, dict[str, Any]]:
        """Per PID file: running or stale, health, and the backend's `/api/v1/status`."""
        out: dict[str, dict[str, Any]] = {}
        for name, rec in self.records().items():
            info: dict[str, Any] = {"pid_file": str(pid_path(self.run_dir, name))}
            proc = process_of(rec) if rec is not None else None
            info["running"] = proc is not None
            if rec is not None:
                info.update(pid=rec.pid, url=rec.url, log=rec.log)
            if proc is not None and rec is not None and name == "backend":
                info["pc"] = self._backend_status(rec.url)
            out[name] = info
        return out

    def _backend_status(self, url: str) -> dict[str, Any] | str:
        token_path = self.config.workspace / PC_TOKEN_NAME
        try:
            token = token_path.read_text(encoding="utf-8").strip()
            r = httpx.get(f"{url}/api/v1/status", headers={"Authorization": f"Bearer {token}"},
                          timeout=5.0, trust_env=False)
            return r.json() if r.status_code == 200 else f"HTTP {r.status_code}: {r.text[:200]}"
        except (OSError, httpx.HTTPError, ValueError) as exc:
            return f"no answer: {exc}"


def _listens_on(proc: psutil.Process, url: str) -> bool:
    """True when `proc` itself listens on `url`'s port: the token is only sent to our process."""
    try:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
                   for c in proc.net_connections(kind="tcp"))
    except (psutil.Error, ValueError, IndexError):
        return False

