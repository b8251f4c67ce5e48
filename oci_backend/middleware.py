"""Request body size limit as pure ASGI middleware.

A declared `Content-Length` over the limit is answered 413 before any byte of the body is
read; a body without one (chunked transfer) is counted as it streams in and cut off with 413
the moment it passes the limit — in both cases before anything parses it.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oci_backend.errors import BodyTooLarge, too_large_message


async def _send_json(send: Send, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": data})


class BodySizeLimit:
    """413 for any request whose body is larger than `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _send_json(send, 400, {"error": "BAD_REQUEST", "field": "Content-Length",
                                             "message": "Content-Length is not a number"})
                return
            if length > self.max_bytes:
                await _send_json(send, 413, {"error": "BODY_TOO_LARGE", "field": "body",
                                             "message": too_large_message(self.max_bytes),
                                             "limit": self.max_bytes})
                return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            # Reached only when the app let the error escape (FastAPI routes answer it
            # through the exception handlers); too late to answer once a response started.
            if started:
                raise
            await _send_json(send, 413, {"error": "BODY_TOO_LARGE", "field": "body",
                                         "message": too_large_message(self.max_bytes),
                                         "limit": self.max_bytes})
