"""Shared fixtures: the real KRX bars carried in the repository (`data/krx/`)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KRX_DATA = REPO / "data" / "krx"

# pykrx logs in to KRX at import when these are set; tests never talk to KRX.
for _var in ("KRX_ID", "KRX_PW"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def krx_data_dir() -> Path:
    """Directory of the real daily bars (`<code>.csv`); fails loudly when it is missing."""
    daily = KRX_DATA / "daily"
    if not daily.is_dir():
        pytest.fail(f"real KRX data not found at {daily}: the checkout is incomplete")
    return daily


@pytest.fixture(scope="session")
def krx_master_path() -> Path:
    return KRX_DATA / "tickers.csv"


class Receiver:
    """A loopback HTTP server that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        received = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def titles(self) -> list[str]:
        return [m["title"] for m in self.messages]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local apprise `json://` target that records what was sent."""
    r = Receiver()
    yield r
    r.close()
