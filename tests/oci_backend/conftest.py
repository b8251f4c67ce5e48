"""Fixtures for the OCI API tests (the server helpers live in `oci_server.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from oci_server import (
    REPO_DAILY,
    OciServer,
    ServerFactory,
    new_token,
    start_server,
    stop_server,
)


@contextmanager
def _servers(tmp: Path) -> Iterator[ServerFactory]:
    started: list[OciServer] = []

    def start(*, env: dict[str, str] | None = None, data_spec: str | None = None,
              data_dir: Path | None = None, token_file: Path | None = None) -> OciServer:
        n = len(started)
        root = data_dir or tmp / f"data{n}"
        root.mkdir(parents=True, exist_ok=True)
        env = dict(env or {})
        if token_file is not None:
            env["KRX_OCI_TOKEN_FILE"] = str(token_file)
            token = token_file.read_text(encoding="utf-8").strip()
        else:
            token = new_token()
        server = start_server(root, tmp / f"server{n}.log", token=token,
                              data_spec=data_spec or f"csv:{REPO_DAILY}", env=env,
                              token_in_env=token_file is None)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            stop_server(server)


@pytest.fixture
def oci_server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """`start(env=, data_spec=csv:<repo data>, data_dir=, token_file=)` → OciServer; the token
    comes from KRX_OCI_TOKEN unless `token_file` is given. Every server is stopped at
    teardown."""
    with _servers(tmp_path) as start:
        yield start


@pytest.fixture
def oci_server(oci_server_factory: ServerFactory) -> OciServer:
    """A fresh server on real KRX data (csv provider over data/krx/daily), processor off."""
    return oci_server_factory()


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """As `oci_server_factory`, for servers shared by the tests of one module."""
    with _servers(tmp_path_factory.mktemp("oci")) as start:
        yield start
