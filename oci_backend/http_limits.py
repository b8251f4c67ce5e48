"""A request-header size cap in the HTTP protocol itself, before any header reaches the app.

uvicorn's httptools protocol reads a request head of any size (a 200 MB Authorization header
was read in full, taking 39 s and 601 MB, and stalled `/health` meanwhile). This subclass
counts the bytes of a request head as they arrive and, once they pass the limit, answers
431 and closes the connection — before authentication, routing or anything else runs.
At most one read buffer (64 KiB) beyond the limit is ever held.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("krx.oci")

DEFAULT_MAX_HEADER_BYTES = 16 * 1024


def headers_too_large_response(limit: int) -> bytes:
    body = json.dumps({
        "error": "HEADERS_TOO_LARGE", "field": "headers", "limit": limit,
        "message": f"request line and headers larger than {limit} bytes; send less "
                   "(the limit is KRX_OCI_MAX_HEADER_BYTES)",
    }).encode()
    return (b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body)


class HeaderLimitedHttpTools(HttpToolsProtocol):
    """httptools protocol with a cap on the size of each request head."""

    max_header_bytes = DEFAULT_MAX_HEADER_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._raw_head = 0  # bytes received since the head began (an upper bound)
        self._parsed_head = 0  # request line + header bytes the parser has handed over
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._raw_head += len(data)
        super().data_received(data)
        # A head still incomplete after this chunk, or completed over the limit: refuse.
        if self._refused or (self._in_head and self._raw_head > self.max_header_bytes):
            self._refuse()

    def _refuse(self) -> None:
        self._refused = True
        if not self.transport.is_closing():
            log.warning("refused a request whose headers exceed %d bytes (431)",
                        self.max_header_bytes)
            self.transport.write(headers_too_large_response(self.max_header_bytes))
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self._parsed_head += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed_head += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._parsed_head > self.max_header_bytes:
            self._refused = True  # the app never sees this request
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._in_head = True
        self._raw_head = self._parsed_head = 0


def header_limited_protocol(max_header_bytes: int) -> type[HeaderLimitedHttpTools]:
    """The protocol class for `uvicorn.run(http=...)` with this limit."""
    return type("HeaderLimitedHttpTools", (HeaderLimitedHttpTools,),
                {"max_header_bytes": max_header_bytes})
