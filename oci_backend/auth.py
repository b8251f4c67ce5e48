"""Bearer-token authentication as pure ASGI middleware (default deny).

Every path except `OPEN_PATHS` needs `Authorization: Bearer <token>`; the comparison is
constant-time (`krx_common.auth.bearer_matches`). A token anywhere else (query string,
cookie) is ignored. Being middleware, the check runs before routing and body parsing, so an
unauthenticated caller learns nothing from validation errors and a new router cannot
forget to require the token.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qsl

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


# Query parameters the API defines; any other key (and every value of it) is masked in the
# access log, because a confused client may put a token there.
LOGGED_QUERY_KEYS = frozenset({"limit", "action", "target", "since", "state"})


def redact_query(full_path: str) -> str:
    """`/x?limit=5&secret=abc` → `/x?limit=5&***`: keep only known keys in a logged path."""
    path, sep, query = full_path.partition("?")
    if not sep:
        return full_path
    kept = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        kept.append(f"{key}={value}" if key in LOGGED_QUERY_KEYS else "***")
    return f"{path}?{'&'.join(kept) or '***'}"


class RedactQueryString(logging.Filter):
    """Masks unknown query parameters in uvicorn access-log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True


class QuietReads(logging.Filter):
    """Drops access-log records of successful reads (GET/HEAD answered below 400)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 5:
            method, status = args[1], args[4]
            if method in ("GET", "HEAD") and isinstance(status, int) and status < 400:
                return False
        return True


class MaskSecret(logging.Filter):
    """Replaces a secret anywhere in a record (message or args) with '***': a client that puts
    the token in a URL path or a body field must not get it into the log."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        # Args are masked one by one: formatters (uvicorn's access log) read them by position.
        if isinstance(record.msg, str) and self.secret in record.msg:
            record.msg = record.msg.replace(self.secret, "***")
        if isinstance(record.args, tuple):
            record.args = tuple(a.replace(self.secret, "***") if isinstance(a, str) else a
                                for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: v.replace(self.secret, "***") if isinstance(v, str) else v
                           for k, v in record.args.items()}
        if record.exc_info and self.secret in str(record.exc_info[1]):
            record.exc_text = "(exception text withheld: it held a secret)"
        return True


def mask_secret_in_logs(secret: str) -> None:
    """Attach `MaskSecret` to every handler of the root and uvicorn loggers (idempotent)."""
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, MaskSecret) and f.secret == secret
                       for f in handler.filters):
                handler.addFilter(MaskSecret(secret))


def install_access_log_redaction(mode: str = "all") -> None:
    """Attach `RedactQueryString` to uvicorn's access logger, and `QuietReads` when `mode` is
    'changes' (idempotent)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryString) for f in logger.filters):
        logger.addFilter(RedactQueryString())
    quiet = [f for f in logger.filters if isinstance(f, QuietReads)]
    if mode == "changes" and not quiet:
        logger.addFilter(QuietReads())
    elif mode != "changes":
        for f in quiet:
            logger.removeFilter(f)
