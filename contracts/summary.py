"""`reports/ops/summary/ops_summary_latest.json`: what the daily cycle found and decided."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field

from contracts.common import Contract, KstDatetime, now_kst
from contracts.plan import PlanDecision
from contracts.settings import ExecutionMode
from contracts.signals import Signals


class Stage(StrEnum):
    NO_ACTION_TODAY = "NO_ACTION_TODAY"
    PLAN_READY = "PLAN_READY"
    TICKET_DRAFTED = "TICKET_DRAFTED"
    SUBMITTED = "SUBMITTED"
    DRY_RUN_FILLED = "DRY_RUN_FILLED"
    AWAITING_MANUAL_EXECUTION = "AWAITING_MANUAL_EXECUTION"
    FILLS_RECORDED = "FILLS_RECORDED"
    DONE_TODAY = "DONE_TODAY"
    BLOCKED = "BLOCKED"
    STOPPED = "STOPPED"
    STALE_TICKET = "STALE_TICKET"
    FAILED = "FAILED"


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    WARN = "WARN"
    INFO = "INFO"


class OverallStatus(StrEnum):
    OK = "OK"
    WARN = "WARN"
    BLOCKED = "BLOCKED"
    FAILED = "FAILED"


class Risk(Contract):
    code: str
    severity: Severity
    message: str
    params: dict[str, str | int | float] = Field(
        default_factory=dict,
        description="the numbers and names in `message`, by name: the operator's language words "
                    "the risk from `code` + `params` (krx_common.i18n `risk.<code>`)")


class DataFreshness(Contract):
    provider: str
    synthetic: bool
    expected_session: date | None
    last_bar: dict[str, date] = Field(default_factory=dict)
    stale: bool
    message: str = ""


class PlanSummary(Contract):
    plan_id: str
    decision: PlanDecision
    n_orders: int
    n_buys: int
    n_sells: int
    reasons: list[str] = Field(default_factory=list)
    est_buy_notional: float = 0.0
    est_sell_notional: float = 0.0


class OpsSummary(Contract):
    generated_at: KstDatetime = Field(default_factory=now_kst)
    run_at: KstDatetime
    asof: date | None = Field(description="the session whose close the cycle used")
    is_session_today: bool
    holiday: bool = False
    execution_mode: ExecutionMode
    freshness: DataFreshness | None = None
    signals: Signals | None = None
    plan: PlanSummary | None = None
    stage: Stage
    risks: list[Risk] = Field(default_factory=list)
    status: OverallStatus
    portfolio_revision: int = 0
    settings_revision: int = 0
    message: str = ""
