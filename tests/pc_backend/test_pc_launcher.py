"""`krx pc start | stop | status` as real processes (backend + cockpit), PID files with start
times, strangers never touched; the .bat/.sh shims."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from oci_server import OciServer, free_port  # noqa: I001
from pc_server import REPO, pc_env, write_token_file

from pc_backend.launcher import PidRecord, process_of

SCRIPTS = REPO / "scripts"


def _krx(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "krx_cli.main", "pc", *args], cwd=REPO,
                          env=pc_env(env), capture_output=True, text=True, timeout=timeout)


def _stranger(port: int) -> subprocess.Popen:
    """An unrelated process listening on 127.0.0.1:`port`."""
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1, trust_env=False)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the stranger did not listen")


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    """The launcher's run dir; whatever its PID files still name (verified) is killed after."""
    run = tmp_path / "ws" / "run"
    yield run
    for f in run.glob("*.json"):
        rec = PidRecord.read(f)
        proc = process_of(rec) if rec else None
        if proc is not None:
            proc.kill()


@pytest.fixture
def stranger_port() -> Iterator[tuple[subprocess.Popen, int]]:
    port = free_port()
    proc = _stranger(port)
    yield proc, port
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.integration
def test_launcher_start_stop_with_cockpit_and_a_stranger_on_our_port(
    tmp_path: Path, oci: OciServer, run_dir: Path,
    stranger_port: tuple[subprocess.Popen, int],
) -> None:
    stranger, sport = stranger_port
    port, cport = free_port(), free_port()
    env = {"KRX_PC_PORT": str(port), "KRX_PC_WORKSPACE": str(tmp_path / "ws"),
           "KRX_PC_TUNNEL_PORT": str(sport),  # a stranger listens on our configured port
           "KRX_PC_OCI_TOKEN_FILE": str(write_token_file(tmp_path / "tok", oci.token))}
    r = _krx("start", "--direct", oci.base_url, "--no-browser", "--cockpit-port", str(cport),
             env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tunnel: DIRECT" in r.stdout
    procs = {}
    for name in ("backend", "cockpit"):
        rec = PidRecord.read(run_dir / f"{name}.json")
        assert rec is not None, name
        proc = process_of(rec)
        assert proc is not None and proc.is_running()
        assert rec.create_time == pytest.approx(proc.create_time(), abs=0.05)
        procs[name] = proc
    assert httpx.get(f"http://127.0.0.1:{port}/health", trust_env=False).status_code == 200
    assert httpx.get(f"http://127.0.0.1:{cport}/_stcore/health",
                     trust_env=False).status_code == 200
    st = _krx("status", env=env)
    assert st.returncode == 0, st.stdout + st.stderr
    assert "backend: running" in st.stdout and "tunnel: DIRECT" in st.stdout
    # start again: nothing new is started
    again = _krx("start", "--direct", oci.base_url, "--no-browser", "--cockpit-port",
                 str(cport), env=env)
    assert again.returncode == 0
    assert PidRecord.read(run_dir / "backend.json").pid == procs["backend"].pid  # type: ignore[union-attr]

    r = _krx("stop", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "backend: stopped (asked over its API)" in r.stdout  # graceful on every OS
    assert "cockpit: stopped" in r.stdout
    assert list(run_dir.glob("*.json")) == []
    for proc in procs.values():
        assert not proc.is_running()
    assert stranger.poll() is None
    assert httpx.get(f"http://127.0.0.1:{sport}/", trust_env=False).status_code == 200


def test_launcher_stop_with_stale_pid_files_is_safe(
    tmp_path: Path, run_dir: Path, stranger_port: tuple[subprocess.Popen, int],
) -> None:
    stranger, sport = stranger_port
    run_dir.mkdir(parents=True)
    real = psutil.Process(stranger.pid)
    # pid reused: the stranger now has the pid the file names, but it started at another time
    PidRecord(name="backend", pid=stranger.pid, create_time=real.create_time() - 3600,
              cmdline=["krx", "pc", "serve"], url=f"http://127.0.0.1:{sport}", log="x",
              started_at="2025-01-01T00:00:00+09:00").write(run_dir / "backend.json")
    # after a reboot: the pid does not exist at all
    gone = next(p for p in range(4_000_000, 4_100_000) if not psutil.pid_exists(p))
    PidRecord(name="cockpit", pid=gone, create_time=1.0, cmdline=["streamlit"], url="u",
              log="x", started_at="2025-01-01T00:00:00+09:00").write(run_dir / "cockpit.json")
    (run_dir / "garbage.json").write_text("{", encoding="utf-8")  # not ours: ignored
    env = {"KRX_PC_WORKSPACE": str(tmp_path / "ws")}
    st = _krx("status", "--json", env=env)
    assert st.returncode == 1
    assert {k: v["running"] for k, v in json.loads(st.stdout).items()} == {
        "backend": False, "cockpit": False}
    r = _krx("stop", "--timeout", "2", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("stale PID file") == 2 and "nothing was running" in r.stdout
    assert not (run_dir / "backend.json").exists() and not (run_dir / "cockpit.json").exists()
    assert stranger.poll() is None and real.is_running()
    assert httpx.get(f"http://127.0.0.1:{sport}/", trust_env=False).status_code == 200


_LABEL_USE = re.compile(r"(?i)\b(?:goto|call)\s+:?([A-Za-z_][\w.-]*)")
_LABEL_DEF = re.compile(r"(?m)^:([A-Za-z_][\w.-]*)\s*$")


@pytest.mark.parametrize("name", ["start", "stop", "connect_oci", "_pc_common"])
def test_scripts_bat_crlf_chcp_venv_and_labels(name: str) -> None:
    raw = (SCRIPTS / f"{name}.bat").read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n") > 5, "every line ends with CRLF"
    text = raw.decode("utf-8")
    used = {m.lower() for m in _LABEL_USE.findall(text)} - {"eof"}
    defined = {m.lower() for m in _LABEL_DEF.findall(text.replace("\r\n", "\n"))}
    assert used <= defined, used - defined
    if name == "_pc_common":
        assert "chcp 65001" in text and ".venv\\Scripts\\python.exe" in text
        assert "python.org" in text and "docs\\pc-install.md" in text
        assert "krx_cli.main pc %KRXA_VERB%" in text and used
        return
    verb = {"start": "start", "stop": "stop", "connect_oci": "tunnel"}[name]
    assert f'set "KRXA_VERB={verb}"' in text
    assert 'call "%~dp0_pc_common.bat" %*' in text
    assert "endlocal & exit /b %errorlevel%" in text  # the launcher's exit code, unchanged


def _bat_lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r\n", "\n").splitlines()
            if line.strip() and not line.strip().lower().startswith("rem ")]


def test_scripts_bat_exit_code_is_the_launchers_and_nothing_says_running() -> None:
    """Static (no cmd.exe here): start.bat reports success only through the launcher's exit
    code (0 only after every health check), never by an `echo` of its own."""
    lines = _bat_lines((SCRIPTS / "_pc_common.bat").read_text(encoding="utf-8"))
    run = next(i for i, line in enumerate(lines) if "-m krx_cli.main pc" in line)
    assert lines[run + 1] == 'set "RC=%errorlevel%"'
    assert lines[run + 2] == 'if "%RC%"=="0" exit /b 0'
    assert "exit /b %RC%" in lines[run + 3:lines.index(":novenv")]
    assert not any("running" in line.lower() for line in lines if line.startswith("echo"))


def test_scripts_bat_python_check_runs_python_not_just_where() -> None:
    """`where python` also finds the Microsoft Store alias: python is run first (version
    check), and the WindowsApps alias gets its own advice."""
    lines = _bat_lines((SCRIPTS / "_pc_common.bat").read_text(encoding="utf-8"))
    novenv = lines[lines.index(":novenv"):]
    check = next(i for i, line in enumerate(novenv) if line.startswith("python -c"))
    assert "sys.version_info >= (3, 11)" in novenv[check]
    where = next(i for i, line in enumerate(novenv) if line.startswith("where python"))
    assert check < where and 'findstr /i /l /c:"WindowsApps"' in novenv[where]
    assert novenv[where + 1] == "if not errorlevel 1 goto :storealias"
    alias = "\n".join(novenv[novenv.index(":storealias"):novenv.index(":nopython")])
    assert "Microsoft Store alias" in alias and "App execution aliases" in alias


@pytest.mark.parametrize("name", ["start", "stop", "connect_oci"])
def test_scripts_sh_syntax_and_missing_venv_message(tmp_path: Path, name: str) -> None:
    script = SCRIPTS / f"{name}.sh"
    assert os.access(script, os.X_OK)
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    # a checkout without .venv: a clear message, exit 1, nothing started
    (tmp_path / "scripts").mkdir()
    shutil.copy(script, tmp_path / "scripts" / script.name)
    shutil.copy(SCRIPTS / "_pc_common.sh", tmp_path / "scripts")  # the helper it sources
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    r = subprocess.run(["bash", str(tmp_path / "scripts" / script.name)], capture_output=True,
                       text=True, env=env, timeout=30)
    assert r.returncode == 1
    assert "virtual environment" in r.stderr and ".venv" in r.stderr


def test_scripts_sh_run_the_launcher_from_the_venv(tmp_path: Path) -> None:
    env = {**pc_env(), "KRX_PC_WORKSPACE": str(tmp_path / "ws")}
    r = subprocess.run(["bash", str(SCRIPTS / "stop.sh")], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "nothing was running" in r.stdout


def test_launcher_start_that_fails_says_why_and_leaves_nothing(tmp_path: Path,
                                                               run_dir: Path) -> None:
    env = {"KRX_PC_PORT": str(free_port()), "KRX_PC_WORKSPACE": str(tmp_path / "ws")}
    # no OCI token anywhere: the backend refuses to start
    r = _krx("start", "--direct", "http://127.0.0.1:9", "--no-browser", "--timeout", "30",
             env=env)
    assert r.returncode == 1
    assert "backend exited with code 2" in r.stderr and "KRX_PC_OCI_TOKEN" in r.stderr
    assert list(run_dir.glob("*.json")) == []
