"""`krx pc start | stop | status`: the PC processes (backend with its tunnel, cockpit) as one unit.

`start` first checks that each process's port is free (else it names the port and the program
holding it), spawns each process detached, writes a PID file `<run_dir>/<name>.json` holding the
pid *and the process start time* (psutil `create_time`), then waits for its health check *and*
checks that the answer came from the process it started. After that, `check_oci` waits for the
tunnel and asks OCI an authenticated question through the backend, so a wrong OCI token or a
host key that is not known is said at start, not at the first PULL. Each log is rotated at
start (`<name>.log.1` keeps the previous run), so a failure shows only this run's lines. `stop`
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
from krx_common.defaults import PC_TOKEN_NAME
from krx_common.procs import (
    PidRecord,
    cockpit_env,
    log_tail,
    pid_path,
    port_holder,
    port_in_use,
    process_of,
    rotate_log,
    spawn,
    wait_http,
)
from pc_backend.config import PcConfig

NAMES = ("backend", "cockpit")  # start order; stopped in reverse
PORT_SETTING = {"backend": "KRX_PC_PORT", "cockpit": "KRX_PC_COCKPIT_PORT"}


class LaunchError(Exception):
    """A process did not come up; the message says which and shows its log tail."""


class Launcher:
    """`cockpit_command(port)` is the cockpit's command line (`pc_cockpit.server`, handed in by
    `krx pc start`); without it only the backend is started."""

    def __init__(self, config: PcConfig, *, env_file: Path | None = None,
                 cockpit_command: Callable[[int], list[str]] | None = None,
                 say: Callable[[str], None] = print) -> None:
        self.config = config
        self.env_file = env_file
        self.cockpit_port = config.cockpit_port
        self.cockpit_command = cockpit_command
        self.run_dir = config.resolved_run_dir()
        self.say = say

    # -- records ---------------------------------------------------------------------------------
    def records(self) -> dict[str, PidRecord | None]:
        return {name: PidRecord.read(pid_path(self.run_dir, name)) for name in NAMES
                if pid_path(self.run_dir, name).exists()}

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str], port: int,
               health_path: str, timeout: float) -> PidRecord:
        url = f"http://127.0.0.1:{port}"
        if port_in_use(port):
            raise LaunchError(
                f"{name} cannot start: port {port} on 127.0.0.1 is already in use by "
                f"{port_holder(port)}. Stop that program, or set {PORT_SETTING[name]} in pc.env "
                "to a free port.")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.run_dir / f"{name}.log"
        since = rotate_log(log_path)

        def tail() -> str:  # this run's lines only
            return log_tail(log_path, since=since)

        popen = spawn(cmd, env, log_path=log_path)
        try:
            create_time = psutil.Process(popen.pid).create_time()
        except psutil.NoSuchProcess:
            raise LaunchError(f"{name} exited at once:\n{tail()}") from None
        rec = PidRecord(name=name, pid=popen.pid, create_time=create_time, cmdline=cmd,
                        url=url, log=str(log_path), started_at=now_kst().isoformat())
        rec.write(pid_path(self.run_dir, name))  # before waiting: `stop` can always find it
        health = f"{url}{health_path}"
        if not wait_http(health, popen, timeout):
            exited = popen.poll()
            self._stop_one(name, rec, timeout=5.0, quiet=True)  # never leave it half-started
            what = (f"exited with code {exited}" if exited is not None
                    else f"did not answer {health} within {timeout:g} s")
            holder = (f"; port {port} is held by {port_holder(port)}" if port_in_use(port)
                      else "")
            raise LaunchError(f"{name} {what}{holder} (log {log_path}):\n{tail()}")
        proc = process_of(rec)
        if proc is None or not _listens_on(proc, url, children=True):
            # Someone else answered (they took the port after our check): not our process.
            self._stop_one(name, rec, timeout=5.0, quiet=True)
            raise LaunchError(
                f"{name}: port {port} answered, but not from the process started here; it is "
                f"held by {port_holder(port)}. Stop that program, or set {PORT_SETTING[name]} "
                f"in pc.env to a free port (log {log_path}):\n{tail()}")
        return rec

    # -- verbs -----------------------------------------------------------------------------------
    def start(self, *, direct: str | None = None, cockpit: bool = True, browser: bool = True,
              timeout: float = 90.0, trust_on_first_use: bool = False,
              check_oci: bool = True) -> dict[str, PidRecord]:
        """Start what is not running yet, then (`check_oci`) check the way to OCI; returns the
        running records. On a failure the processes started by this call are stopped again."""
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
                if trust_on_first_use:
                    cmd += ["--trust-on-first-use"]
                started.append("backend")
                running["backend"] = self._spawn("backend", cmd, env, cfg.port, "/health",
                                                 timeout)
                self.say(f"backend: {running['backend'].url} (pid {running['backend'].pid})")
            if cockpit and "cockpit" not in running and self.cockpit_command is not None:
                started.append("cockpit")
                running["cockpit"] = self._spawn(
                    "cockpit", self.cockpit_command(self.cockpit_port),
                    cockpit_env(running["backend"].url, cfg.workspace / PC_TOKEN_NAME, env),
                    self.cockpit_port, "/_stcore/health", timeout)
                self.say(f"cockpit: {running['cockpit'].url} (pid {running['cockpit'].pid})")
            if check_oci:
                self.check_oci(running["backend"].url)
        except BaseException:
            self.stop_started(started)
            raise
        if browser:
            target = running.get("cockpit") or running["backend"]
            webbrowser.open(target.url if target.name == "cockpit" else f"{target.url}/docs")
        return running

    def check_oci(self, url: str, wait_s: float = 15.0) -> None:
        """Wait until the tunnel is UP, DIRECT or DOWN, then ask OCI an authenticated question
        through the backend (`GET /api/v1/emergency-stop`, read-only). `LaunchError`, said in
        words, when OCI cannot be used until the operator acts: a DOWN tunnel (unknown or
        mismatched host key) or an OCI token that OCI refuses. OCI merely unreachable is not
        an error: the tunnel keeps trying and the cockpit says so."""
        import time

        deadline = time.monotonic() + wait_s
        tunnel: dict[str, Any] = {}
        while time.monotonic() < deadline:
            pc = self._backend_status(url)
            if isinstance(pc, dict):
                tunnel = pc["tunnel"]
                if tunnel["state"] in ("UP", "DIRECT", "DOWN"):
                    break
            time.sleep(0.25)
        state = tunnel.get("state", "unknown")
        why = f" — {tunnel['last_error']}" if tunnel.get("last_error") else ""
        if state == "DOWN":
            raise LaunchError(f"the tunnel to OCI is DOWN{why}")
        if state not in ("UP", "DIRECT"):
            self.say(f"tunnel: {state}{why} (still trying; see krx pc status)")
            self.say("OCI token: not checked yet (OCI not reachable)")
            return
        self.say(f"tunnel: {state}")
        code, body = self._api_get(url, "/api/v1/emergency-stop")
        if code == 200:
            self.say("OCI token: accepted by OCI")
        elif code == 502 and isinstance(body, dict) and body.get("error") == "OCI_TOKEN_REFUSED":
            origin = (f"the file {self.config.oci_token_file} (KRX_PC_OCI_TOKEN_FILE)"
                      if self.config.oci_token_file is not None else "KRX_PC_OCI_TOKEN")
            raise LaunchError(
                f"OCI refused the OCI token from {origin}: it is not the token of the OCI "
                "backend. Put the VM's token (KRX_OCI_TOKEN, or the file KRX_OCI_TOKEN_FILE "
                "names on the VM) there, then start again.")
        else:
            what = body.get("message") if isinstance(body, dict) else body
            self.say(f"OCI token: not checked yet (OCI answered {code}: {what})")

    def _api_get(self, url: str, path: str) -> tuple[int, Any]:
        try:
            token = (self.config.workspace / PC_TOKEN_NAME).read_text(encoding="utf-8").strip()
            r = httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {token}"},
                          timeout=30.0, trust_env=False)
        except (OSError, httpx.HTTPError) as exc:
            return 0, f"no answer: {exc}"
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, r.text[:200]

    def stop_started(self, started: list[str]) -> None:
        """Stop what one `start` call started (after a failure), quietly when already gone."""
        for name in reversed(started):
            path = pid_path(self.run_dir, name)
            if path.exists():
                self._stop_one(name, PidRecord.read(path), quiet=True)

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
        code, body = self._api_get(url, "/api/v1/status")
        if code == 200 and isinstance(body, dict):
            return body
        return body if code == 0 else f"HTTP {code}: {str(body)[:200]}"


def _listens_on(proc: psutil.Process, url: str, *, children: bool = False) -> bool:
    """True when `proc` itself (or, with `children`, a process it started) listens on `url`'s
    port: the token is only sent to our process, and "running" only said of it."""
    try:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        procs = [proc, *(proc.children(recursive=True) if children else [])]
        return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
                   for p in procs for c in p.net_connections(kind="tcp"))
    except (psutil.Error, ValueError, IndexError):
        return False

