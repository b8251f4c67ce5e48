"""A REAL OpenSSH sshd on 127.0.0.1 for the tunnel tests: its own config, host key, client key
and authorized_keys in a temp dir. Started and stopped by PID (and its session children, which
this test started), never by name or port."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from krx_common.procs import free_port

SSHD = "/usr/sbin/sshd"


def require_sshd() -> None:
    """Skip without sshd/ssh-keygen locally; fail in CI (env CI set)."""
    if not os.path.exists(SSHD) or shutil.which("ssh-keygen") is None:
        msg = ("OpenSSH sshd and ssh-keygen are needed for the tunnel tests "
               "(apt install openssh-server openssh-client)")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True, capture_output=True)
    return path


@dataclass
class Sshd:
    root: Path
    port: int
    host_key: Path
    client_key: Path
    known_hosts: Path
    config: Path
    user: str
    proc: subprocess.Popen | None = None
    log_path: Path = field(default=Path("/dev/null"))

    def start(self, timeout: float = 10.0) -> None:
        try:  # sshd's privilege-separation directory
            Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        except PermissionError:
            if not Path("/run/sshd").is_dir():
                msg = "sshd needs /run/sshd: create it once (sudo mkdir -p /run/sshd)"
                if os.environ.get("CI"):
                    pytest.fail(msg)
                pytest.skip(msg)
        self.log_path = self.root / f"sshd-{time.monotonic_ns()}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)],
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log_path.read_text(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.settimeout(2)
                    if s.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("sshd did not answer in time")

    def kill(self) -> None:
        """SIGKILL the listener and its session processes (children this test started)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        self.proc.kill()
        for child in children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        self.proc.wait(timeout=10)
        psutil.wait_procs(children, timeout=5)

    def signal_all(self, sig: int) -> None:
        """Send `sig` (SIGSTOP/SIGCONT) to the listener and its session processes."""
        assert self.proc is not None
        procs = [psutil.Process(self.proc.pid)]
        procs += procs[0].children(recursive=True)
        for p in procs:
            try:
                p.send_signal(sig)
            except psutil.NoSuchProcess:
                pass

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.signal_all(signal.SIGCONT)
        self.kill()

    def logins(self) -> int:
        """SSH logins accepted so far, over every start (needs `log_level="INFO"`)."""
        return sum(p.read_text(encoding="utf-8", errors="replace").count("Accepted publickey")
                   for p in self.root.glob("sshd-*.log"))

    def env(self) -> dict[str, str]:
        """KRX_PC_SSH_* for a PC backend that tunnels through this sshd."""
        return {"KRX_PC_SSH_HOST": "127.0.0.1", "KRX_PC_SSH_PORT": str(self.port),
                "KRX_PC_SSH_USER": self.user, "KRX_PC_SSH_KEY": str(self.client_key),
                "KRX_PC_SSH_KNOWN_HOSTS": str(self.known_hosts)}


def make_sshd(root: Path, log_level: str = "ERROR") -> Sshd:
    """An sshd in `root`; `log_level="INFO"` logs every login ("Accepted publickey"), which
    `Sshd.logins()` counts."""
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    host_key = keygen(root / "ssh_host_ed25519_key")
    client_key = keygen(root / "id_ed25519")
    auth = root / "authorized_keys"
    auth.write_text((root / "id_ed25519.pub").read_text(encoding="utf-8"), encoding="utf-8")
    os.chmod(auth, 0o600)
    port = free_port()
    known = root / "known_hosts"
    pub = (root / "ssh_host_ed25519_key.pub").read_text(encoding="utf-8").split()
    known.write_text(f"[127.0.0.1]:{port} {pub[0]} {pub[1]}\n", encoding="utf-8")
    config = root / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
        f"AuthorizedKeysFile {auth}", f"PidFile {root / 'sshd.pid'}", "StrictModes no",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes", "PermitRootLogin prohibit-password", "UsePAM no",
        "AllowTcpForwarding yes", "X11Forwarding no", "PermitTTY no", f"LogLevel {log_level}",
        "ClientAliveInterval 0", "MaxStartups 100",
    ]) + "\n", encoding="utf-8")
    return Sshd(root=root, port=port, host_key=host_key, client_key=client_key,
                known_hosts=known, config=config, user=psutil.Process().username())
