"""Typed errors → HTTP status codes, in one place: `ERROR_ANSWERS`.

Every error answer has the same JSON shape: `{"error": CODE, "message": ..., "field": ...}`
(+ extra keys such as `revision` or `path`), so the PC backend can show the operator which
file, field or header is wrong and what to do about it. The shape and the handlers both APIs
share live in `krx_common.http_errors`; this module adds the OCI backend's typed errors.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from broker.protocol import BrokerError, BrokerUnavailable
from krx_common.atomic import CorruptFile, StoreError
from krx_common.http_errors import (
    ApiError,
    ErrorBody,
    documented,
    error_body,
    field_path,
    install_common_handlers,
)
from krx_common.http_errors import json_answer as _json
from krx_common.http_limits import BodyTooLarge
from oci_backend.broker_link import ModeNotAllowed
from oci_backend.paths import InvalidId
from oci_backend.pipeline import AsofRefused, CycleBusy, NotAReplayRoot
from oci_backend.reconcile import BrokerNotConfigured, NothingToResolve
from oci_backend.store import ChangePending, JournalPending, MaskedSecretUnknown, StaleRevision
from oci_backend.tickets import errors as ticket_errors
from strategy.calendar import CalendarRangeError

log = logging.getLogger("krx.oci")

__all__ = ["ERROR_ANSWERS", "ApiError", "COMMON_RESPONSES", "ErrorBody", "answer_of",
           "error_body", "field_path", "install_error_handlers"]


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
    500: documented("a stored file is corrupt, unreadable or missing (CORRUPT_FILE, `file` "
                    "names it), or "
                    "a write failed before anything was changed (STORE_ERROR, naming the "
                    "cause: disk full, file size limit, read-only, permissions)"),
    503: documented("ACCEPTED_PENDING: the change is journaled but could not be applied yet "
                    "(disk); it completes by itself, do not resend it; JOURNAL_PENDING: an earlier "
                    "accepted change is not applied yet, nothing of this request was changed"),
}


# THE table: every typed domain error the API answers → (HTTP status, error code). The domain
# modules raise these without knowing HTTP; a subclass not listed answers as its nearest listed
# base (the table is searched along the class's MRO, as Starlette picks a handler).
ERROR_ANSWERS: dict[type[Exception], tuple[int, str]] = {
    StaleRevision: (409, "STALE_REVISION"),
    CycleBusy: (409, "CYCLE_BUSY"),
    ticket_errors.TicketError: (400, "TICKET_ERROR"),
    ticket_errors.StaleTicket: (409, "STALE_TICKET"),
    ticket_errors.EmergencyStopped: (423, "EMERGENCY_STOP"),
    ticket_errors.TicketRejected: (422, "TICKET_REJECTED"),
    ticket_errors.TicketNotFound: (404, "TICKET_NOT_FOUND"),
    ticket_errors.IdempotencyConflict: (422, "IDEMPOTENCY_CONFLICT"),
    ticket_errors.ModeRefused: (409, "MODE_REFUSED"),
    ticket_errors.TicketConflict: (409, "TICKET_OPEN"),
    ticket_errors.TicketStateError: (409, "TICKET_STATE"),
    AsofRefused: (422, "VALIDATION_ERROR"),
    NotAReplayRoot: (409, "ASOF_REPLAY_REFUSED"),
    InvalidId: (422, "VALIDATION_ERROR"),
    # Only a date from the request (a replay `asof`) reaches here: the daily cycle turns its
    # own clock's range error into a FAILED summary.
    CalendarRangeError: (422, "DATE_OUT_OF_RANGE"),
    StoreError: (500, "STORE_ERROR"),
    ChangePending: (503, "ACCEPTED_PENDING"),
    JournalPending: (503, "JOURNAL_PENDING"),
    MaskedSecretUnknown: (422, "VALIDATION_ERROR"),
    CorruptFile: (500, "CORRUPT_FILE"),
    BodyTooLarge: (413, "BODY_TOO_LARGE"),
    ModeNotAllowed: (422, "VALIDATION_ERROR"),
    BrokerNotConfigured: (409, "BROKER_NOT_CONFIGURED"),
    NothingToResolve: (409, "NOTHING_TO_RESOLVE"),
    BrokerError: (502, "BROKER_ERROR"),
    BrokerUnavailable: (503, "BROKER_UNAVAILABLE"),
}


def answer_of(exc: BaseException) -> tuple[int, str]:
    """(status, code) of `exc` from `ERROR_ANSWERS`; `LookupError` for an unlisted error."""
    for cls in type(exc).__mro__:
        if cls in ERROR_ANSWERS:
            return ERROR_ANSWERS[cls]
    raise LookupError(f"{type(exc).__name__} is not in oci_backend.errors.ERROR_ANSWERS")


def _details(exc: Exception) -> tuple[str, str | None, dict[str, Any], dict[str, str]]:
    """(message, field, extra body keys, headers) of a listed error."""
    field: str | None = getattr(exc, "field", None)
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    message = str(exc)
    if isinstance(exc, StaleRevision):
        extra = {"revision": exc.actual, "expected": exc.expected}
        headers = {"ETag": f'"{exc.actual}"'}
    elif isinstance(exc, ticket_errors.TicketError) and exc.problems:
        extra = {"problems": exc.problems}
    elif isinstance(exc, CalendarRangeError):
        field = "asof"
    elif isinstance(exc, CorruptFile):
        # The file's name, never its path (the log has the path).
        message = (f"{exc.path.name}: {exc.error} (the file was left as it is; fix or "
                   "restore it)")
        extra = {"file": exc.path.name}
    elif isinstance(exc, BrokerError):
        # The broker's own code and message (never a credential: KIS does not echo them).
        message, extra = f"broker: {exc.code}: {exc.message}", {"broker_code": exc.code}
    elif isinstance(exc, BodyTooLarge):
        message, field, extra = str(exc.detail), "body", {"limit": exc.limit}
        headers = {"Connection": "close"}
    return message, field, extra, headers


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    status, code = answer_of(exc)
    if status >= 500:
        log.error("%s: %s", "corrupt artifact" if isinstance(exc, CorruptFile) else "store error",
                  exc)
    message, field, extra, headers = _details(exc)
    return _json(status, error_body(code, message, field, **extra), headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register `ERROR_ANSWERS` (and the shared handlers) on `app`."""
    install_common_handlers(app, log=log, backend="OCI backend", docs_hint="/docs for the API")
    for error_type in ERROR_ANSWERS:
        app.add_exception_handler(error_type, _on_domain_error)
