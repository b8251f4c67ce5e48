"""Typed errors → HTTP status codes, in one place.

Every error answer has the same JSON shape: `{"error": CODE, "message": ..., "field": ...}`
(+ extra keys such as `revision` or `path`), so the PC backend can show the operator which
file, field or header is wrong and what to do about it. The shape and the handlers both APIs
share live in `oci_backend.http_errors`; this module adds the OCI backend's typed errors.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from krx_common.http_limits import BodyTooLarge
from oci_backend.http_errors import (
    ApiError,
    ErrorBody,
    documented,
    error_body,
    field_path,
    install_common_handlers,
)
from oci_backend.http_errors import json_answer as _json
from oci_backend.paths import InvalidId
from oci_backend.pipeline import CycleBusy
from oci_backend.replay import AsofRefused
from oci_backend.store import CorruptFile, StaleRevision, StoreError
from oci_backend.tickets import TicketError
from strategy.calendar import CalendarRangeError

log = logging.getLogger("krx.oci")

__all__ = ["ApiError", "COMMON_RESPONSES", "ErrorBody", "error_body", "field_path",
           "install_error_handlers"]


# Answers any API route can give besides its own (401 comes from `auth.BearerAuth`, 413/415/
# 422 from the body checks and 431 from the head cap in `krx_common.http_limits`, 500 from a
# corrupt file).
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: documented("a required header is missing or malformed (e.g. Idempotency-Key), or "
                    "two Host headers"),
    401: documented("missing or wrong token, or more than one Authorization header; the "
                    "scheme is case-insensitive (RFC 7235): 'Bearer' or 'bearer'"),
    413: documented("body larger than KRX_OCI_MAX_BODY_BYTES"),
    415: documented("body not application/json in UTF-8"),
    422: documented("invalid input: not UTF-8, duplicate keys, NaN/Infinity, an integer of "
                    "more than 4,300 digits, nesting deeper than 32, or a value the contract "
                    "refuses; `field` names it"),
    431: documented("request headers larger than KRX_OCI_MAX_HEADER_BYTES"),
    500: documented("a stored file is corrupt or missing (CORRUPT_FILE, with its path), or "
                    "a write failed (STORE_ERROR, e.g. disk full); nothing was changed"),
}


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


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping typed error → status code on `app`."""
    install_common_handlers(app, log=log, backend="OCI backend", docs_hint="/docs for the API")
    app.add_exception_handler(StaleRevision, _on_stale)  # type: ignore[arg-type]
    app.add_exception_handler(CycleBusy, _on_cycle_busy)  # type: ignore[arg-type]
    app.add_exception_handler(TicketError, _on_ticket_error)  # type: ignore[arg-type]
    app.add_exception_handler(AsofRefused, _on_asof_refused)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidId, _on_invalid_id)  # type: ignore[arg-type]
    app.add_exception_handler(CalendarRangeError, _on_calendar_range)  # type: ignore[arg-type]
    app.add_exception_handler(CorruptFile, _on_corrupt)  # type: ignore[arg-type]
    app.add_exception_handler(StoreError, _on_store_error)  # type: ignore[arg-type]
    app.add_exception_handler(BodyTooLarge, _on_too_large)  # type: ignore[arg-type]
