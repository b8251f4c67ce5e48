"""Bearer-token authentication as pure ASGI middleware (default deny).

Every path except `OPEN_PATHS` needs `Authorization: Bearer <token>`; the comparison is
constant-time (`krx_common.auth.bearer_matches`). A token anywhere else (query string,
cookie) is ignored. Being middleware, the check runs before routing and body parsing, so an
unauthenticated caller learns nothing from validation errors and a new router cannot
forget to require the token.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from krx_common.auth import bearer_matches

# Liveness for the tunnel watchdog and the API description. The docs stay open on purpose:
# the server is bound to loopback behind the SSH tunnel, the schema holds no data or
# secrets, and Swagger UI cannot fetch a protected schema.
# Swagger UI and ReDoc assets are served from the installed fastapi-offline package (no CDN:
# /docs works on a VM or PC without internet); each asset path is listed, not a prefix.
DOCS_STATIC = "/docs-static"
DOCS_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png", "redoc.standalone.js")
OPEN_PATHS = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
                        *(f"{DOCS_STATIC}/{name}" for name in DOCS_ASSETS)})


class BearerAuth:
    """Answer 401 to any request outside `OPEN_PATHS` without the right bearer token."""

    def __init__(self, app: ASGIApp, token: str, open_paths: frozenset[str] = OPEN_PATHS) -> None:
        self.app = app
        self._token = token.encode("ascii")
        self._open = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._open:
            await self.app(scope, receive, send)
            return
        headers = [v for k, v in scope["headers"] if k == b"authorization"]
        # Exactly one header: with two, proxies and servers disagree on which one counts.
        if len(headers) == 1 and bearer_matches(headers[0], self._token):
            await self.app(scope, receive, send)
            return
        message = ("missing or wrong API token: send 'Authorization: Bearer <token>' "
                   "(tokens in the URL are ignored)") if len(headers) < 2 else (
                   "more than one Authorization header: send exactly one")
        body = json.dumps({"error": "UNAUTHORIZED", "message": message,
                           "field": "Authorization"}).encode()
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="krx-oci"'),
        ]})
        await send({"type": "http.response.body", "body": body})
