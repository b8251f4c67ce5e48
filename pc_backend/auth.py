"""Local guard of the PC backend, as pure ASGI middleware (default deny).

1. Host guard: a request whose `Host` is not 127.0.0.1 / localhost / [::1] (any port) is
   refused with 403, so a web page cannot drive the backend through DNS rebinding.
2. Bearer token: every path outside `OPEN_PATHS` needs `Authorization: Bearer <pc token>`
   (`<workspace>/pc_token`), compared in constant time (`krx_common.auth.bearer_matches`).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from krx_common.auth import bearer_matches

OPEN_PATHS = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


def host_name(host_header: bytes | None) -> str:
    """`b'localhost:8000'` → `localhost`; `b'[::1]:8000'` → `[::1]`."""
    if not host_header:
        return ""
    host = host_header.decode("latin-1").strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if ":" in host else host


async def _refuse(send: Send, status: int, code: str, message: str, field: str,
                  extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": code, "message": message, "field": field}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra_headers or []),
    ]})
    await send({"type": "http.response.body", "body": body})


class LocalGuard:
    def __init__(self, app: ASGIApp, token: str, allowed_hosts: frozenset[str] = LOOPBACK_NAMES,
                 open_paths: frozenset[str] = OPEN_PATHS) -> None:
        self.app = app
        self._token = token.encode("ascii")
        self._hosts = allowed_hosts
        self._open = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        host = host_name(next((v for k, v in headers if k == b"host"), None))
        if host not in self._hosts:
            await _refuse(send, 403, "FORBIDDEN_HOST",
                          f"Host {host or '(none)'!r} refused: the PC backend answers only "
                          "http://127.0.0.1 or http://localhost", "Host")
            return
        if scope["path"] in self._open:
            await self.app(scope, receive, send)
            return
        if bearer_matches(next((v for k, v in headers if k == b"authorization"), None),
                          self._token):
            await self.app(scope, receive, send)
            return
        await _refuse(send, 401, "UNAUTHORIZED",
                      "missing or wrong PC token: send 'Authorization: Bearer <token>' with the "
                      "token in <workspace>/pc_token", "Authorization",
                      [(b"www-authenticate", b'Bearer realm="krx-pc"')])
