"""Manual execution tickets: drafted from a plan on the PC, verified and processed on OCI.

Files live in `reports/tickets/{submitted,processing,results}/<ticket_id>.json` (`STATE_BOX`
says which state lives where); the state changes by atomic rename between those folders
(maildir pattern), along the edges of `ALLOWED_TRANSITIONS`.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from contracts.common import Contract, KstDatetime, PositiveFloat, Ticker, now_kst
from contracts.plan import Side
from contracts.settings import ExecutionMode
from contracts.signals import ReasonCode

# The one id syntax of plans and tickets: they become file names on OCI and URL path segments
# on the PC. Letters, digits, '_', '-', '.'; 1-128 characters; no leading dot, no separator.
ID_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{0,127}")
ID_RULE = "letters, digits, '_', '-', '.'; 1-128 characters, not starting with '.'"


def is_valid_id(value: object) -> bool:
    """Does `value` follow the id syntax (`ID_RE`, matched in full)?"""
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None


class TicketState(StrEnum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    PROCESSING = "PROCESSING"
    AWAITING_NEXT_OPEN = "AWAITING_NEXT_OPEN"
    DRY_RUN_FILLED = "DRY_RUN_FILLED"
    AWAITING_MANUAL_EXECUTION = "AWAITING_MANUAL_EXECUTION"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLS_RECORDED = "FILLS_RECORDED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"
    # Broker modes (BROKER_PAPER / BROKER_LIVE): OCI places the orders itself.
    SENDING = "SENDING"
    SENT = "SENT"
    BROKER_PARTIALLY_FILLED = "BROKER_PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    BROKER_REJECTED = "BROKER_REJECTED"


TERMINAL_STATES = frozenset(
    {TicketState.DRY_RUN_FILLED, TicketState.FILLS_RECORDED, TicketState.REJECTED,
     TicketState.FAILED, TicketState.FILLED, TicketState.CANCELLED,
     TicketState.BROKER_REJECTED}
)

_S = TicketState
# Every legal edge of a ticket's life; anything else is a bug and raises `IllegalTransition`.
# SUBMITTED → PROCESSING: the processor claims it. PROCESSING → AWAITING_NEXT_OPEN: a DRY_RUN
# ticket waits for the bar of the session after its plan; → DRY_RUN_FILLED once it is there.
# PROCESSING/AWAITING_NEXT_OPEN → SUBMITTED: `recover` returns a claim nothing was applied for.
# Broker modes: PROCESSING → SENDING (the lines are being placed, one durable intent each;
# never returned to SUBMITTED: a crash is resolved by asking the broker) → SENT once every line
# is placed (or refused) → BROKER_PARTIALLY_FILLED as fills arrive → FILLED; an unfilled
# remainder cancelled at the close or by the emergency stop → CANCELLED; every line refused by
# the broker → BROKER_REJECTED.
_BROKER_DONE = frozenset({_S.FILLED, _S.CANCELLED})
ALLOWED_TRANSITIONS: dict[TicketState, frozenset[TicketState]] = {
    _S.DRAFT: frozenset({_S.SUBMITTED}),
    _S.SUBMITTED: frozenset({_S.PROCESSING}),
    _S.PROCESSING: frozenset({_S.AWAITING_NEXT_OPEN, _S.DRY_RUN_FILLED,
                              _S.AWAITING_MANUAL_EXECUTION, _S.REJECTED, _S.FAILED,
                              _S.SUBMITTED, _S.SENDING}),
    _S.SENDING: frozenset({_S.SENT, _S.BROKER_REJECTED, _S.CANCELLED}),
    _S.SENT: frozenset({_S.BROKER_PARTIALLY_FILLED, *_BROKER_DONE}),
    _S.BROKER_PARTIALLY_FILLED: frozenset({_S.BROKER_PARTIALLY_FILLED, *_BROKER_DONE}),
    _S.FILLED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.BROKER_REJECTED: frozenset(),
    _S.AWAITING_NEXT_OPEN: frozenset({_S.DRY_RUN_FILLED, _S.REJECTED, _S.FAILED}),
    _S.AWAITING_MANUAL_EXECUTION: frozenset({_S.PARTIALLY_FILLED, _S.FILLS_RECORDED}),
    _S.PARTIALLY_FILLED: frozenset({_S.PARTIALLY_FILLED, _S.FILLS_RECORDED}),
    _S.DRY_RUN_FILLED: frozenset(),
    _S.FILLS_RECORDED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.FAILED: frozenset(),
}


class TicketBox(StrEnum):
    """The folders of `reports/tickets/` a ticket moves through on OCI (maildir pattern)."""

    SUBMITTED = "submitted"
    PROCESSING = "processing"
    RESULTS = "results"


_B = TicketBox
# Where a ticket in each state is stored on OCI (DRAFT lives only on the PC). processing/ also
# holds a write-ahead record of fills about to be applied, in the state they will produce.
STATE_BOX: dict[TicketState, TicketBox | None] = {
    _S.DRAFT: None,
    _S.SUBMITTED: _B.SUBMITTED,
    _S.PROCESSING: _B.PROCESSING,
    _S.AWAITING_NEXT_OPEN: _B.RESULTS,
    _S.AWAITING_MANUAL_EXECUTION: _B.RESULTS,
    _S.PARTIALLY_FILLED: _B.RESULTS,
    _S.DRY_RUN_FILLED: _B.RESULTS,
    _S.FILLS_RECORDED: _B.RESULTS,
    _S.REJECTED: _B.RESULTS,
    _S.FAILED: _B.RESULTS,
    _S.SENDING: _B.PROCESSING,
    _S.SENT: _B.RESULTS,
    _S.BROKER_PARTIALLY_FILLED: _B.RESULTS,
    _S.FILLED: _B.RESULTS,
    _S.CANCELLED: _B.RESULTS,
    _S.BROKER_REJECTED: _B.RESULTS,
}


class IllegalTransition(RuntimeError):
    """A ticket was asked to move along an edge `ALLOWED_TRANSITIONS` does not have."""

    def __init__(self, before: TicketState, after: TicketState) -> None:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[before])) or "none (terminal)"
        super().__init__(f"illegal ticket transition {before.value} → {after.value} "
                         f"(allowed from {before.value}: {allowed})")
        self.before, self.after = before, after


def check_transition(before: TicketState, after: TicketState) -> None:
    """Raise `IllegalTransition` unless `before → after` is in `ALLOWED_TRANSITIONS`."""
    if after not in ALLOWED_TRANSITIONS[before]:
        raise IllegalTransition(before, after)


class ProblemCode(StrEnum):
    """Why a ticket does not match its plan (`strategy.ticketing.ticket_problems`)."""

    STALE = "STALE"
    PLAN_NOT_READY = "PLAN_NOT_READY"
    MODE_MISMATCH = "MODE_MISMATCH"
    TICKET_ID = "TICKET_ID"
    NOT_IN_PLAN = "NOT_IN_PLAN"
    WRONG_SIDE = "WRONG_SIDE"
    QTY_ABOVE_PLAN = "QTY_ABOVE_PLAN"
    KIND_MISMATCH = "KIND_MISMATCH"
    OFF_TICK = "OFF_TICK"
    LIMIT_AWAY = "LIMIT_AWAY"
    OUTSIDE_UNIVERSE = "OUTSIDE_UNIVERSE"
    GUARDRAIL_MAX_SINGLE_ORDER = "GUARDRAIL_MAX_SINGLE_ORDER"
    GUARDRAIL_MAX_ORDERS = "GUARDRAIL_MAX_ORDERS"
    GUARDRAIL_MAX_BUY_TURNOVER = "GUARDRAIL_MAX_BUY_TURNOVER"
    GUARDRAIL_MIN_CASH = "GUARDRAIL_MIN_CASH"


class TicketOrder(Contract):
    side: Side
    ticker: Ticker
    name: str = Field(description="Korean instrument name as shown in HTS/MTS")
    kind: str
    qty: Annotated[int, Field(gt=0)]
    limit_price: Annotated[int, Field(gt=0)] = Field(description="KRW, on a valid KRX tick")
    est_notional: float = Field(ge=0)
    est_fees: float = Field(ge=0, description="commission + tax estimate")
    cash_budget: float | None = Field(
        default=None, ge=0,
        description="buys: the most this buy may spend (notional + commission), the cash "
                    "above the plan's reserve left after the sells and the buys ranked before "
                    "it, estimated at the limit; `qty` is the sized cap. None for sells")
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
    actor: str = Field(default="operator", min_length=1, max_length=100,
                       description="who traded and records the fills (the audit's actor)")


class TicketEvent(Contract):
    at: KstDatetime = Field(default_factory=now_kst)
    state: TicketState
    message: str = Field(default="", description="what happened, in English (logs, old records)")
    code: str = Field(
        default="", description="what happened as a code, worded in the operator's language from "
                                "`tkevent.<code>` (krx_common.i18n); empty on older records")
    params: dict[str, str | int | float] = Field(
        default_factory=dict, description="the names and numbers the words of `code` need "
                                          "(actor, counts, the session, a reason's code)")


class LineState(StrEnum):
    """One ticket line at the broker. PENDING: not sent yet. SENDING: the intent is durable,
    the HTTP call may or may not have reached the broker (recovery asks the broker). SENT:
    the broker's order number is stored. NOT_SENT: nothing was placed (quantity re-checked to
    0, a halted ticker, or an unmatched intent resolved as not sent)."""

    PENDING = "PENDING"
    SENDING = "SENDING"
    SENT = "SENT"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    NOT_SENT = "NOT_SENT"


LINE_OPEN = frozenset({LineState.SENT, LineState.PARTIALLY_FILLED})


class BrokerLine(Contract):
    """What OCI did with one ticket line in a broker mode."""

    side: Side
    ticker: Ticker
    qty: Annotated[int, Field(ge=0, description="the quantity sent (a buy re-checked at send "
                                               "time, never above the ticket's)")]
    limit_price: Annotated[int, Field(gt=0)]
    state: LineState = LineState.PENDING
    client_tag: str = Field(default="", description="our tag of the send intent")
    intent_at: KstDatetime | None = None
    after_order_no: str | None = Field(
        default=None, description="the highest order number this root knew when the intent "
                                  "was written: the line's order comes after it")
    order_no: str | None = Field(default=None, description="the broker's ODNO")
    org_no: str | None = None
    placed_at: KstDatetime | None = None
    filled_qty: Annotated[int, Field(ge=0)] = 0
    filled_value: float = Field(default=0.0, ge=0, description="sum of qty × price recorded")
    message: str = ""

    @property
    def remaining_qty(self) -> int:
        return max(0, self.qty - self.filled_qty) if self.state in LINE_OPEN else 0


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
    replay: bool = Field(default=False, description="written by a replay data root")
    incidents: list[str] = Field(
        default_factory=list,
        description="guardrail incidents raised by this ticket's fills (e.g. cash below the "
                    "reserve after a MANUAL fill: accepted, it happened at the broker)")
    broker_lines: list[BrokerLine] = Field(
        default_factory=list,
        description="broker modes: each line's state at the broker, sells first then buys")


class IdempotencyRecord(Contract):
    """`reports/tickets/keys/<sha256(key)>.json`: which ticket an Idempotency-Key created."""

    key_sha256: str
    ticket_id: str
    body_sha256: str
    at: KstDatetime
