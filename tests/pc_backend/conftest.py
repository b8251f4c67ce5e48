"""Fixtures of the PC backend tests: real OCI backend + real PC backend on loopback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The OCI server helpers are shared with tests/oci_backend.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "oci_backend"))

from oci_server import (  # noqa: E402
    REPO_DAILY,
    OciServer,
    free_port,
    new_token,
    start_server,
    stop_server,
)
from pc_server import (  # noqa: E402
    NOW,
    OciFactory,
    PcFactory,
    PcServer,
    start_direct,
    start_pc,
    start_tunneled,
    stop_pc,
    write_token_file,
)
from sshd import Sshd, make_sshd, require_sshd  # noqa: E402


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    """A real OpenSSH sshd on 127.0.0.1 (own keys and config); skipped without sshd unless CI."""
    require_sshd()
    server = make_sshd(tmp_path / "sshd")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def oci_factory(tmp_path: Path) -> Iterator[OciFactory]:
    """`start(bars=REPO_DAILY, env=NOW)` → a fresh OCI backend on csv bars; stopped at teardown."""
    started: list[OciServer] = []

    def start(bars: Path = REPO_DAILY, env: dict[str, str] | None = None) -> OciServer:
        root = tmp_path / f"oci-data{len(started)}"
        root.mkdir()
        server = start_server(root, tmp_path / f"oci{len(started)}.log", token=new_token(),
                              data_spec=f"csv:{bars}", env=NOW if env is None else env)
        started.append(server)
        return server

    yield start
    for server in started:
        stop_server(server)


@pytest.fixture
def oci(oci_factory: OciFactory) -> OciServer:
    """A fresh OCI backend on the in-repo KRX bars, clock frozen, ticket processor on."""
    return oci_factory()


@pytest.fixture
def pc_factory(tmp_path: Path) -> Iterator[PcFactory]:
    """`start(oci, name="ws", env=None, via=None)` → a PC backend on `oci`, direct, or through
    the SSH tunnel of the `Sshd` given as `via` (returns once the tunnel is UP)."""
    started: list[PcServer] = []

    def start(oci: OciServer, name: str = "ws", env: dict[str, str] | None = None,
              via: Sshd | None = None) -> PcServer:
        log = tmp_path / f"pc-{name}-{len(started)}.log"
        if via is None:
            server = start_direct(oci, tmp_path / name, log, env)
        else:
            server = start_tunneled(oci, via.env(), tmp_path / name, log, env)
        started.append(server)
        return server

    yield start
    for server in started:
        stop_pc(server)


@pytest.fixture
def pc(oci: OciServer, pc_factory: PcFactory) -> PcServer:
    return pc_factory(oci)


@pytest.fixture
def pc_offline(tmp_path: Path) -> Iterator[PcServer]:
    """A PC backend whose OCI URL has nothing behind it (routes that never reach OCI)."""
    token = write_token_file(tmp_path / "offline.oci_token", new_token())
    server = start_pc(tmp_path / "ws-offline", tmp_path / "pc-offline.log",
                      args=["--direct", f"http://127.0.0.1:{free_port()}"],
                      env={"KRX_PC_OCI_TOKEN_FILE": str(token), "KRX_PC_DATA": f"csv:{REPO_DAILY}"})
    yield server
    stop_pc(server)
