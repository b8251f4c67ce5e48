"""Issue 16 items 1, 10, 11, 17: a launch that says "running" is running (each port checked,
its holder named, the answer verified to come from our process), every verb finds what start
started without flags, hints that exist, the OCI token checked at start, only this run's log
lines, and paths in pc.env expanded the Windows and the POSIX way."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from oci_server import OciServer, free_port, new_token  # noqa: I001
from pc_server import REPO, pc_env, write_token_file
from sshd import Sshd

from krx_common.procs import PidRecord, port_holder, process_of
from pc_backend.config import ENV_FILE_ENV, checkout_env_file, env_file_for, load_config


def _krx(*args: str, env: dict[str, str], cwd: Path = REPO,
         timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "krx_cli.main", "pc", *args], cwd=cwd,
                          env=pc_env(env), capture_output=True, text=True, timeout=timeout)


class _Answers200(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stranger() -> Iterator[int]:
    """Another program's server on a free port, answering 200 to every GET (as another
    cockpit or backend would answer its health check); here, in this test's process."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Answers200)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


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


# -- item 17: paths in pc.env ------------------------------------------------------------------
def test_pc_config_expands_userprofile_home_and_tilde(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("USERPROFILE", raising=False)  # Linux: %USERPROFILE% is the home
    monkeypatch.setenv("KRX_TEST_DIR", str(tmp_path / "elsewhere"))
    for key in [k for k in os.environ if k.startswith("KRX_PC_")]:
        monkeypatch.delenv(key)
    env = tmp_path / "pc.env"
    env.write_text("KRX_PC_WORKSPACE=%USERPROFILE%/.krx-alertor/workspace\n"
                   "KRX_PC_SSH_KEY=$HOME/.ssh/id_ed25519\n"
                   "KRX_PC_SSH_KNOWN_HOSTS=${KRX_TEST_DIR}/known_hosts\n"
                   "KRX_PC_OCI_TOKEN_FILE=~/.krx-alertor/oci_token\n", encoding="utf-8")
    cfg = load_config(env)
    assert cfg.workspace == home / ".krx-alertor" / "workspace"
    assert cfg.ssh_key == home / ".ssh" / "id_ed25519"
    assert cfg.ssh_known_hosts == tmp_path / "elsewhere" / "known_hosts"
    assert cfg.oci_token_file == home / ".krx-alertor" / "oci_token"
    # a variable that is not set is an error naming the field, not a literal directory
    env.write_text("KRX_PC_WORKSPACE=%KRX_NOT_SET_ANYWHERE%/ws\n", encoding="utf-8")
    r = _krx("status", "--env-file", str(env), env={"HOME": str(home)})
    assert r.returncode == 2
    assert "KRX_PC_WORKSPACE" in r.stderr and "%KRX_NOT_SET_ANYWHERE%" in r.stderr
    assert not (tmp_path / "%KRX_NOT_SET_ANYWHERE%").exists()


# -- item 10: the env file every verb reads ----------------------------------------------------
def test_pc_env_file_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flag, named = tmp_path / "flag.env", tmp_path / "named.env"
    monkeypatch.setenv(ENV_FILE_ENV, str(named))
    assert env_file_for(flag) == flag
    assert env_file_for(None) == named
    monkeypatch.setenv(ENV_FILE_ENV, "")
    assert env_file_for(None) is None  # set but empty: none
    monkeypatch.delenv(ENV_FILE_ENV)
    default = checkout_env_file()
    assert default == REPO / "pc.env"
    assert env_file_for(None) == (default if default.is_file() else None)


def _fake_checkout(tmp_path: Path) -> Path:
    """A checkout of this code at another place (its packages and scripts linked, its own
    .venv link and pc.env): what an operator's clone looks like to the verbs."""
    root = tmp_path / "checkout"
    root.mkdir()
    for item in REPO.iterdir():
        if item.name not in {".git", ".venv", "pc.env", "state", "reports"}:
            (root / item.name).symlink_to(item)
    (root / ".venv").symlink_to(Path(sys.executable).parents[1])
    return root


@pytest.mark.integration
def test_pc_verbs_find_what_start_sh_started_without_flags(
    tmp_path: Path, oci: OciServer, run_dir: Path,
) -> None:
    root = _fake_checkout(tmp_path)
    port, cport = free_port(), free_port()
    token = write_token_file(tmp_path / "oci_token", oci.token)
    (root / "pc.env").write_text(
        f"KRX_PC_PORT={port}\nKRX_PC_COCKPIT_PORT={cport}\nKRX_PC_WORKSPACE={tmp_path}/ws\n"
        f"KRX_PC_OCI_URL={oci.base_url}\nKRX_PC_OCI_TOKEN_FILE={token}\n", encoding="utf-8")
    env = {k: v for k, v in pc_env().items() if k not in (ENV_FILE_ENV, "PYTHONPATH")}
    r = subprocess.run(["bash", str(root / "scripts" / "start.sh"), "--no-browser"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"cockpit: http://127.0.0.1:{cport}" in r.stdout  # KRX_PC_COCKPIT_PORT from pc.env
    assert "stop with: krx pc stop\n" in r.stdout  # the hint names no flag: none is needed

    def verb(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "krx_cli.main", "pc", *args], cwd=root,
                              env=env, capture_output=True, text=True, timeout=240)

    st = verb("status")
    assert st.returncode == 0, st.stdout + st.stderr
    assert "backend: running" in st.stdout and "cockpit: running" in st.stdout
    pull = verb("pull")
    assert pull.returncode == 0, pull.stdout + pull.stderr
    assert "pulled revision" in pull.stdout
    stop = verb("stop")
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert "backend: stopped" in stop.stdout and "cockpit: stopped" in stop.stdout
    assert list(run_dir.glob("*.json")) == []


# -- item 1: a port that is taken -----------------------------------------------------------------
@pytest.mark.integration
@pytest.mark.parametrize("taken", ["backend", "cockpit"])
def test_pc_start_with_a_taken_port_fails_naming_port_and_holder(
    tmp_path: Path, oci: OciServer, run_dir: Path, stranger: int, taken: str,
) -> None:
    port = stranger if taken == "backend" else free_port()
    cport = stranger if taken == "cockpit" else free_port()
    env = {"KRX_PC_PORT": str(port), "KRX_PC_COCKPIT_PORT": str(cport),
           "KRX_PC_WORKSPACE": str(tmp_path / "ws"),
           "KRX_PC_OCI_TOKEN_FILE": str(write_token_file(tmp_path / "tok", oci.token))}
    r = _krx("start", "--direct", oci.base_url, "--no-browser", "--timeout", "60", env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "running" not in r.stdout
    assert f"port {stranger} on 127.0.0.1 is already in use by pid {os.getpid()}" in r.stderr
    key = "KRX_PC_PORT" if taken == "backend" else "KRX_PC_COCKPIT_PORT"
    assert key in r.stderr
    assert list(run_dir.glob("*.json")) == []  # the backend started first was stopped again


def test_port_holder_names_the_listening_process() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert port_holder(s.getsockname()[1]).startswith(f"pid {os.getpid()} (")


# -- item 11: hints that exist, the token at start, this run's log -------------------------------
def _tunnel_env(sshd: Sshd, oci: OciServer, tmp_path: Path, token: str) -> dict[str, str]:
    return {**sshd.env(), "KRX_PC_PORT": str(free_port()),
            "KRX_PC_WORKSPACE": str(tmp_path / "ws"),
            "KRX_PC_OCI_TOKEN_FILE": str(write_token_file(tmp_path / "tok", token)),
            "KRX_PC_REMOTE_PORT": oci.base_url.rsplit(":", 1)[1],
            "KRX_PC_TUNNEL_PORT": str(free_port()), "KRX_PC_PROBE_INTERVAL_S": "0.5"}


@pytest.mark.integration
def test_pc_start_sh_unknown_host_key_hint_flag_exists_and_works(
    tmp_path: Path, sshd: Sshd, oci: OciServer, run_dir: Path,
) -> None:
    env = _tunnel_env(sshd, oci, tmp_path, oci.token)
    env["KRX_PC_SSH_KNOWN_HOSTS"] = str(tmp_path / "known_hosts_empty")

    def start_sh(*flags: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(REPO / "scripts" / "start.sh"), "--no-browser",
                               "--no-cockpit", *flags], env=pc_env(env), capture_output=True,
                              text=True, timeout=240)

    r = start_sh()
    assert r.returncode == 1, r.stdout + r.stderr
    assert "tunnel to OCI is DOWN" in r.stderr and "not in" in r.stderr
    assert "--trust-on-first-use" in r.stderr
    assert list(run_dir.glob("*.json")) == []
    r = start_sh("--trust-on-first-use")  # the flag the hint names
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tunnel: UP" in r.stdout and "OCI token: accepted by OCI" in r.stdout
    assert f"[127.0.0.1]:{sshd.port}" in (tmp_path / "known_hosts_empty").read_text()
    assert _krx("stop", env=env).returncode == 0


@pytest.mark.integration
def test_pc_start_wrong_oci_token_through_the_tunnel_is_said_at_start(
    tmp_path: Path, sshd: Sshd, oci: OciServer, run_dir: Path,
) -> None:
    env = _tunnel_env(sshd, oci, tmp_path, new_token())  # not the OCI backend's token
    r = _krx("start", "--no-browser", "--no-cockpit", env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "running" not in r.stdout
    assert "OCI refused the OCI token from the file" in r.stderr
    assert "KRX_PC_OCI_TOKEN_FILE" in r.stderr and "OCI_TOKEN_REFUSED" not in r.stderr
    assert env["KRX_PC_OCI_TOKEN_FILE"] in r.stderr
    assert list(run_dir.glob("*.json")) == []


def test_pc_start_failure_shows_only_this_runs_log_lines(tmp_path: Path,
                                                         run_dir: Path) -> None:
    run_dir.mkdir(parents=True)
    old = "".join(f"OLD RUN LINE {i}\n" for i in range(13))
    (run_dir / "backend.log").write_text(old, encoding="utf-8")
    env = {"KRX_PC_PORT": str(free_port()), "KRX_PC_WORKSPACE": str(tmp_path / "ws")}
    r = _krx("start", "--direct", "http://127.0.0.1:9", "--no-browser", "--timeout", "30",
             env=env)
    assert r.returncode == 1
    assert "KRX_PC_OCI_TOKEN" in r.stderr  # this run's cause
    assert "OLD RUN LINE" not in r.stderr
    assert (run_dir / "backend.log.1").read_text(encoding="utf-8") == old  # kept, aside
