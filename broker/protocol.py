"""What OCI needs from a broker, whichever it is: place and cancel limit orders, read an order's
state, the day's orders with their fills, the balance and a quote.

Plain frozen dataclasses (no pydantic, no HTTP): the KIS client maps its string fields into
these, the OCI ticket processor maps these into contracts (fills, reconciliation diffs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from contracts.plan import Side


class BrokerKind(StrEnum):
    """KIS has two domains with different keys and TR ids: 모의투자 (paper) and 실전 (real)."""

    PAPER = "paper"
    REAL = "real"


@dataclass(frozen=True)
class OrderRequest:
    """One limit order (KIS `ORD_DVSN` 00) at a valid KRX tick.

    `client_tag` is ours (KIS has no client order id): the ticket line's intent id, written
    durably before the send, used to match the broker's day orders after a crash.
    """

    ticker: str
    side: Side
    qty: int
    limit_price: int
    client_tag: str


@dataclass(frozen=True)
class OrderAck:
    """KIS `output` of order-cash: `ODNO` and `KRX_FWDG_ORD_ORGNO` (both needed to cancel)."""

    order_no: str
    org_no: str
    placed_at: datetime  # KST, aware (`ORD_TMD` on the session's date)


@dataclass(frozen=True)
class BrokerOrder:
    """One order of the day as the broker sees it (a row of inquire-daily-ccld)."""

    order_no: str
    org_no: str
    ticker: str
    side: Side
    qty: int
    limit_price: int
    filled_qty: int
    avg_fill_price: float  # 0.0 when nothing filled
    placed_at: datetime  # KST, aware
    cancelled_qty: int = 0
    rejected_qty: int = 0

    @property
    def remaining_qty(self) -> int:
        return max(0, self.qty - self.filled_qty - self.cancelled_qty - self.rejected_qty)

    @property
    def is_open(self) -> bool:
        return self.remaining_qty > 0


@dataclass(frozen=True)
class Holding:
    ticker: str
    qty: int
    avg_price: float  # KIS `pchs_avg_pric`


@dataclass(frozen=True)
class Balance:
    """inquire-balance: cash (`prvs_rcdl_excc_amt`, the deposit once today's trades settle; else
    `dnca_tot_amt`) and the holdings with quantity > 0."""

    cash: float
    holdings: tuple[Holding, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Quote:
    ticker: str
    price: int  # `stck_prpr`, the current (last) price
    open: int  # `stck_oprc`
    halted: bool = False


class BrokerError(RuntimeError):
    """A broker answer that is not a success, keeping the broker's own code and message
    (KIS: `msg_cd` / `msg1`; `rt_cd` != "0")."""

    def __init__(self, code: str, message: str, *, http_status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.http_status = code, message, http_status


class BrokerConfigError(BrokerError):
    """The configuration cannot work (a paper key on the real domain, EGW02004; bad
    credentials): a start-up error, never retried."""


class BrokerRateLimited(BrokerError):
    """EGW00201: too many requests per second; back off and retry later."""


class BrokerTokenError(BrokerError):
    """The access token could not be issued or refreshed (EGW00133: one issuance a minute)."""


class OrderRejected(BrokerError):
    """The broker refused this order (cash, tick, market closed, halted...): not retried."""


class BrokerUnavailable(BrokerError):
    """No answer or a 5xx: the outcome of a send is UNKNOWN and must be recovered by asking
    the broker (`day_orders`), never by resending."""


class Broker(Protocol):
    """The one broker interface OCI uses. Synchronous (OCI's ticket processor runs in a
    thread); every method may raise `BrokerError` subclasses above."""

    kind: BrokerKind

    def place(self, order: OrderRequest) -> OrderAck: ...

    def order_status(self, order_no: str, session: date) -> BrokerOrder | None: ...

    def cancel(self, order: BrokerOrder) -> None:
        """Cancel the whole remainder (`order-rvsecncl`, QTY_ALL_ORD_YN Y)."""
        ...

    def day_orders(self, session: date) -> list[BrokerOrder]:
        """Every order of `session` with its fills (inquire-daily-ccld, all pages)."""
        ...

    def balance(self) -> Balance: ...

    def quote(self, ticker: str) -> Quote: ...
