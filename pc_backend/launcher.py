"""`krx pc start | stop | status`: the PC processes (backend with its tunnel, cockpit) as one unit.

`start` spawns each process detached, writes a PID file `<run_dir>/<name>.json` holding the pid
*and the process start time* (psutil `create_time`), then waits for its health check. `stop`
stops exactly the processes whose pid and start time still match their PID file: gracefully
first (`terminate`), forced after a timeout (`kill`), then removes the PID files. A PID file
whose process is gone, or whose pid now belongs to another process (reboot, pid reuse), is
stale: it is removed and nothing is signalled. Nothing is ever found or killed by name or port.
Works on Windows, macOS and Linux (psutil; no POSIX-only signals).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from contracts.common import now_kst
from krx_common.atomic import atomic_write_text, durable_unlink
from pc_backend.config import PcConfig

CREATE_TIME_TOLERANCE_S = 0.05
NAMES = ("backend", "cockpit")  # start order; stopped in reverse


class LaunchError(Exception):
    """A process did not come up; the message says which and shows its log tail."""


@dataclass
class PidRecord:
    name: str
    pid: int
    create_time: float
    cmdline: list[str]
    url: str
    log: str
    started_at: str

    @classmethod
    def read(cls, path: Path) -> PidRecord | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(**raw)
        except (OSError, ValueError, TypeError):
            return None

    def write(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.__dict__, indent=2) + "\n")


def pid_path(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.json"


def process_of(rec: PidRecord) -> psutil.Process | None:
    """The live process `rec` describes, or None when it is gone or the pid was reused."""
    try:
        proc = psutil.Process(rec.pid)
        if abs(proc.create_time() - rec.create_time) > CREATE_TIME_TOLERANCE_S:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _detached() -> dict[str, Any]:
    if os.name == "nt":
        flags = (subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
                 | subprocess.CREATE_NO_WINDOW)  # type: ignore[attr-defined]
        return {"creationflags": flags}
    return {"start_new_session": True}


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_http(url: str, proc: psutil.Process | subprocess.Popen, timeout: float) -> bool:
    """True once `url` answers 200; False when the process died or `timeout` passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = proc.poll() is None if isinstance(proc, subprocess.Popen) else proc.is_running()
        if not alive:
            return False
        try:
            if httpx.get(url, timeout=1.0, trust_env=False).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


class Launcher:
    def __init__(self, config: PcConfig, *, env_file: Path | None = None,
                 cockpit_port: int = 8501, say: Callable[[str], None] = print) -> None:
        self.config = config
        self.env_file = env_file
        self.cockpit_port = cockpit_port
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
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, **_detached())
        try:
            create_time = psutil.Process(popen.pid).create_time()
        except psutil.NoSuchProcess:
            raise LaunchError(f"{name} exited at once:\n{_log_tail(log_path)}") from None
        rec = PidRecord(name=name, pid=popen.pid, create_time=create_time, cmdline=cmd,
                        url=url, log=str(log_path), started_at=now_kst().isoformat())
        rec.write(pid_path(self.run_dir, name))  # before waiting: `stop` can always find it
        if not wait_http(health, popen, timeout):
            exited = popen.poll()
            self._stop_one(name, rec, timeout=5.0, quiet=True)  # never leave it half-started
            what = (f"exited with code {exited}" if exited is not None
                    else f"did not answer {health} within {timeout:g} s")
            raise LaunchError(f"{name} {what} (log {log_path}):\n{_log_tail(log_path)}")
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
            if cockpit and "cockpit" not in running and _cockpit_available():
                from pc_cockpit.server import cockpit_command, cockpit_env

                url = f"http://127.0.0.1:{self.cockpit_port}"
                running["cockpit"] = self._spawn(
                    "cockpit", cockpit_command(self.cockpit_port),
                    cockpit_env(running["backend"].url, cfg.workspace / "pc_token", env),
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
            token = (self.config.workspace / "pc_token").read_text(encoding="utf-8").strip()
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
        token_path = self.config.workspace / "pc_token"
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


def _cockpit_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("pc_cockpit.server") is not None
