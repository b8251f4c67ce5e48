"""Typed errors → HTTP answers, in one place (`ERROR_TABLE`), in OCI's error shape.

The domain errors (`workspace`, `service`, `research`, `strategy.research`, `merge`, the OCI
client's) carry no HTTP status: the table maps each type to its status and code, and one
handler registered per type with `app.add_exception_handler` answers the standard
`{"error", "message", "field", ...}` body. The shape and the handlers both backends share
(validation, 404/405, the last-resort 500) are `krx_common.http_errors`, the base both backends
build on. An error OCI answered reaches the caller unchanged (status and body).
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from krx_common.docpath import PathError
from krx_common.http_errors import (
    documented,
    error_body,
    install_common_handlers,
)
from krx_common.http_errors import json_answer as _json
from krx_common.oci_http import OciHttpError, OciProtocolError
from pc_backend.oci_client import OciUnreachable
from pc_backend.research import DataSpecUnusable, MarketDataUnreadable, ResearchBusy
from pc_backend.service import DraftRefused, MergeConflicts, NothingToPush
from pc_backend.workspace import (
    InvalidInput,
    NoDraft,
    NotPulled,
    WorkspaceBusy,
    WorkspaceCorrupt,
    WorkspaceError,
)
from strategy.research import ResearchInputError

log = logging.getLogger("krx.pc")

__all__ = ["COMMON_RESPONSES", "ERROR_TABLE", "OCI_RESPONSES", "Answer", "ShutdownUnsupported",
           "documented", "error_body", "install_error_handlers"]


class ShutdownUnsupported(Exception):
    """`POST /shutdown` to a process `krx pc serve` did not start (nothing to stop)."""


class Answer(NamedTuple):
    """The HTTP answer of a domain error: status, code, the field named when the error names
    none (its message then starts with it), and headers."""

    status: int
    code: str
    field: str | None = None
    headers: dict[str, str] = {}


# Every domain error the PC backend answers, by type. An error takes the entry of its own
# class or its nearest listed base (`_answer_of` walks the MRO).
ERROR_TABLE: dict[type[Exception], Answer] = {
    NotPulled: Answer(409, "NOT_PULLED"),
    WorkspaceBusy: Answer(409, "WORKSPACE_BUSY"),
    WorkspaceCorrupt: Answer(500, "WORKSPACE_CORRUPT"),
    NoDraft: Answer(404, "NO_DRAFT"),
    InvalidInput: Answer(422, "VALIDATION_ERROR"),
    MergeConflicts: Answer(409, "CONFLICT"),
    NothingToPush: Answer(409, "NOTHING_TO_PUSH"),
    DraftRefused: Answer(409, "DRAFT_REFUSED"),
    WorkspaceError: Answer(500, "WORKSPACE_ERROR"),
    PathError: Answer(422, "VALIDATION_ERROR", field="path"),
    ResearchInputError: Answer(422, "VALIDATION_ERROR"),
    ResearchBusy: Answer(429, "RESEARCH_BUSY",
                         headers={"Retry-After": str(ResearchBusy.retry_after_s)}),
    MarketDataUnreadable: Answer(503, "MARKET_DATA_UNAVAILABLE"),
    DataSpecUnusable: Answer(500, "CONFIG_ERROR"),
    ShutdownUnsupported: Answer(409, "NOT_SUPPORTED"),
    OciUnreachable: Answer(503, "OCI_UNREACHABLE", headers={"Retry-After": "2"}),
    OciProtocolError: Answer(502, "OCI_BAD_ANSWER"),
}

# Headers of an OCI error answer worth passing on (the revision of a 409, the auth scheme).
_PASSED_HEADERS = ("etag", "www-authenticate", "retry-after")

# Answers any /api/v1 route can give besides its own (401 from `auth.LocalGuard`).
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: documented("BAD_REQUEST / DUPLICATE_HEADER: a malformed Content-Length, two Host "
                    "headers"),
    401: documented("missing or wrong PC token: send 'Authorization: Bearer <token>' with the "
                    "token in <workspace>/pc_token; or more than one Authorization header"),
    403: documented("FORBIDDEN_HOST: the Host header is not 127.0.0.1, localhost or [::1]"),
    413: documented("body larger than KRX_PC_MAX_BODY_BYTES"),
    415: documented("body not application/json in UTF-8"),
    422: documented("invalid input: not UTF-8, duplicate keys, NaN/Infinity, an integer of "
                    "more than 4,300 digits, nesting deeper than 32, or a value the contract "
                    "refuses; `field` names it"),
    431: documented("request headers larger than KRX_PC_MAX_HEADER_BYTES"),
    500: documented("an unexpected error, or a workspace file that cannot be read; see the "
                    "PC backend log"),
}
# Routes that call OCI add these; OCI's own error answers are passed on unchanged.
OCI_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: documented("not found: no plan or ticket on OCI, or no local ticket draft (NO_DRAFT)"),
    409: documented("CONFLICT / NOTHING_TO_PUSH / DRAFT_REFUSED / NOT_PULLED here, or OCI's "
                    "STALE_REVISION / CYCLE_BUSY passed on"),
    423: documented("EMERGENCY_STOP: OCI refuses tickets while the emergency stop is on"),
    502: documented("OCI_TOKEN_REFUSED (OCI refused the PC's OCI token) or OCI_BAD_ANSWER"),
    503: documented("OCI_UNREACHABLE: the tunnel or OCI is down; see Retry-After"),
}


def _answer_of(exc: Exception) -> Answer:
    for kind in type(exc).__mro__:
        if kind in ERROR_TABLE:
            return ERROR_TABLE[kind]
    raise LookupError(f"{type(exc).__name__} is not in ERROR_TABLE")  # pragma: no cover


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    answer = _answer_of(exc)
    field = getattr(exc, "field", None)
    message = str(exc)
    if field is None and answer.field is not None:
        field, message = answer.field, f"{answer.field}: {message}"
    if answer.status >= 500:
        log.error("%s: %s", answer.code, exc)
    extra: dict[str, Any] = getattr(exc, "extra", None) or {}
    return _json(answer.status, error_body(answer.code, message, field, **extra),
                 answer.headers)


async def _on_oci_http(request: Request, exc: OciHttpError) -> JSONResponse:
    headers = {k: v for k, v in exc.headers.items() if k.lower() in _PASSED_HEADERS}
    if exc.status_code == 401:
        # Our token was refused by OCI: not the caller's fault, and not the PC's 401.
        body = dict(exc.body)
        body["message"] = (f"OCI refused the PC's OCI token ({exc.body.get('message')}); "
                           "check KRX_PC_OCI_TOKEN_FILE against the OCI backend's token")
        return _json(502, {**body, "error": "OCI_TOKEN_REFUSED"})
    return _json(exc.status_code, exc.body, headers)


def install_error_handlers(app: FastAPI) -> None:
    install_common_handlers(app, log=log, backend="PC backend", docs_hint="docs/pc-api.md")
    for kind in ERROR_TABLE:
        app.add_exception_handler(kind, _on_domain_error)
    app.add_exception_handler(OciHttpError, _on_oci_http)  # type: ignore[arg-type]
