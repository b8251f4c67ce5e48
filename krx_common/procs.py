"""Process supervision for `krx demo`, `krx cockpit` and `krx pc start`: spawn a process (its
output into a log file), wait until it answers its health URL, pick a free port, PID files that
hold the start time, stop by PID (terminate, then kill), and the parent watchdog.

Nothing is ever found or stopped by name or port: a process is known by its PID, and a PID file
also by the process's start time (psutil `create_time`), so a reused PID is never signalled.
Works on Windows, macOS and Linux (psutil; no POSIX-only signals except where guarded).

The parent watchdog: a child started with `watch_parent=True` runs as
`python -m krx_common.procs --watch-parent PID MODULE ARGS`, a thread that terminates the child
once its parent is gone (the parent was killed outright and could not stop it); on Linux the
kernel also sends the child SIGTERM at once (`prctl(PR_SET_PDEATHSIG)`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias

from krx_common.defaults import COCKPIT_TOKEN_FILE_ENV, COCKPIT_URL_ENV

if TYPE_CHECKING:
    import psutil

# httpx, psutil and pydantic are imported where they are used: `krx` imports every verb's
# module to build its parser, and `krx demo` / `krx cockpit` import this one.
Proc: TypeAlias = "subprocess.Popen[bytes] | psutil.Process"

HEALTH_POLL_S = 0.05


# -- ports -----------------------------------------------------------------------------------------
def free_port(preferred: int = 0) -> int:
    """`preferred` when it is free on 127.0.0.1, else (or for 0) any free port."""
    if preferred:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something listens on `host:port` (a server started now could not bind it)."""
    with socket.socket() as s:
        if os.name == "posix":  # as uvicorn and streamlit bind: TIME_WAIT is not "in use"
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return False
        except OSError:
            return True


def port_holder(port: int) -> str:
    """Who listens on TCP `port`: "pid N (cmdline)" when this user may see it. psutil reads
    /proc/net/tcp + /proc/*/fd on Linux and the TCP table on Windows; `ss -ltnp` (Linux),
    `netstat -ano` (Windows) or `lsof` (macOS) are asked when psutil cannot tell."""
    import psutil

    pid: int | None = None
    try:
        pid = next((c.pid for c in psutil.net_connections(kind="tcp")
                    if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
                    and c.pid), None)
    except (psutil.Error, OSError):
        pass
    if pid is None:
        pid = _listener_pid_from_tools(port)
    if pid is None:
        return "another program (its process is not visible to this user)"
    try:
        proc = psutil.Process(pid)
        what = " ".join(proc.cmdline()[:4]) or proc.name()
    except psutil.Error:
        what = "?"
    return f"pid {pid} ({what[:120]})"


def _listener_pid_from_tools(port: int) -> int | None:
    import re
    import shutil

    if os.name == "nt":
        cmd, pattern = ["netstat", "-ano", "-p", "TCP"], rf"[:.]{port}\s+\S+\s+LISTENING\s+(\d+)"
    elif sys.platform.startswith("linux"):
        cmd, pattern = ["ss", "-ltnpH", f"sport = :{port}"], r"pid=(\d+)"
    else:
        cmd, pattern = ["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-t"], r"^(\d+)"
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(pattern, out, re.MULTILINE)
    return int(m.group(1)) if m else None


# -- health ----------------------------------------------------------------------------------------
def is_alive(proc: Proc) -> bool:
    if isinstance(proc, subprocess.Popen):
        return proc.poll() is None
    return proc.is_running()


def wait_healthy(checks: Sequence[tuple[Proc, str]], timeout: float,
                 interval: float = HEALTH_POLL_S) -> int | None:
    """None once every process answers 200 on its URL; else the index of the first check whose
    process died, or (after `timeout` s) of the first that has not answered yet."""
    import httpx

    deadline = time.monotonic() + timeout
    pending = list(range(len(checks)))
    with httpx.Client(timeout=1.0, trust_env=False) as http:
        while pending:
            for i in list(pending):
                proc, url = checks[i]
                if not is_alive(proc):
                    return i
                try:
                    if http.get(url).status_code == 200:
                        pending.remove(i)
                except httpx.TransportError:
                    pass
            if pending and time.monotonic() > deadline:
                return pending[0]
            if pending:
                time.sleep(interval)
    return None


def wait_http(url: str, proc: Proc, timeout: float) -> bool:
    """True once `url` answers 200; False when the process died or `timeout` passed."""
    return wait_healthy([(proc, url)], timeout) is None


# -- spawn and stop --------------------------------------------------------------------------------
def detached() -> dict[str, Any]:
    """Popen arguments for a process of its own (new session / process group): the terminal's
    Ctrl-C reaches only the supervisor, which stops its children itself."""
    if os.name == "nt":
        flags = (subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
                 | subprocess.CREATE_NO_WINDOW)  # type: ignore[attr-defined]
        return {"creationflags": flags}
    return {"start_new_session": True}


def spawn(cmd: list[str], env: dict[str, str] | None = None, *, log_path: Path | None = None,
          own_session: bool = True, watch_parent: bool = False) -> subprocess.Popen[bytes]:
    """Start `cmd`; stdout and stderr appended to `log_path` (else inherited), stdin closed.
    `own_session`: in a session of its own (see `detached`). `watch_parent`: it ends itself
    when this process dies (a `python -m MODULE` command; see the module docstring)."""
    log: IO[bytes] | None = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")  # noqa: SIM115 (the child keeps its own copy)
    kwargs: dict[str, Any] = detached() if own_session else {}
    if watch_parent:
        cmd = watched(cmd)
        kwargs["preexec_fn"] = die_with_parent()
    try:
        return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL if log else None,
                                stdout=log, stderr=subprocess.STDOUT if log else None, **kwargs)
    finally:
        if log is not None:
            log.close()


def stop_all(procs: Sequence[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """Terminate each process (in the given order), wait, kill what is left — by PID only."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def rotate_log(path: Path) -> int:
    """Keep the previous run's log as `<name>.1`, so a failure shows only this run's lines.
    Returns where this run's lines start: 0, or the old size when the log could not be moved
    (Windows: another program has it open), for `log_tail(since=...)`."""
    try:
        os.replace(path, path.with_name(path.name + ".1"))
    except FileNotFoundError:
        pass
    except OSError:
        return path.stat().st_size
    return 0


def log_tail(path: Path, lines: int = 15, *, since: int = 0) -> str:
    """The last `lines` lines of the log, from byte `since` on."""
    try:
        with open(path, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# -- PID files -------------------------------------------------------------------------------------
CREATE_TIME_TOLERANCE_S = 0.05


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
        from krx_common.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(self.__dict__, indent=2) + "\n")


def pid_path(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.json"


def process_of(rec: PidRecord) -> psutil.Process | None:
    """The live process `rec` describes, or None when it is gone or the pid was reused."""
    import psutil

    try:
        proc = psutil.Process(rec.pid)
        if abs(proc.create_time() - rec.create_time) > CREATE_TIME_TOLERANCE_S:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


# -- the cockpit's environment ---------------------------------------------------------------------
def cockpit_env(pc_url: str | None = None, token_file: Path | None = None,
                base: dict[str, str] | None = None) -> dict[str, str]:
    """The cockpit's environment: where the PC backend is and where its token lives."""
    env = dict(os.environ if base is None else base)
    if pc_url:
        env[COCKPIT_URL_ENV] = pc_url
    if token_file is not None:
        env[COCKPIT_TOKEN_FILE_ENV] = str(token_file)
    env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    return env


# -- the parent watchdog ---------------------------------------------------------------------------
WATCH_FLAG = "--watch-parent"
WATCH_INTERVAL_S = 0.5
WATCH_GRACE_S = 10.0  # after SIGTERM, how long a child may take before it is ended hard
PR_SET_PDEATHSIG = 1


def watched(cmd: list[str], parent: int | None = None) -> list[str]:
    """`cmd` (`python -m MODULE ARGS`) run under the parent watchdog of this module."""
    if len(cmd) < 3 or cmd[1] != "-m":
        raise ValueError(f"not a `python -m MODULE` command: {cmd[:3]}")
    pid = os.getpid() if parent is None else parent
    return [cmd[0], "-m", "krx_common.procs", WATCH_FLAG, str(pid), *cmd[2:]]


def _parent_alive(pid: int, created: float | None) -> bool:
    import psutil

    if os.name == "posix" and os.getppid() != pid:
        return False  # re-parented: the parent is gone
    try:
        return created is None or psutil.Process(pid).create_time() == created
    except psutil.Error:
        return False


def _watch(pid: int, created: float | None) -> None:
    while _parent_alive(pid, created):
        time.sleep(WATCH_INTERVAL_S)
    # As on Ctrl-C: the server shuts down cleanly; ended hard if it does not in time.
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(WATCH_GRACE_S)
    os._exit(1)


def watch_parent(argv: list[str]) -> int:
    """`--watch-parent PID MODULE ARGS...`: start the parent watchdog thread, then run MODULE as
    `__main__` with ARGS in this process (same PID, so the parent still stops it by PID)."""
    import runpy
    import threading

    import psutil

    pid, module, rest = int(argv[0]), argv[1], argv[2:]
    try:
        created: float | None = psutil.Process(pid).create_time()
    except psutil.Error:
        return 1  # the parent died before this child got going
    threading.Thread(target=_watch, args=(pid, created), name="watch-parent",
                     daemon=True).start()
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


def die_with_parent() -> Callable[[], None] | None:
    """Linux: a `preexec_fn` asking the kernel to SIGTERM the child when its parent dies (the
    watchdog is the portable fallback). None elsewhere, or if libc cannot be loaded."""
    if not sys.platform.startswith("linux") or os.environ.get("KRX_DEMO_NO_PDEATHSIG"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl  # loaded here, not after the fork
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == WATCH_FLAG:
        sys.exit(watch_parent(sys.argv[2:]))
    sys.exit(f"usage: python -m krx_common.procs {WATCH_FLAG} PID MODULE [ARGS...]")
