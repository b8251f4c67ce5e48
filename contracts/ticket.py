"""Manual execution tickets: drafted from a plan on the PC, verified and processed on OCI.

Files live in `reports/tickets/{submitted,processing,results}/<ticket_id>.json`; the state
changes by atomic rename between those folders (maildir pattern).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from contracts.common import Contract, KstDatetime, PositiveFloat, Ticker, now_kst
from contracts.plan import Side
from contracts.settings import ExecutionMode
from contracts.signals import ReasonCode


class TicketState(StrEnum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    PROCESSING = "PROCESSING"
    DRY_RUN_FILLED = "DRY_RUN_FILLED"
    AWAITING_MANUAL_EXECUTION = "AWAITING_MANUAL_EXECUTION"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLS_RECORDED = "FILLS_RECORDED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"


TERMINAL_STATES = frozenset(
    {TicketState.DRY_RUN_FILLED, TicketState.FILLS_RECORDED, TicketState.REJECTED,
     TicketState.FAILED}
)


class TicketOrder(Contract):
    side: Side
    ticker: Ticker
    name: str = Field(description="Korean instrument name as shown in HTS/MTS")
    kind: str
    qty: Annotated[int, Field(gt=0)]
    limit_price: Annotated[int, Field(gt=0)] = Field(description="KRW, on a valid KRX tick")
    est_notional: float = Field(ge=0)
    est_fees: float = Field(ge=0, description="commission + tax estimate")
    reason: ReasonCode
    hts_text: str = Field(description="one line to copy into the broker's order screen")


class Ticket(Contract):
    """What the PC submits: a draft of one plan's orders."""

    ticket_id: str
    plan_id: str
    asof: date
    mode: ExecutionMode
    created_at: KstDatetime = Field(default_factory=now_kst)
    orders: list[TicketOrder] = Field(min_length=1)
    copy_text: str = ""
    confirmed: bool = Field(
        default=False, description="the operator's explicit confirmation to send these orders"
    )

    @model_validator(mode="after")
    def _one_order_per_ticker_side(self) -> Ticket:
        seen: set[tuple[str, str]] = set()
        for i, o in enumerate(self.orders):
            key = (o.side.value, o.ticker)
            if key in seen:
                raise ValueError(f"orders[{i}] repeats {o.side.value} {o.ticker}")
            seen.add(key)
        return self


class Fill(Contract):
    ticker: Ticker
    side: Side
    qty: Annotated[int, Field(gt=0)]
    price: PositiveFloat
    filled_at: KstDatetime = Field(default_factory=now_kst)
    commission: float | None = Field(default=None, ge=0, description="None = from settings")
    tax: float | None = Field(default=None, ge=0, description="None = from the tax schedule")


class FillsRequest(Contract):
    fills: list[Fill] = Field(min_length=1)
    final: bool = Field(default=False, description="no more fills will follow for this ticket")
    note: str = ""


class TicketEvent(Contract):
    at: KstDatetime = Field(default_factory=now_kst)
    state: TicketState
    message: str = ""


class TicketRecord(Contract):
    """The stored ticket: the submitted draft plus everything OCI did with it."""

    ticket: Ticket
    state: TicketState
    idempotency_key: str
    submitted_at: KstDatetime = Field(default_factory=now_kst)
    fills: list[Fill] = Field(default_factory=list)
    events: list[TicketEvent] = Field(default_factory=list)
    portfolio_revision_after: int | None = None
    message: str = ""
