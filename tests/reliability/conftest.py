"""Reliability tests reuse the real-server helpers of the OCI API tests (`oci_server.py`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "oci_backend"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from oci_server import REPO_DAILY, OciServer, new_token, start_server, stop_server  # noqa: E402


@pytest.fixture
def start_oci(tmp_path: Path) -> Iterator:
    """`start(data_dir=None, env=None)` → a real `krx oci serve` on a free loopback port;
    every server is stopped by PID at teardown."""
    started: list[OciServer] = []

    def start(data_dir: Path | None = None, env: dict[str, str] | None = None) -> OciServer:
        root = data_dir or tmp_path / f"data{len(started)}"
        root.mkdir(parents=True, exist_ok=True)
        server = start_server(root, tmp_path / f"server{len(started)}.log", token=new_token(),
                              data_spec=f"csv:{REPO_DAILY}", env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        stop_server(server)


@pytest.fixture(scope="module")
def shared_oci(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OciServer]:
    """One server for the tests of a module that leave its state as they found it."""
    tmp = tmp_path_factory.mktemp("oci")
    (tmp / "data").mkdir()
    server = start_server(tmp / "data", tmp / "server.log", token=new_token(),
                          data_spec=f"csv:{REPO_DAILY}")
    yield server
    stop_server(server)
