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


# JSON bodies nest a few levels (push → settings → strategy → value); far deeper is an attack.
MAX_JSON_DEPTH = 32
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyRejected(ValueError):
    def __init__(self, status: int, code: str, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.status, self.code, self.field = status, code, field


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise BodyRejected(422, "DUPLICATE_KEY",
                               f"duplicate key {key!r} in a JSON object: send each key once",
                               field=key)
        out[key] = value
    return out


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise BodyRejected(422, "INVALID_NUMBER",
                           f"number {text[:40]} is out of range (it would read as Infinity)")
    return value


def _no_constants(text: str) -> object:
    raise BodyRejected(422, "INVALID_NUMBER",
                       f"{text} is not JSON: send a finite number")


def _depth(value: object, limit: int) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, d = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, d)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, d + 1) for c in children)
    return deepest


def check_json_body(body: bytes, content_type: str | None) -> None:
    """Refuse what a lenient JSON reader would accept: other media types or charsets, bytes
    that are not UTF-8 (UTF-16 was auto-detected before), a BOM, duplicate keys, NaN/Infinity
    and numbers that overflow to Infinity, nesting deeper than `MAX_JSON_DEPTH`."""
    if not body:
        return
    media, _, params = (content_type or "").partition(";")
    if media.strip().lower() != "application/json":
        raise BodyRejected(415, "UNSUPPORTED_MEDIA_TYPE",
                           f"Content-Type {content_type or '(none)'!r}: send application/json",
                           field="Content-Type")
    # Parameters other than charset (`; foo=bar`) are allowed and ignored (RFC 9110 §8.3.1).
    charset = "utf-8"
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    if charset not in ("utf-8", "utf8"):
        raise BodyRejected(415, "UNSUPPORTED_MEDIA_TYPE",
                           f"charset {charset!r}: send UTF-8 JSON", field="Content-Type")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyRejected(422, "INVALID_ENCODING",
                           f"the body is not UTF-8 (byte 0x{body[exc.start]:02x} at offset "
                           f"{exc.start}); send UTF-8 JSON") from None
    if text.startswith("\ufeff"):
        raise BodyRejected(422, "INVALID_ENCODING", "the body starts with a BOM; send UTF-8 "
                                                    "JSON without one")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_finite,
                           parse_constant=_no_constants)
    except RecursionError:
        raise BodyRejected(422, "TOO_DEEP",
                           f"the body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise BodyRejected(422, "INVALID_JSON",
                           f"the body is not valid JSON ({exc.msg} at character {exc.pos})"
                           ) from None
    if _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise BodyRejected(422, "TOO_DEEP",
                           f"the body nests deeper than {MAX_JSON_DEPTH} levels")


class StrictJsonBody:
    """Checks request bodies with `check_json_body` before FastAPI parses them (after the
    token and the size limit): the refused input gets a precise 4xx naming what is wrong."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # disconnected: let the app see it
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = next((v.decode("latin-1") for k, v in scope["headers"]
                             if k == b"content-type"), None)
        try:
            check_json_body(body, content_type)
        except BodyRejected as exc:
            await _send_json(send, exc.status, {"error": exc.code, "message": str(exc),
                                                "field": exc.field})
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
