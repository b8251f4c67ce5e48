"""HTTP limits both backends (OCI and PC) share: one implementation, two apps.

In the HTTP protocol itself, before any byte reaches the app (`LimitedHttpTools`, built by
`serve_protocol` for `uvicorn.run(http=...)`):
- a request-head size cap: once a request line + headers pass `max_header_bytes` the server
  answers 431 and closes (uvicorn's httptools protocol reads a head of any size: a 200 MB
  Authorization header was read in full, taking 39 s and 601 MB, and stalled `/health`);
- a request-head timeout: a connection whose head is not complete `head_timeout_s` after its
  first byte (or after it opened) is closed, with 408 when part of a head came; a request
  body that stops arriving for as long is cut off too. Idle, never-finished requests used to
  stay open for ever;
- a connection cap: past `max_connections` open connections, a new one evicts the oldest
  connection that is only waiting for a request head (never one whose request is running);
  when every connection is busy, the new one gets 503. With 1,100 idle connections and the
  default soft limit of 1024 fds, `/health` failed and the ticket processor hit EMFILE; the
  cap stays below the fd limit (`connection_cap`), and `raise_fd_limit` lifts the soft limit
  to the hard one at start-up (the OCI unit sets `LimitNOFILE=65536`).

As ASGI middleware, before FastAPI parses anything (`add_http_limits`):
- `UniqueHeaders`: two `Host` headers (400) or two `Authorization` headers (401) are refused:
  proxies and servers disagree on which one counts;
- `BodySizeLimit`: a declared `Content-Length` over the limit is answered 413 before the body
  is read; a chunked body is counted as it streams in and cut off at the limit;
- `StrictJsonBody`: `check_json_body` refuses what a lenient JSON reader accepts (another
  media type or charset, non-UTF-8, a BOM, duplicate keys, NaN/Infinity, numbers that
  overflow to Infinity, integers longer than Python's 4,300-digit conversion limit, nesting
  deeper than `MAX_JSON_DEPTH`) with a 4xx naming the field.

This module imports nothing of `oci_backend` or `pc_backend`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("krx.http")

DEFAULT_MAX_HEADER_BYTES = 16 * 1024
DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_HEAD_TIMEOUT_S = 10.0
DEFAULT_MAX_CONNECTIONS = 4096


class HttpLimitSettings(BaseModel):
    """The request limits of a server's settings (`KRX_OCI_*` and `KRX_PC_*` alike): both
    configs inherit these fields, so the bounds and defaults are written once."""

    max_body_bytes: Annotated[int, Field(ge=1024)] = DEFAULT_MAX_BODY_BYTES
    max_header_bytes: Annotated[int, Field(ge=1024, le=1024 * 1024)] = Field(
        default=DEFAULT_MAX_HEADER_BYTES,
        description="request line + headers; a larger head is answered 431 before the token "
                    "is checked")
    head_timeout_s: Annotated[float, Field(gt=0, le=300)] = Field(
        default=DEFAULT_HEAD_TIMEOUT_S,
        description="a request head (or body) not complete this long after it began is "
                    "closed (408)")
    max_connections: Annotated[int, Field(ge=16, le=1_000_000)] = Field(
        default=DEFAULT_MAX_CONNECTIONS,
        description="open connections at most (also kept below the fd limit); past it a new "
                    "one evicts the oldest idle connection")
# File descriptors kept free of connections: state files, the journal, logs, the SSH tunnel,
# the scheduler's and the ticket processor's files.
FD_RESERVE = 200
MIN_CONNECTIONS = 16
WANTED_FDS = 65536  # what the OCI unit sets (LimitNOFILE), asked for by `raise_fd_limit` too


# --- the protocol: head size, head timeout, connection cap -----------------------------------


@dataclass(frozen=True)
class ServeLimits:
    """The protocol-level limits of one server; `env_prefix` names its settings in messages
    (`KRX_OCI` → KRX_OCI_MAX_HEADER_BYTES)."""

    env_prefix: str
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    head_timeout_s: float = DEFAULT_HEAD_TIMEOUT_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS


def _raw_json_response(status: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    return (b"HTTP/1.1 " + status.encode() + b"\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(data)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + data)


def headers_too_large_response(limit: int, env_prefix: str = "KRX_OCI") -> bytes:
    return _raw_json_response("431 Request Header Fields Too Large", {
        "error": "HEADERS_TOO_LARGE", "field": "headers", "limit": limit,
        "message": f"request line and headers larger than {limit} bytes; send less "
                   f"(the limit is {env_prefix}_MAX_HEADER_BYTES)",
    })


def head_timeout_response(seconds: float, env_prefix: str) -> bytes:
    return _raw_json_response("408 Request Timeout", {
        "error": "REQUEST_TIMEOUT", "field": "headers",
        "message": f"the request was not complete within {seconds:g} s; send it at once "
                   f"(the limit is {env_prefix}_HEAD_TIMEOUT_S)",
    })


def too_many_connections_response(cap: int, env_prefix: str) -> bytes:
    return _raw_json_response("503 Service Unavailable", {
        "error": "TOO_MANY_CONNECTIONS", "field": None, "limit": cap,
        "message": f"{cap} connections are busy; try again in a moment "
                   f"(the cap is {env_prefix}_MAX_CONNECTIONS and the fd limit)",
    })


class LimitedHttpTools(HttpToolsProtocol):
    """httptools protocol with a head size cap, a head/body timeout and a connection cap.

    The class attributes are set per server by `serve_protocol`.
    """

    max_header_bytes = DEFAULT_MAX_HEADER_BYTES
    head_timeout_s = DEFAULT_HEAD_TIMEOUT_S
    max_connections = 0  # 0: no cap
    env_prefix = "KRX"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._raw_head = 0  # bytes received since the head began (an upper bound)
        self._parsed_head = 0  # request line + header bytes the parser has handed over
        self._refused = False
        self._opened = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._in_body = False
        self._head_begun = False  # part of a request head came (a timeout answers 408)

    # -- connection cap -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.head_timeout_s)
        cap = self.max_connections
        if cap and len(self.connections) > cap:
            idle = [c for c in self.connections
                    if c is not self and isinstance(c, LimitedHttpTools) and c._waiting()]
            if idle:
                victim = min(idle, key=lambda c: c._opened)
                victim._close_quietly()
            else:
                log.warning("refused a connection: %d connections are busy (503)", cap)
                self._refused = True
                self.transport.write(too_many_connections_response(cap, self.env_prefix))
                self.transport.close()

    def _waiting(self) -> bool:
        """Only waiting for a request head: no request of this connection is running."""
        running = self.cycle is not None and not self.cycle.response_complete
        return self._in_head and not running and not self.pipeline

    def _close_quietly(self) -> None:
        self._refused = True
        self._disarm()
        if not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # -- timers --------------------------------------------------------------------------------
    def _arm(self, seconds: float) -> None:
        self._disarm()
        if seconds > 0:
            self._timer = self.loop.call_later(seconds, self._on_timeout)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timeout(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        running = self.cycle is not None and not self.cycle.response_complete
        if self._in_head and running:
            self._arm(self.head_timeout_s)  # a pipelined head behind a running request: wait
            return
        if self._in_head and self._head_begun:
            self._refused = True
            self.transport.write(head_timeout_response(self.head_timeout_s, self.env_prefix))
        self._refused = True
        self.transport.close()  # a running app sees http.disconnect

    # -- head size -----------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._raw_head += len(data)
        elif self._in_body:
            self._arm(self.head_timeout_s)  # the body is still arriving
        super().data_received(data)
        # A head still incomplete after this chunk, or completed over the limit: refuse.
        if self._refused or (self._in_head and self._raw_head > self.max_header_bytes):
            self._refuse_large()

    def _refuse_large(self) -> None:
        self._refused = True
        self._disarm()
        if not self.transport.is_closing():
            log.warning("refused a request whose headers exceed %d bytes (431)",
                        self.max_header_bytes)
            self.transport.write(headers_too_large_response(self.max_header_bytes,
                                                            self.env_prefix))
            self.transport.close()

    def on_message_begin(self) -> None:
        # A request's head began (also a pipelined one); the first request's timer already
        # runs from the connection's opening.
        if self._timer is None:
            self._arm(self.head_timeout_s)
        self._head_begun = True
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._parsed_head += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed_head += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_begun = False
        self._in_body = True
        self._arm(self.head_timeout_s)  # for the body, re-armed by each chunk
        if self._parsed_head > self.max_header_bytes:
            self._refused = True  # the app never sees this request
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_body = False
        self._disarm()
        if self._refused:
            return
        super().on_message_complete()
        self._in_head = True
        self._raw_head = self._parsed_head = 0


def serve_protocol(limits: ServeLimits) -> type[LimitedHttpTools]:
    """The protocol class for `uvicorn.run(http=...)` with these limits; the connection cap
    is `connection_cap(limits.max_connections)` (below the process's fd limit)."""
    return type("LimitedHttpTools", (LimitedHttpTools,), {
        "max_header_bytes": limits.max_header_bytes,
        "head_timeout_s": limits.head_timeout_s,
        "max_connections": connection_cap(limits.max_connections),
        "env_prefix": limits.env_prefix,
    })


def fd_limits() -> tuple[int, int] | None:
    """(soft, hard) RLIMIT_NOFILE, None where there is none (Windows)."""
    try:
        import resource
    except ImportError:  # Windows: no RLIMIT_NOFILE
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return int(soft), int(hard)


def raise_fd_limit(wanted: int = WANTED_FDS) -> tuple[int, int] | None:
    """Lift the soft fd limit towards `wanted` (never above the hard limit); the new
    (soft, hard), None where there is no such limit."""
    limits = fd_limits()
    if limits is None:
        return None
    import resource

    soft, hard = limits
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the fd limit from %d to %d: %s", soft, target, exc)
    return fd_limits()


def connection_cap(configured: int) -> int:
    """`configured`, lowered to keep `FD_RESERVE` descriptors free under the soft fd limit."""
    limits = fd_limits()
    if limits is None or limits[0] < 0:
        return configured
    return max(MIN_CONNECTIONS, min(configured, limits[0] - FD_RESERVE))


# --- ASGI middleware: duplicate headers, body size, strict JSON ------------------------------


async def _send_json(send: Send, status: int, body: dict[str, Any],
                     extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"connection", b"close"),
        *(extra_headers or []),
    ]})
    await send({"type": "http.response.body", "body": data})


class UniqueHeaders:
    """Refuse two `Host` (400) or two `Authorization` (401) headers on every path."""

    def __init__(self, app: ASGIApp, realm: str) -> None:
        self.app = app
        self._challenge = f'Bearer realm="{realm}"'.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            names = [k for k, _ in scope["headers"] if k in (b"host", b"authorization")]
            if names.count(b"host") > 1:
                await _send_json(send, 400, {
                    "error": "DUPLICATE_HEADER", "field": "Host",
                    "message": "more than one Host header: send exactly one"})
                return
            if names.count(b"authorization") > 1:
                await _send_json(send, 401, {
                    "error": "UNAUTHORIZED", "field": "Authorization",
                    "message": "more than one Authorization header: send exactly one"},
                    [(b"www-authenticate", self._challenge)])
                return
        await self.app(scope, receive, send)


def body_too_large_message(limit: int, env_prefix: str) -> str:
    return (f"request body larger than {limit} bytes; send less "
            f"(the limit is {env_prefix}_MAX_BODY_BYTES)")


class BodyTooLarge(StarletteHTTPException):
    """The request body exceeds the configured limit (raised while the body streams in).

    An `HTTPException` subclass on purpose: FastAPI re-raises those from its body reader
    instead of turning them into a generic 400.
    """

    def __init__(self, limit: int, env_prefix: str = "KRX_OCI") -> None:
        super().__init__(status_code=413, detail=body_too_large_message(limit, env_prefix))
        self.limit = limit


class BodySizeLimit:
    """413 for any request whose body is larger than `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int, env_prefix: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.env_prefix = env_prefix

    def _too_large(self) -> dict[str, Any]:
        return {"error": "BODY_TOO_LARGE", "field": "body", "limit": self.max_bytes,
                "message": body_too_large_message(self.max_bytes, self.env_prefix)}

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
                await _send_json(send, 413, self._too_large())
                return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes, self.env_prefix)
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
            await _send_json(send, 413, self._too_large())


# JSON bodies nest a few levels (push → settings → strategy → value); far deeper is an attack.
MAX_JSON_DEPTH = 32
# Python refuses to convert longer digit strings (ValueError, was a 500): refused here first.
MAX_INT_DIGITS = 4300
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyRejected(ValueError):
    def __init__(self, status: int, code: str, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.status, self.code, self.field = status, code, field


class _LongInt:
    """An integer literal too long to convert; found and named by `_find_long_int`."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


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


def _integer(text: str) -> int | _LongInt:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INT_DIGITS:
        return _LongInt(digits)
    return int(text)


def _no_constants(text: str) -> object:
    raise BodyRejected(422, "INVALID_NUMBER",
                       f"{text} is not JSON: send a finite number")


def _walk(value: object, limit: int) -> tuple[int, tuple[str, _LongInt] | None]:
    """(deepest nesting, the first over-long integer with its dotted path)."""
    stack: list[tuple[object, int, str]] = [(value, 1, "")]
    deepest = 0
    while stack:
        item, d, path = stack.pop()
        if isinstance(item, _LongInt):
            return deepest, (path or "body", item)
        if isinstance(item, dict | list):
            deepest = max(deepest, d)
            if deepest > limit:
                return deepest, None
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            stack.extend((c, d + 1, f"{path}.{k}" if path else str(k))
                         for k, c in reversed(list(pairs)))
    return deepest, None


def check_json_body(body: bytes, content_type: str | None) -> None:
    """Refuse what a lenient JSON reader would accept: other media types or charsets, bytes
    that are not UTF-8 (UTF-16 was auto-detected before), a BOM, duplicate keys, NaN/Infinity
    and numbers that overflow to Infinity, integers of more than `MAX_INT_DIGITS` digits
    (named by their field), nesting deeper than `MAX_JSON_DEPTH`."""
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
                           parse_int=_integer, parse_constant=_no_constants)
    except RecursionError:
        raise BodyRejected(422, "TOO_DEEP",
                           f"the body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise BodyRejected(422, "INVALID_JSON",
                           f"the body is not valid JSON ({exc.msg} at character {exc.pos})"
                           ) from None
    deepest, long_int = _walk(value, MAX_JSON_DEPTH)
    if deepest > MAX_JSON_DEPTH:
        raise BodyRejected(422, "TOO_DEEP",
                           f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    if long_int is not None:
        where, number = long_int
        raise BodyRejected(422, "INVALID_NUMBER",
                           f"{where}: an integer of {number.digits} digits; numbers have at "
                           f"most {MAX_INT_DIGITS} digits", field=where)


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


def add_body_limits(app: Any, *, max_body_bytes: int, env_prefix: str) -> None:
    """Add the body limit and the strict JSON check to a Starlette/FastAPI `app`, to run
    after whatever middleware is added later (authentication): size first, then JSON."""
    app.add_middleware(StrictJsonBody)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes, env_prefix=env_prefix)


def add_header_checks(app: Any, *, realm: str) -> None:
    """Add `UniqueHeaders`; call it last so it runs first (before authentication)."""
    app.add_middleware(UniqueHeaders, realm=realm)
