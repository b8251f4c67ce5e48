"""The generic part of every client of the OCI API: an httpx client with explicit timeouts and
the bearer token, error answers passed through unchanged (`OciHttpError` carries OCI's body:
`error`, `message`, `field`, ...), and answers parsed into their models (`OciProtocolError`
when a 2xx body is not the expected model).

Used by the PC backend's `OciClient` (which adds retries of idempotent calls, a deadline and a
gate for the tunnel) and the replay driver's `HttpBackend`.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

M = TypeVar("M", bound=BaseModel)

API = "/api/v1"


class OciHttpError(Exception):
    """OCI answered with an error status; `body` is its error body, unchanged."""

    def __init__(self, status_code: int, body: dict[str, Any],
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"OCI {status_code}: {body.get('message', body)}")
        self.status_code = status_code
        self.body = body
        self.headers = headers or {}

    @property
    def code(self) -> str:
        return str(self.body.get("error", ""))


class OciProtocolError(Exception):
    """OCI answered 2xx with a body that is not the expected contract."""


def bearer_client(base_url: str, token: str, *, connect_timeout: float = 2.0,
                  read_timeout: float = 5.0, max_connections: int = 20) -> httpx.Client:
    """A client of `base_url` sending the bearer token, with explicit timeouts, ignoring proxy
    settings of the environment (OCI is reached on loopback, through the tunnel)."""
    return httpx.Client(
        base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout), trust_env=False,
        limits=httpx.Limits(max_connections=max_connections,
                            max_keepalive_connections=max(1, max_connections // 2)),
    )


def error_body(response: httpx.Response) -> dict[str, Any]:
    """OCI's error body; a body in another shape is wrapped in the standard one."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and "error" in body:
        return body
    return {"error": f"HTTP_{response.status_code}",
            "message": f"OCI answered {response.status_code}: {response.text[:300]}",
            "field": None}


def raise_for_error(response: httpx.Response) -> httpx.Response:
    """`response` when it is not an error answer; else `OciHttpError` with OCI's body."""
    if response.status_code >= 400:
        raise OciHttpError(response.status_code, error_body(response), dict(response.headers))
    return response


def parse_model(model: type[M], response: httpx.Response) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise OciProtocolError(f"OCI answered a body that is not a {model.__name__}: "
                               f"{exc.errors()[0]}") from None


def parse_list(model: type[M], response: httpx.Response) -> list[M]:
    try:
        return TypeAdapter(list[model]).validate_json(response.content)  # type: ignore[valid-type]
    except ValidationError as exc:
        raise OciProtocolError(f"OCI answered a body that is not a list of {model.__name__}: "
                               f"{exc.errors()[0]}") from None
