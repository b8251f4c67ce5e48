"""Typed errors → HTTP answers, in one place, in OCI's error shape.

The shape and the handlers both backends share (validation, 404/405, the last-resort 500,
`ApiError`) are `oci_backend.http_errors`, which imports nothing of the OCI pipeline. Here:
an error OCI answered reaches the caller unchanged (status and body); OCI out of reach is
`503 OCI_UNREACHABLE` with what to do; local errors use the same
`{"error", "message", "field", ...}` body.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from oci_backend.http_errors import (
    ApiError,
    documented,
    error_body,
    install_common_handlers,
)
from oci_backend.http_errors import json_answer as _json
from pc_backend.merge import PathError
from pc_backend.oci_client import OciHttpError, OciProtocolError, OciUnreachable
from pc_backend.workspace import WorkspaceError

log = logging.getLogger("krx.pc")

__all__ = ["COMMON_RESPONSES", "OCI_RESPONSES", "PcApiError", "documented", "error_body",
           "install_error_handlers"]

# A local error with its status, code and field (the shared `ApiError`).
PcApiError = ApiError

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


def install_error_handlers(app: FastAPI) -> None:
    install_common_handlers(app, log=log, backend="PC backend", docs_hint="docs/pc-api.md")
    app.add_exception_handler(WorkspaceError, _on_workspace)  # type: ignore[arg-type]
    app.add_exception_handler(OciHttpError, _on_oci_http)  # type: ignore[arg-type]
    app.add_exception_handler(OciUnreachable, _on_unreachable)  # type: ignore[arg-type]
    app.add_exception_handler(OciProtocolError, _on_protocol)  # type: ignore[arg-type]
    app.add_exception_handler(PathError, _on_path)  # type: ignore[arg-type]
