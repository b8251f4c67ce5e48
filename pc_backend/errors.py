"""Typed errors → HTTP answers, in one place, in OCI's error shape.

An error OCI answered reaches the caller unchanged (status and body); OCI out of reach is
`503 OCI_UNREACHABLE` with what to do; local errors use the same
`{"error", "message", "field", ...}` body.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pc_backend.merge import PathError
from pc_backend.oci_client import OciHttpError, OciProtocolError, OciUnreachable
from pc_backend.workspace import WorkspaceError

log = logging.getLogger("krx.pc")

# Headers of an OCI error answer worth passing on (the revision of a 409, the auth scheme).
_PASSED_HEADERS = ("etag", "www-authenticate", "retry-after")


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    """The error shape of OCI (`oci_backend.errors.error_body`), which the cockpit parses.
    Not imported from there: that module pulls in the whole OCI pipeline."""
    return {"error": code, "message": message, "field": field, **extra}


def field_path(loc: tuple[Any, ...]) -> str:
    """`('body', 'holdings', 0, 'qty')` → `holdings.0.qty` (as OCI names fields)."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "header", "path", "cookie"):
        where = parts.pop(0)
        if where == "body" and (not parts or isinstance(parts[0], int) and len(parts) == 1):
            return "body"
    return ".".join(str(p) for p in parts) or "body"


class PcApiError(Exception):
    """A local error with its status, code and field."""

    def __init__(self, status_code: int, code: str, message: str, *, field: str | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None
          ) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers or {})


def validation_errors(errors: list[Any]) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        loc = tuple(p for p in err.get("loc", ())
                    if not (isinstance(p, str) and p.startswith("function-")))
        msg = str(err.get("msg", "invalid value"))
        if err.get("type") == "json_invalid":
            msg = f"the body is not valid JSON ({(err.get('ctx') or {}).get('error', '')})"
            loc = ("body",)
        out.append({"field": field_path(loc), "message": msg, "type": err.get("type")})
    return out


async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = validation_errors(list(exc.errors()))
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    code = "INVALID_JSON" if first.get("type") == "json_invalid" else "VALIDATION_ERROR"
    return _json(422, error_body(code, f"{first['field']}: {first['message']}", first["field"],
                                 errors=errors))


async def _on_pc_error(request: Request, exc: PcApiError) -> JSONResponse:
    return _json(exc.status_code, error_body(exc.code, exc.message, exc.field, **exc.extra))


async def _on_workspace(request: Request, exc: WorkspaceError) -> JSONResponse:
    if exc.status_code >= 500:
        log.error("workspace: %s", exc)
    return _json(exc.status_code, error_body(exc.code, str(exc), exc.field, **exc.extra))


async def _on_oci_http(request: Request, exc: OciHttpError) -> JSONResponse:
    headers = {k: v for k, v in exc.headers.items() if k.lower() in _PASSED_HEADERS}
    if exc.status_code == 401:
        # Our token was refused by OCI: not the caller's fault, and not the PC's 401.
        body = dict(exc.body)
        body["message"] = (f"OCI refused the PC's OCI token ({exc.body.get('message')}); "
                           "check KRX_PC_OCI_TOKEN_FILE against the OCI backend's token")
        return _json(502, {**body, "error": "OCI_TOKEN_REFUSED"})
    return _json(exc.status_code, exc.body, headers)


async def _on_unreachable(request: Request, exc: OciUnreachable) -> JSONResponse:
    return _json(503, error_body("OCI_UNREACHABLE", str(exc), None), {"Retry-After": "2"})


async def _on_protocol(request: Request, exc: OciProtocolError) -> JSONResponse:
    log.error("OCI protocol: %s", exc)
    return _json(502, error_body("OCI_BAD_ANSWER", str(exc), None))


async def _on_path(request: Request, exc: PathError) -> JSONResponse:
    return _json(422, error_body("VALIDATION_ERROR", f"path: {exc}", "path"))


async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 400: "BAD_REQUEST"}
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}; see docs/pc-api.md"
    return _json(exc.status_code, error_body(codes.get(exc.status_code, f"HTTP_{exc.status_code}"),
                                             message), dict(exc.headers or {}))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error in %s %s", request.method, request.url.path)
    return _json(500, error_body("INTERNAL_ERROR",
                                 f"{type(exc).__name__}: {exc}; see the PC backend log"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(PcApiError, _on_pc_error)  # type: ignore[arg-type]
    app.add_exception_handler(WorkspaceError, _on_workspace)  # type: ignore[arg-type]
    app.add_exception_handler(OciHttpError, _on_oci_http)  # type: ignore[arg-type]
    app.add_exception_handler(OciUnreachable, _on_unreachable)  # type: ignore[arg-type]
    app.add_exception_handler(OciProtocolError, _on_protocol)  # type: ignore[arg-type]
    app.add_exception_handler(PathError, _on_path)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)
