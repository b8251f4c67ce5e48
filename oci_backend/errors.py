"""Typed errors → HTTP status codes, in one place.

Every error answer has the same JSON shape: `{"error": CODE, "message": ..., "field": ...}`
(+ extra keys such as `revision` or `path`), so the PC backend can show the operator which
file, field or header is wrong and what to do about it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from oci_backend.paths import InvalidId
from oci_backend.pipeline import CycleBusy
from oci_backend.replay import AsofRefused
from oci_backend.store import CorruptFile, StaleRevision, StoreError
from oci_backend.tickets import TicketError
from strategy.calendar import CalendarRangeError

log = logging.getLogger("krx.oci")


class ApiError(Exception):
    """An error the API answers with `status_code` and the standard error body."""

    def __init__(
        self, status_code: int, code: str, message: str, *, field: str | None = None,
        headers: Mapping[str, str] | None = None, **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})
        self.extra = extra


class BodyTooLarge(StarletteHTTPException):
    """The request body exceeds the configured limit (raised while the body streams in).

    An `HTTPException` subclass on purpose: FastAPI re-raises those from its body reader
    instead of turning them into a generic 400.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=too_large_message(limit))
        self.limit = limit


def too_large_message(limit: int) -> str:
    return (f"request body larger than {limit} bytes; send less "
            "(the limit is KRX_OCI_MAX_BODY_BYTES)")


class ErrorBody(BaseModel):
    """The one JSON shape of every error answer (documented in OpenAPI for each status)."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="machine-readable code, e.g. VALIDATION_ERROR, UNAUTHORIZED")
    message: str = Field(description="what is wrong and what to do")
    field: str | None = Field(default=None, description="the field, header or part at fault")


def _documented(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Answers any API route can give besides its own (401 comes from `auth.BearerAuth`, 413/415/
# 422 from the body checks in `middleware`, 431 from `http_limits`, 500 from a corrupt file).
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("a required header is missing or malformed (e.g. Idempotency-Key)"),
    401: _documented("missing or wrong token, or more than one Authorization header; the "
                     "scheme is case-insensitive (RFC 7235): 'Bearer' or 'bearer'"),
    413: _documented("body larger than KRX_OCI_MAX_BODY_BYTES"),
    415: _documented("body not application/json in UTF-8"),
    422: _documented("invalid input: not UTF-8, duplicate keys, NaN/Infinity, nesting deeper "
                     "than 32, or a value the contract refuses; `field` names it"),
    431: _documented("request headers larger than KRX_OCI_MAX_HEADER_BYTES"),
    500: _documented("a stored file is corrupt or missing (CORRUPT_FILE, with its path), or "
                     "a write failed (STORE_ERROR, e.g. disk full); nothing was changed"),
}


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    """The one JSON shape of every error answer."""
    return {"error": code, "message": message, "field": field, **extra}


def _json(status: int, body: dict[str, Any],
          headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """`('body', 'portfolio', 'holdings', 0, 'qty')` → `portfolio.holdings.0.qty`.

    The request part (`body`, `query`, `header`, `path`) is dropped; a whole-body error
    (invalid JSON, a model-level rule) is named `body`.
    """
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "header", "path", "cookie"):
        where = parts.pop(0)
        if where == "body" and (not parts or isinstance(parts[0], int) and len(parts) == 1):
            return "body"
    return ".".join(str(p) for p in parts) or "body"


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        # Pydantic puts the validator name ("function-after[...]") into some locations.
        loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))
        msg = str(err.get("msg", "invalid value"))
        if err.get("type") == "json_invalid":
            detail = (err.get("ctx") or {}).get("error", "")
            msg = f"the body is not valid JSON ({detail} at character {loc[-1]})"
            loc = ("body",)
        out.append({"field": field_path(loc), "message": msg, "type": err.get("type")})
    return out


async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = _validation_errors(exc)
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    code = "INVALID_JSON" if first.get("type") == "json_invalid" else "VALIDATION_ERROR"
    return _json(422, error_body(code, f"{first['field']}: {first['message']}",
                                 first["field"], errors=errors))


async def _on_api_error(request: Request, exc: ApiError) -> JSONResponse:
    return _json(exc.status_code, error_body(exc.code, exc.message, exc.field, **exc.extra),
                 exc.headers)


async def _on_stale(request: Request, exc: StaleRevision) -> JSONResponse:
    return _json(409, error_body("STALE_REVISION", str(exc), "If-Match", revision=exc.actual,
                                 expected=exc.expected), {"ETag": f'"{exc.actual}"'})


async def _on_cycle_busy(request: Request, exc: CycleBusy) -> JSONResponse:
    return _json(409, error_body("CYCLE_BUSY", str(exc)))


async def _on_ticket_error(request: Request, exc: TicketError) -> JSONResponse:
    extra = {"problems": exc.problems} if getattr(exc, "problems", None) else {}
    return _json(exc.status_code, error_body(exc.code, str(exc), exc.field, **extra))


async def _on_asof_refused(request: Request, exc: AsofRefused) -> JSONResponse:
    return _json(exc.status_code, error_body(exc.code, exc.message, exc.field))


async def _on_invalid_id(request: Request, exc: InvalidId) -> JSONResponse:
    return _json(422, error_body("VALIDATION_ERROR", str(exc), exc.field))


async def _on_calendar_range(request: Request, exc: CalendarRangeError) -> JSONResponse:
    # Only a date from the request (a replay `asof`) reaches here: the daily cycle turns its
    # own clock's range error into a FAILED summary.
    return _json(422, error_body("DATE_OUT_OF_RANGE", str(exc), "asof"))


async def _on_corrupt(request: Request, exc: CorruptFile) -> JSONResponse:
    log.error("corrupt artifact: %s", exc)
    return _json(500, error_body("CORRUPT_FILE", str(exc), exc.field, path=str(exc.path)))


async def _on_store_error(request: Request, exc: StoreError) -> JSONResponse:
    log.error("store error: %s", exc)
    return _json(500, error_body("STORE_ERROR", str(exc), exc.field))


async def _on_too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
    return _json(413, error_body("BODY_TOO_LARGE", str(exc.detail), "body", limit=exc.limit),
                 {"Connection": "close"})


async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 400: "BAD_REQUEST"}
    message = str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # One path can have a route per method: Allow lists them all, not the first match's.
        allowed = allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        message = f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}"
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}; see /docs for the API"
    return _json(exc.status_code, error_body(codes.get(exc.status_code, f"HTTP_{exc.status_code}"),
                                             message), headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app accepts on this request's path."""
    from starlette.routing import Match, Route

    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**request.scope, "method": next(iter(route.methods))})
            if match is Match.FULL:
                methods |= route.methods
    return sorted(methods)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Path only: the query string may hold something the caller should not have sent there.
    log.exception("unhandled error in %s %s", request.method, request.url.path)
    return _json(500, error_body("INTERNAL_ERROR",
                                 f"{type(exc).__name__}: {exc}; see the OCI backend log"))


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping typed error → status code on `app`."""
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _on_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(StaleRevision, _on_stale)  # type: ignore[arg-type]
    app.add_exception_handler(CycleBusy, _on_cycle_busy)  # type: ignore[arg-type]
    app.add_exception_handler(TicketError, _on_ticket_error)  # type: ignore[arg-type]
    app.add_exception_handler(AsofRefused, _on_asof_refused)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidId, _on_invalid_id)  # type: ignore[arg-type]
    app.add_exception_handler(CalendarRangeError, _on_calendar_range)  # type: ignore[arg-type]
    app.add_exception_handler(CorruptFile, _on_corrupt)  # type: ignore[arg-type]
    app.add_exception_handler(StoreError, _on_store_error)  # type: ignore[arg-type]
    app.add_exception_handler(BodyTooLarge, _on_too_large)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)
