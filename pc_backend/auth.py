"""Local guard of the PC backend, as pure ASGI middleware (default deny).

1. Host guard: a request whose `Host` is not 127.0.0.1 / localhost / [::1] (any port) is
   refused with 403, so a web page cannot drive the backend through DNS rebinding.
2. No token in the URL: a request whose path or query string holds one of the tokens the PC
   holds (its own, OCI's) is refused with 400 before routing, so it is never passed on to
   OCI (whose access log would keep it); the PC's own log masks it (`krx_common.logmask`).
3. Bearer token: every path outside `OPEN_PATHS` needs `Authorization: Bearer <pc token>`
   (`<workspace>/pc_token`), compared in constant time (`krx_common.auth.bearer_matches`).
"""

from __future__ import annotations

import json
from urllib.parse import unquote, unquote_plus

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


def url_holds_secret(scope: Scope, secrets: tuple[str, ...]) -> bool:
    """Does the request's path or query string hold one of `secrets` (also percent-encoded)?"""
    raw_path = scope.get("raw_path") or b""
    query = scope.get("query_string") or b""
    texts = (scope["path"], raw_path.decode("latin-1"), query.decode("latin-1"))
    for text in texts:
        for form in (text, unquote(text), unquote_plus(text)):
            if any(secret and secret in form for secret in secrets):
                return True
    return False


class LocalGuard:
    def __init__(self, app: ASGIApp, token: str, allowed_hosts: frozenset[str] = LOOPBACK_NAMES,
                 open_paths: frozenset[str] = OPEN_PATHS,
                 url_secrets: tuple[str, ...] = ()) -> None:
        self.app = app
        self._token = token.encode("ascii")
        self._hosts = allowed_hosts
        self._open = open_paths
        self._url_secrets = (token, *url_secrets)

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
        if url_holds_secret(scope, self._url_secrets):
            await _refuse(send, 400, "TOKEN_IN_URL",
                          "a token is in the URL: send it only as 'Authorization: Bearer "
                          "<token>'; nothing was passed on to OCI", "url")
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
