"""Broker reconciliation: the broker's balance against the SSOT portfolio, field by field
(`POST /api/v1/broker/reconcile`, `reports/broker/reconcile.json`), and how the operator
resolves a difference. No credential ever appears in these bodies."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from contracts.common import Contract, KstDatetime, Reason, Ticker, now_kst


class BrokerHoldingView(Contract):
    ticker: Ticker
    qty: int = Field(ge=0)
    avg_price: float = Field(ge=0)


class FieldDiff(Contract):
    """One difference: `field` is a path in the portfolio (`cash`,
    `holdings[069500].qty`, `holdings[069500].avg_price`)."""

    field: str
    book: float | None = Field(description="the SSOT portfolio's value; None = not held")
    broker: float | None = Field(description="the broker's value; None = not held")


class Reconciliation(Contract):
    """One comparison of the broker's balance with the book."""

    at: KstDatetime = Field(default_factory=now_kst)
    clean: bool
    portfolio_revision: int
    broker_kind: Literal["paper", "real"]
    book_cash: float
    broker_cash: float
    book_holdings: list[BrokerHoldingView] = Field(default_factory=list)
    broker_holdings: list[BrokerHoldingView] = Field(default_factory=list)
    diffs: list[FieldDiff] = Field(default_factory=list)
    message: str = ""


class BrokerStatus(Contract):
    """`GET /api/v1/broker/status`: configured or not, the kind, the last reconciliation."""

    configured: bool
    kind: Literal["paper", "real"] | None = None
    execution_mode: str
    last_reconciliation: Reconciliation | None = None


class ResolveChoice(StrEnum):
    TAKE_BROKER = "take_broker"
    KEEP_BOOK = "keep_book"


class ReconcileResolveRequest(Contract):
    """How the operator settles the last reconciliation's differences: `take_broker` writes
    the broker's cash and holdings into the portfolio (a PUSH with this reason); `keep_book`
    records the decision and its reason in the audit log and changes nothing."""

    choice: ResolveChoice
    reason: Reason
    actor: Annotated[str, Field(min_length=1, max_length=100)] = "operator"


class BrokerBalance(Contract):
    """`GET /api/v1/broker/balance`: the broker's cash and holdings as it reports them."""

    broker_kind: Literal["paper", "real"]
    cash: float
    holdings: list[BrokerHoldingView] = Field(default_factory=list)
    at: KstDatetime = Field(default_factory=now_kst)
