"""The cockpit's one client to the PC backend (docs/pc-api.md): httpx, the local token from
`<workspace>/pc_token`, and every failure turned into a `PcError` an operator can read.

The cockpit never talks to OCI and never reads OCI files: everything goes through here. One
client per browser session is cached in `st.session_state` (`get_client`).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from contracts.audit import AuditEntry
from contracts.broker import BrokerStatus, Reconciliation
from contracts.ops import CycleResponse
from contracts.pc import (
    BacktestRequest,
    Conflict,
    ConflictChoice,
    Diff,
    PcHealth,
    PcPushResponse,
    PcStatus,
    PullResult,
    StoredDraft,
    SweepRequest,
    WalkForwardRequest,
)
from contracts.plan import OrderPlan
from contracts.portfolio import Portfolio
from contracts.research import (
    BacktestResponse,
    BacktestSeries,
    SweepResponse,
    WalkForwardResponse,
)
from contracts.settings import Settings
from contracts.sync import EmergencyStop, SyncSnapshot
from contracts.ticket import TicketRecord
from krx_common.defaults import (
    COCKPIT_TOKEN_FILE_ENV,
    COCKPIT_URL_ENV,
    PC_TOKEN_NAME,
    PC_URL,
    pc_workspace_from_env,
)
from krx_common.words import invalid_field_text
from pc_cockpit.i18n import current_lang, t

M = TypeVar("M", bound=BaseModel)
_CONFLICTS = TypeAdapter(list[Conflict])


SHORT_TIMEOUT = 20.0  # reads, PULL, PUSH (the backend answers OCI_UNREACHABLE fast itself)
LONG_TIMEOUT = 600.0  # backtests, sweeps, the daily cycle


@dataclass(frozen=True)
class CockpitConfig:
    pc_url: str
    token_file: Path

    @classmethod
    def from_env(cls) -> CockpitConfig:
        """`$KRX_COCKPIT_PC_URL` and `$KRX_COCKPIT_TOKEN_FILE` (set by whoever starts the
        cockpit), else the PC backend's defaults: its port, and the token in its workspace
        (`$KRX_PC_WORKSPACE` or ~/.krx-alertor/workspace)."""
        url = os.environ.get(COCKPIT_URL_ENV, PC_URL).rstrip("/")
        token = os.environ.get(COCKPIT_TOKEN_FILE_ENV)
        return cls(url, Path(token) if token else pc_workspace_from_env() / PC_TOKEN_NAME)


@dataclass
class PcError(Exception):
    """A failed call, with what the operator needs: the code, the message and the field."""

    code: str
    message: str
    status: int | None = None
    field: str | None = None
    body: dict[str, Any] = dc_field(default_factory=dict)
    context: dict[str, Any] = dc_field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @property
    def field_errors(self) -> list[dict[str, Any]]:
        """The refused fields of a 422 answer (`krx_common.http_errors.FieldError`), as sent."""
        return [e for e in self.body.get("errors") or [] if isinstance(e, dict)]

    @property
    def conflicts(self) -> list[dict[str, Any]]:
        """The conflicts of the error body, as sent (`409 CONFLICT` of a PUSH)."""
        return list(self.body.get("conflicts") or [])

    def conflict_models(self) -> list[Conflict]:
        """`conflicts` as `contracts.pc.Conflict`s (none when they are not conflicts)."""
        try:
            return _CONFLICTS.validate_python(self.conflicts)
        except ValidationError:
            return []

    def user_message(self, lang: str | None = None) -> str:
        """What to show the operator: what happened and what to do, in their language."""
        c = self.code
        if c == "PC_DOWN":
            return t("err.pc_down", lang, url=self.context.get("url", ""))
        if c == "NO_TOKEN":
            return t("err.no_token", lang, path=self.context.get("path", ""))
        if c == "TIMEOUT":
            return t("err.timeout", lang, seconds=self.context.get("seconds", 0))
        if c == "BAD_ANSWER":
            return t("err.bad_answer", lang, what=self.message)
        if self.status == 401 or c in ("UNAUTHORIZED", "MISSING_TOKEN", "INVALID_TOKEN"):
            return t("err.unauthorized", lang, path=self.context.get("path", ""))
        if c in ("OCI_UNREACHABLE", "OCI_DOWN", "TUNNEL_DOWN"):
            return t("err.oci_down", lang, message=self.message)
        if c == "CONFLICT":
            return t("err.conflict", lang)
        if c == "STALE_REVISION":
            return t("err.stale_revision", lang)
        if c in ("STALE_TICKET", "STALE_DRAFT"):
            return t("err.stale_ticket", lang) + f" ({self.message})"
        if self.status == 423 or c == "EMERGENCY_STOP":
            return t("err.emergency_stop", lang, message=self.message)
        if c == "NOT_PULLED":
            return t("err.not_pulled", lang)
        if c == "NO_PLAN":
            return t("err.no_plan", lang, message=self.message)
        if c == "NO_DRAFT":
            return t("err.no_draft", lang)
        if c == "NOTHING_TO_PUSH":
            return t("push.nothing", lang)
        if c == "CYCLE_BUSY":
            return t("err.cycle_busy", lang)
        if self.status == 422 or c in ("VALIDATION_ERROR", "INVALID_JSON"):
            first = self.field_errors[0] if self.field_errors else None
            if first is not None and first.get("type"):
                # worded from the error's type + field + ctx, not from its English message
                return invalid_field_text(str(first.get("field") or self.field or "body"),
                                          str(first["type"]), dict(first.get("ctx") or {}),
                                          lang or current_lang())
            return t("err.invalid", lang, field=self.field or "body", message=self.message)
        return t("err.generic", lang, code=c, status=self.status or "-", message=self.message)


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise PcError("NO_TOKEN", f"{path} does not exist", context={"path": str(path)}) from None
    except OSError as exc:
        raise PcError("NO_TOKEN", f"{path}: {exc.strerror}", context={"path": str(path)}) from None
    if not token:
        raise PcError("NO_TOKEN", f"{path} is empty", context={"path": str(path)})
    return token


@cache
def tls_context() -> ssl.SSLContext:
    """The process's one TLS context (the system's CAs). httpx builds a new one for every
    client, loading the CA bundle each time (about 0.1 s); each browser session has its own
    client, so without this every new session paid it before its first request."""
    return ssl.create_default_context()


class PcClient:
    """Typed calls to the PC backend; every method raises `PcError` on any failure."""

    def __init__(self, config: CockpitConfig, *, transport: httpx.BaseTransport | None = None):
        self.config = config
        self._token = read_token(config.token_file)
        self._http = httpx.Client(
            base_url=config.pc_url,
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=SHORT_TIMEOUT,
            trust_env=False,  # a proxy from the environment must never see loopback traffic
            verify=tls_context(),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    # -- transport -------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, json: Any = None,
                 params: Mapping[str, Any] | None = None, timeout: float | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=json, params=params,
                                          timeout=timeout or SHORT_TIMEOUT)
        except httpx.TimeoutException:
            raise PcError("TIMEOUT", f"{method} {path} timed out",
                          context={"seconds": timeout or SHORT_TIMEOUT}) from None
        except httpx.TransportError as exc:
            raise PcError("PC_DOWN", f"{type(exc).__name__}: {exc}",
                          context={"url": self.config.pc_url}) from None
        if response.status_code >= 400:
            raise self._error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise PcError("BAD_ANSWER", f"{method} {path}: not JSON",
                          status=response.status_code) from None

    def _error(self, response: httpx.Response) -> PcError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {"detail": body}
        code = str(body.get("error") or f"HTTP_{response.status_code}")
        message = str(body.get("message") or body.get("detail") or response.text[:300])
        return PcError(code, message, status=response.status_code, field=body.get("field"),
                       body=body, context={"path": str(self.config.token_file),
                                           "url": self.config.pc_url})

    def _model(self, model: type[M], data: Any, what: str) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise PcError("BAD_ANSWER", f"{what}: {exc.errors()[0].get('msg')}") from None

    def _models(self, model: type[M], data: Any, what: str) -> list[M]:
        try:
            return TypeAdapter(list[model]).validate_python(data)  # type: ignore[valid-type]
        except ValidationError as exc:
            raise PcError("BAD_ANSWER", f"{what}: {exc.errors()[0].get('msg')}") from None

    # -- routes ----------------------------------------------------------------------------
    def health(self) -> PcHealth:
        try:
            response = self._http.get("/health", timeout=5.0)
        except httpx.TransportError as exc:
            raise PcError("PC_DOWN", str(exc), context={"url": self.config.pc_url}) from None
        if response.status_code >= 400:
            raise self._error(response)
        try:
            data = response.json()
        except ValueError:
            raise PcError("BAD_ANSWER", "GET /health: not JSON",
                          status=response.status_code) from None
        return self._model(PcHealth, data, "health")

    def status(self) -> PcStatus:
        return self._model(PcStatus, self._request("GET", "/api/v1/status"), "status")

    def pull(self) -> PullResult:
        return self._model(PullResult, self._request("POST", "/api/v1/pull", timeout=60.0),
                           "pull")

    def snapshot(self) -> SyncSnapshot:
        return self._model(SyncSnapshot, self._request("GET", "/api/v1/snapshot"), "snapshot")

    def portfolio(self) -> Portfolio:
        data = self._request("GET", "/api/v1/workspace/portfolio")
        return self._model(Portfolio, data, "portfolio")

    def put_portfolio(self, portfolio: Portfolio | dict[str, Any]) -> Portfolio:
        body = portfolio.model_dump(mode="json") if isinstance(portfolio, BaseModel) else portfolio
        data = self._request("PUT", "/api/v1/workspace/portfolio", json=body)
        return self._model(Portfolio, data, "portfolio")

    def settings(self) -> Settings:
        return self._model(Settings, self._request("GET", "/api/v1/workspace/settings"),
                           "settings")

    def put_settings(self, settings: Settings | dict[str, Any]) -> Settings:
        body = settings.model_dump(mode="json") if isinstance(settings, BaseModel) else settings
        data = self._request("PUT", "/api/v1/workspace/settings", json=body)
        return self._model(Settings, data, "settings")

    def discard_edits(self) -> Diff:
        return self._model(Diff, self._request("DELETE", "/api/v1/workspace/edits"), "diff")

    def diff(self) -> Diff:
        return self._model(Diff, self._request("GET", "/api/v1/diff"), "diff")

    def push(self, reason: str, actor: str = "operator") -> PcPushResponse:
        data = self._request("POST", "/api/v1/push", json={"reason": reason, "actor": actor},
                             timeout=60.0)
        return self._model(PcPushResponse, data, "push")

    def resolve(self, choices: list[ConflictChoice]) -> Diff:
        body = {"choices": [c.model_dump(mode="json") for c in choices]}
        return self._model(Diff, self._request("POST", "/api/v1/conflicts/resolve", json=body),
                           "diff")

    def plan(self) -> OrderPlan:
        return self._model(OrderPlan, self._request("GET", "/api/v1/plan"), "plan")

    def draft(self) -> StoredDraft:
        return self._model(StoredDraft, self._request("POST", "/api/v1/tickets/draft", json={}),
                           "draft")

    def get_draft(self) -> StoredDraft | None:
        try:
            data = self._request("GET", "/api/v1/tickets/draft")
        except PcError as exc:
            if exc.code == "NO_DRAFT" or exc.status == 404:
                return None
            raise
        return self._model(StoredDraft, data, "draft")

    def discard_draft(self) -> None:
        self._request("DELETE", "/api/v1/tickets/draft")

    def submit(self) -> TicketRecord:
        data = self._request("POST", "/api/v1/tickets/submit", json={"confirm": True},
                             timeout=60.0)
        return self._model(TicketRecord, data, "ticket record")

    def tickets(self, limit: int = 50) -> list[TicketRecord]:
        data = self._request("GET", "/api/v1/tickets", params={"limit": limit})
        return self._models(TicketRecord, data, "tickets")

    def ticket(self, ticket_id: str) -> TicketRecord:
        return self._model(TicketRecord, self._request("GET", f"/api/v1/tickets/{ticket_id}"),
                           "ticket")

    def record_fills(self, ticket_id: str, fills: list[dict[str, Any]], *, final: bool,
                     note: str = "") -> TicketRecord:
        data = self._request("POST", f"/api/v1/tickets/{ticket_id}/fills",
                             json={"fills": fills, "final": final, "note": note})
        return self._model(TicketRecord, data, "ticket record")

    def emergency_stop(self) -> EmergencyStop:
        return self._model(EmergencyStop, self._request("GET", "/api/v1/emergency-stop"),
                           "emergency stop")

    def set_emergency_stop(self, on: bool, reason: str, by: str = "operator") -> EmergencyStop:
        data = self._request("POST", "/api/v1/emergency-stop",
                             json={"on": on, "reason": reason, "by": by})
        return self._model(EmergencyStop, data, "emergency stop")

    def broker_status(self) -> BrokerStatus:
        return self._model(BrokerStatus, self._request("GET", "/api/v1/broker/status"),
                           "broker status")

    def reconcile(self) -> Reconciliation:
        return self._model(Reconciliation, self._request("POST", "/api/v1/broker/reconcile"),
                           "reconciliation")

    def resolve_reconciliation(self, choice: str, reason: str) -> Reconciliation:
        data = self._request("POST", "/api/v1/broker/reconcile/resolve",
                             json={"choice": choice, "reason": reason})
        return self._model(Reconciliation, data, "reconciliation")

    def audit(self, *, limit: int = 200, action: str | None = None, target: str | None = None,
              since: datetime | None = None) -> list[AuditEntry]:
        params: dict[str, Any] = {"limit": limit}
        if action:
            params["action"] = action
        if target:
            params["target"] = target
        if since is not None:
            params["since"] = since.isoformat()
        return self._models(AuditEntry, self._request("GET", "/api/v1/audit", params=params),
                            "audit")

    def run_cycle(self, asof: date | None = None) -> CycleResponse:
        body = {"asof": asof.isoformat()} if asof else {}
        data = self._request("POST", "/api/v1/ops/cycle", json=body, timeout=LONG_TIMEOUT)
        return self._model(CycleResponse, data, "cycle")

    def backtest(self, start: date, end: date, params: Mapping[str, Any] | None = None,
                 universe: list[str] | None = None) -> BacktestResponse:
        body = BacktestRequest(start=start, end=end, params=dict(params or {}),
                               universe=list(universe) if universe is not None else None)
        data = self._request("POST", "/api/v1/backtest", json=body.model_dump(mode="json"),
                             timeout=LONG_TIMEOUT)
        return self._model(BacktestResponse, data, "backtest")

    def backtest_series(self, start: date, end: date) -> BacktestSeries:
        """The per-session series of the pulled settings' backtest (the Overview chart)."""
        body = BacktestRequest(start=start, end=end)
        data = self._request("POST", "/api/v1/backtest/series",
                             json=body.model_dump(mode="json"))
        return self._model(BacktestSeries, data, "backtest series")

    def sweep(self, start: date, end: date, grid: Mapping[str, list[Any]],
              objective: str = "sharpe") -> SweepResponse:
        body = SweepRequest(start=start, end=end, grid=dict(grid), objective=objective)
        data = self._request("POST", "/api/v1/sweep", json=body.model_dump(mode="json"),
                             timeout=LONG_TIMEOUT)
        return self._model(SweepResponse, data, "sweep")

    def walkforward(self, body: WalkForwardRequest) -> WalkForwardResponse:
        data = self._request("POST", "/api/v1/walkforward", json=body.model_dump(mode="json"),
                             timeout=LONG_TIMEOUT)
        return self._model(WalkForwardResponse, data, "walk-forward")


SESSION_KEY = "pc_client"


def get_client() -> PcClient:
    """The session's cached client (created on first use; re-created when the configuration
    changed or the token file was missing last time). Raises `PcError` (e.g. NO_TOKEN)."""
    import streamlit as st

    config = CockpitConfig.from_env()
    client = st.session_state.get(SESSION_KEY)
    if isinstance(client, PcClient) and client.config == config:
        return client
    if isinstance(client, PcClient):
        client.close()
    client = PcClient(config)
    st.session_state[SESSION_KEY] = client
    return client
