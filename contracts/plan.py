"""`reports/plans/<plan_id>.json`: the order plan for one as-of session."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from contracts.common import Contract, KstDatetime, Ticker, now_kst
from contracts.signals import ReasonCode


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class PlanDecision(StrEnum):
    READY = "READY"
    EMPTY = "EMPTY"
    BLOCKED = "BLOCKED"


class PlannedOrder(Contract):
    side: Side
    ticker: Ticker
    name: str
    kind: str
    qty: Annotated[int, Field(gt=0)]
    ref_price: Annotated[float, Field(gt=0)] = Field(description="close of the as-of session")
    est_price: Annotated[float, Field(gt=0)] = Field(description="ref price ± slippage")
    est_notional: float = Field(ge=0)
    est_commission: float = Field(ge=0)
    est_tax: float = Field(ge=0)
    est_slippage: float = Field(ge=0)
    reason: ReasonCode
    score: float | None = None
    rank: int | None = None


class GuardrailCheck(Contract):
    code: str
    ok: bool
    value: float
    limit: float
    message: str


class OrderPlan(Contract):
    plan_id: str
    asof: date
    created_at: KstDatetime = Field(default_factory=now_kst)
    portfolio_revision: int = Field(ge=0)
    settings_revision: int = Field(ge=0)
    decision: PlanDecision
    reasons: list[str] = Field(default_factory=list)
    orders: list[PlannedOrder] = Field(default_factory=list)
    checks: list[GuardrailCheck] = Field(default_factory=list)
    equity: float = Field(ge=0)
    cash: float = Field(ge=0)
    reserve: float = Field(ge=0)
    est_cash_after: float
    synthetic_data: bool = False
