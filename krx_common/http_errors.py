"""The one error shape of both HTTP APIs (OCI and PC backends) and the handlers they share.

Every error answer is `{"error": CODE, "message": ..., "field": ...}` (+ extra keys such as
`revision` or `path`), documented in OpenAPI by `ErrorBody`. This module imports only FastAPI
and pydantic; each app adds its own typed errors on top (`oci_backend.errors`,
`pc_backend.errors`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import fastapi.routing
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException


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


class FieldError(BaseModel):
    """One refused field of a 422 answer: what the operator's language words it from."""

    field: str = Field(description="the dotted field at fault, e.g. strategy.rsi_buy_threshold")
    message: str = Field(description="the English message (logs, English readers)")
    type: str | None = Field(default=None, description="pydantic's error type (greater_than, "
                             "missing, ...) or our rule's code (rsi_order, ma_order, duplicate)")
    ctx: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="the numbers of the error: a bound (gt, le, ...), "
                                          "the expected values, a rule's params")


class ErrorBody(BaseModel):
    """The one JSON shape of every error answer (documented in OpenAPI for each status)."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="machine-readable code, e.g. VALIDATION_ERROR, UNAUTHORIZED")
    message: str = Field(description="what is wrong and what to do")
    field: str | None = Field(default=None, description="the field, header or part at fault")
    errors: list[FieldError] | None = Field(
        default=None, description="422: every refused field, each with its type and ctx")


def documented(description: str) -> dict[str, Any]:
    """An OpenAPI `responses` entry answered with `ErrorBody`."""
    return {"model": ErrorBody, "description": description}


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    """The one JSON shape of every error answer."""
    return {"error": code, "message": message, "field": field, **extra}


def json_answer(status: int, body: dict[str, Any],
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


def json_ctx(ctx: Mapping[str, Any] | None) -> dict[str, str | int | float | bool]:
    """pydantic's error ctx made JSON-safe: numbers and words kept, anything else (an
    exception, a Decimal, a pattern) as its text."""
    out: dict[str, str | int | float | bool] = {}
    for key, value in (ctx or {}).items():
        out[str(key)] = value if isinstance(value, (str, int, float, bool)) else str(value)
    return out


def validation_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """FastAPI's validation errors as `FieldError`s `{"field", "message", "type", "ctx"}`,
    fields named as above; a cross-field rule (`contracts.common.rule_error`) is named by the
    field its ctx gives, under the model it checked."""
    out = []
    for err in errors:
        # Pydantic puts the validator name ("function-after[...]") into some locations.
        loc = tuple(p for p in err.get("loc", ())
                    if not (isinstance(p, str) and p.startswith("function-")))
        msg = str(err.get("msg", "invalid value"))
        ctx = json_ctx(err.get("ctx"))
        if err.get("type") == "json_invalid":
            detail = ctx.get("error", "")
            msg = f"the body is not valid JSON ({detail} at character {loc[-1] if loc else 0})"
            loc = ("body",)
        elif isinstance(ctx.get("field"), str):
            loc = (*loc, *str(ctx["field"]).split("."))
        out.append({"field": field_path(loc), "message": msg, "type": err.get("type"),
                    "ctx": ctx})
    return out


async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = validation_errors(list(exc.errors()))
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    code = "INVALID_JSON" if first.get("type") == "json_invalid" else "VALIDATION_ERROR"
    return json_answer(422, error_body(code, f"{first['field']}: {first['message']}",
                                       first["field"], errors=errors))


async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
    return json_answer(exc.status_code, error_body(exc.code, exc.message, exc.field,
                                                   **exc.extra), exc.headers)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """The methods the app accepts on this request's path, as its OpenAPI document describes
    the resource: a literal path (`/tickets/submit`) names its own methods, even where a
    template (`/tickets/{ticket_id}`) would also match it. FastAPI keeps an included router as
    one route; `fastapi.routing.iter_route_contexts` (where it exists) lists the routes it holds,
    else each method is tried through the routes' own matching."""
    from starlette.routing import Match

    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    path = request.scope["path"]
    if flatten is not None:
        by_literal: dict[bool, list[str]] = {True: [], False: []}
        for route in flatten(request.app.routes):
            regex = getattr(route, "path_regex", None)
            if regex is None or not regex.match(path):
                continue
            literal = "{" not in getattr(route, "path", "{")
            by_literal[literal] += sorted(getattr(route, "methods", None) or ())
        found = by_literal[True] or by_literal[False]
        return [m for m in _METHODS if m in found]
    methods: list[str] = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.routes):
            methods.append(method)
    return methods


def install_common_handlers(app: FastAPI, *, log: logging.Logger, backend: str,
                            docs_hint: str) -> None:
    """Validation errors, `ApiError`, Starlette's HTTP errors (404 naming the route, 405 with
    every allowed method) and the last-resort 500, all in the one shape. `backend` names the
    log to look at ("OCI backend"), `docs_hint` where the API is described."""

    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 400: "BAD_REQUEST"}
        message = str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # One path can have a route per method: Allow lists them all, not the first match's.
            allowed = allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            message = (f"{request.method} is not allowed on {request.url.path}; "
                       f"use {', '.join(allowed)}")
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}; see {docs_hint}"
        code = codes.get(exc.status_code, f"HTTP_{exc.status_code}")
        return json_answer(exc.status_code, error_body(code, message), headers)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Path only: the query string may hold something the caller should not have sent there.
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        # The exception's text stays in the log: it may hold file paths.
        return json_answer(500, error_body(
            "INTERNAL_ERROR", f"{type(exc).__name__}; see the {backend} log"))

    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, on_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_unexpected)
