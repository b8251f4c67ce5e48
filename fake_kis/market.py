"""The fake's account and matching engine over the day's bars (no HTTP here).

One account (cash, holdings with the purchase average, the orders of every day), a session
(date and phase) set by the test-only control routes, and the matching rules:

- `open`: an order resting from `preopen` or placed now that is marketable against the bar's
  open (buy limit >= open, sell limit <= open) fills at the open moved by the slippage, never
  beyond its limit;
- `intraday`: an order whose limit the bar reached (low <= buy limit, high >= sell limit) fills
  at its limit;
- otherwise the order stays open until the close; `close` and a new session date end matching;
- `fill_mode="open"` (the backtest's execution model, STRATEGY.md: fills at the next open): every
  order accepted for the session fills at that session's open moved by the slippage, whatever
  its limit (in either matching phase); the default `"limit"` is the limit-honouring engine above;
- partial fills: with `partial_fraction` f, each match step fills ceil(f x qty) of a matchable
  order (a step: a placement, a phase change, a poll of inquire-daily-ccld, `/__fake__/step`).

Fees and tax come from `strategy.rules.fill_terms` (the one fee rule), with the commission from
the settings defaults unless configured; ticks from `strategy.ticketing.is_on_tick`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from typing import Any

import pandas as pd

from contracts.instruments import instrument, is_known
from contracts.settings import StrategyParams
from fake_kis import codes
from fake_kis.codes import KisCode
from krx_common.defaults import KST
from strategy.marketdata.base import MarketDataProvider
from strategy.marketdata.errors import MarketDataError
from strategy.rules import SIDE_BUY, SIDE_SELL, fill_terms
from strategy.ticketing import is_on_tick

PHASES = ("preopen", "open", "intraday", "close")
PHASE_CLOCK = {"preopen": time(8, 40), "open": time(9, 0), "intraday": time(11, 0),
               "close": time(15, 30)}
SELL, BUY = "01", "02"  # KIS sll_buy_dvsn_cd
FILL_MODES = ("limit", "open")
_DEFAULTS = StrategyParams()  # the repo's settings defaults: commission, slippage, capital


class Rejected(Exception):
    def __init__(self, code: KisCode, detail: str = "") -> None:
        super().__init__(code.code)
        self.kis, self.detail = code, detail


@dataclass
class FakeOrder:
    odno: str
    orgno: str
    ticker: str
    side: str  # SELL "01" / BUY "02"
    qty: int
    limit: int
    ord_date: str  # YYYYMMDD
    ord_tmd: str  # HHMMSS
    source: str = "api"  # "api" or "hts" (placed outside our client)
    orgn_odno: str = ""  # set on a cancel row: the order it cancels
    filled: int = 0
    fill_amount: float = 0.0
    fees: float = 0.0
    cancelled: int = 0
    rejected: int = 0
    fill_price: float | None = None

    @property
    def remaining(self) -> int:
        return max(0, self.qty - self.filled - self.cancelled - self.rejected)

    @property
    def is_cancel_row(self) -> bool:
        return bool(self.orgn_odno)


@dataclass
class Holding:
    qty: int
    avg_price: float


@dataclass
class MarketConfig:
    initial_cash: float = _DEFAULTS.initial_capital
    initial_holdings: dict[str, Holding] = field(default_factory=dict)
    commission: float = _DEFAULTS.commission
    slippage_bps: float = _DEFAULTS.slippage * 10_000
    partial_fraction: float | None = None
    fill_mode: str = "limit"  # FILL_MODES: "limit" honours the limit, "open" fills at the open
    page_size: int = 15  # KIS paper: 15 rows per inquire-daily-ccld page (real: 100)
    halted: list[str] = field(default_factory=list)
    cano: str = "50000000"
    acnt_prdt_cd: str = "01"


@dataclass
class Account:
    cash: float
    holdings: dict[str, Holding]
    orders: list[FakeOrder] = field(default_factory=list)
    next_odno: int = 1
    clock_seq: int = 0


def _kind(ticker: str) -> str:
    return instrument(ticker).kind if is_known(ticker) else "stock"


class Market:
    """Session, account and matching; callers hold the fake's lock around every call."""

    def __init__(self, provider: MarketDataProvider, config: MarketConfig,
                 session_date: date, phase: str = "open") -> None:
        self.provider, self.config = provider, config
        self.session_date, self.phase = session_date, phase
        self.account = Account(config.initial_cash, {t: Holding(h.qty, h.avg_price)
                                                     for t, h in config.initial_holdings.items()})
        self._bars: dict[str, pd.DataFrame | None] = {}

    # -- market data ---------------------------------------------------------------------------
    def _frame(self, ticker: str) -> pd.DataFrame | None:
        if ticker not in self._bars:
            try:
                self._bars[ticker] = self.provider.load([ticker], end=date(2100, 1, 1))[ticker]
            except (MarketDataError, ValueError):
                self._bars[ticker] = None
        return self._bars[ticker]

    def bar(self, ticker: str, day: date | None = None) -> dict[str, float] | None:
        frame = self._frame(ticker)
        stamp = pd.Timestamp(day or self.session_date)
        if frame is None or stamp not in frame.index:
            return None
        i = int(frame.index.get_loc(stamp))  # type: ignore[arg-type]
        return {k: float(frame[k].to_numpy()[i])
                for k in ("open", "high", "low", "close", "volume")}

    def previous_close(self, ticker: str) -> float | None:
        frame = self._frame(ticker)
        if frame is None:
            return None
        before = frame[frame.index < pd.Timestamp(self.session_date)]
        return float(before["close"].to_numpy()[-1]) if len(before) else None

    def knows(self, ticker: str) -> bool:
        return self._frame(ticker) is not None

    # -- clock ---------------------------------------------------------------------------------
    def now_tmd(self) -> str:
        """HHMMSS of the session's phase, one second later at each call (distinct times)."""
        self.account.clock_seq += 1
        base = datetime.combine(self.session_date, PHASE_CLOCK[self.phase], KST)
        stamp = base + pd.Timedelta(seconds=self.account.clock_seq % 3600)
        return stamp.strftime("%H%M%S")

    def set_session(self, day: date | None, phase: str | None) -> None:
        if phase is not None and phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, not {phase!r}")
        if day is not None and day != self.session_date:
            self.session_date, self.account.clock_seq = day, 0
        if phase is not None:
            self.phase = phase
        self.step()

    # -- orders --------------------------------------------------------------------------------
    def today_orders(self) -> list[FakeOrder]:
        key = f"{self.session_date:%Y%m%d}"
        return [o for o in self.account.orders if o.ord_date == key]

    def _reserved_cash(self) -> float:
        c = self.config.commission
        return sum(o.remaining * o.limit * (1 + c) for o in self.today_orders()
                   if o.side == BUY and not o.is_cancel_row)

    def _reserved_qty(self, ticker: str) -> int:
        return sum(o.remaining for o in self.today_orders()
                   if o.side == SELL and o.ticker == ticker and not o.is_cancel_row)

    def place(self, ticker: str, side: str, qty: int, limit: int, source: str = "api") -> FakeOrder:
        """Accept an order or raise `Rejected` with the KIS code; a match step follows."""
        if not self.knows(ticker):
            raise Rejected(codes.UNKNOWN_TICKER, ticker)
        if self.phase == "close" or self.bar(ticker) is None:
            raise Rejected(codes.MARKET_CLOSED, f"{self.session_date} {self.phase}")
        if ticker in self.config.halted:
            raise Rejected(codes.HALTED, ticker)
        if qty <= 0 or limit <= 0 or not is_on_tick(limit, _kind(ticker)):
            raise Rejected(codes.INVALID_TICK, f"{ticker} {limit}")
        if side == BUY:
            need = qty * limit * (1 + self.config.commission)
            if need > self.account.cash - self._reserved_cash() + 1e-6:
                raise Rejected(codes.CASH_SHORT, f"needs {need:.0f}")
        else:
            held = self.account.holdings.get(ticker)
            if held is None or qty > held.qty - self._reserved_qty(ticker):
                raise Rejected(codes.HOLDINGS_SHORT, ticker)
        order = FakeOrder(odno=f"{self.account.next_odno:010d}", orgno="06010", ticker=ticker,
                          side=side, qty=qty, limit=limit,
                          ord_date=f"{self.session_date:%Y%m%d}", ord_tmd=self.now_tmd(),
                          source=source)
        self.account.next_odno += 1
        self.account.orders.append(order)
        self.step()
        return order

    def find(self, odno: str) -> FakeOrder | None:
        return next((o for o in self.account.orders if o.odno == odno), None)

    def cancel(self, odno: str, orgno: str) -> FakeOrder:
        """Cancel the whole remainder of a today's order; the cancel is a row of its own."""
        order = self.find(odno)
        if order is None or order.is_cancel_row or order.orgno != orgno:
            raise Rejected(codes.NO_SUCH_ORDER, odno)
        if order.ord_date != f"{self.session_date:%Y%m%d}" or order.remaining == 0:
            raise Rejected(codes.NOTHING_TO_CANCEL, odno)
        qty = order.remaining
        order.cancelled += qty
        row = FakeOrder(odno=f"{self.account.next_odno:010d}", orgno=order.orgno,
                        ticker=order.ticker, side=order.side, qty=qty, limit=order.limit,
                        ord_date=order.ord_date, ord_tmd=self.now_tmd(), source=order.source,
                        orgn_odno=order.odno, cancelled=qty)
        self.account.next_odno += 1
        self.account.orders.append(row)
        return row

    # -- matching ------------------------------------------------------------------------------
    def step(self) -> None:
        """One match step over today's open orders (see the module docstring)."""
        if self.phase not in ("open", "intraday"):
            return
        for order in self.today_orders():
            if order.is_cancel_row or order.remaining == 0:
                continue
            bar = self.bar(order.ticker)
            if bar is None or order.ticker in self.config.halted:
                continue
            if order.fill_price is None:
                order.fill_price = self._price_for(order, bar)
            if order.fill_price is not None:
                self._fill(order, self._step_qty(order))

    def _price_for(self, order: FakeOrder, bar: dict[str, float]) -> float | None:
        slip = self.config.slippage_bps / 10_000
        if self.config.fill_mode == "open":
            return bar["open"] * (1 + slip) if order.side == BUY else bar["open"] * (1 - slip)
        if self.phase == "open":
            if order.side == BUY and order.limit >= bar["open"]:
                return min(bar["open"] * (1 + slip), float(order.limit))
            if order.side == SELL and order.limit <= bar["open"]:
                return max(bar["open"] * (1 - slip), float(order.limit))
            return None
        if order.side == BUY and bar["low"] <= order.limit:
            return float(order.limit)
        if order.side == SELL and bar["high"] >= order.limit:
            return float(order.limit)
        return None

    def _step_qty(self, order: FakeOrder) -> int:
        f = self.config.partial_fraction
        if not f:
            return order.remaining
        return min(order.remaining, max(1, math.ceil(f * order.qty)))

    def _fill(self, order: FakeOrder, qty: int) -> None:
        assert order.fill_price is not None
        price = order.fill_price
        is_stock = _kind(order.ticker) == "stock"
        side = SIDE_BUY if order.side == BUY else SIDE_SELL
        _, _, notional, comm, tax, cash_after = fill_terms(
            side, price, qty, 0.0, self.config.commission, self.session_date.year, is_stock,
            False, self.account.cash, 0.0)
        self.account.cash = cash_after
        held = self.account.holdings.get(order.ticker)
        if order.side == BUY:
            if held is None:
                self.account.holdings[order.ticker] = Holding(qty, price)
            else:
                total = held.qty + qty
                held.avg_price = (held.qty * held.avg_price + notional) / total
                held.qty = total
        else:
            assert held is not None
            held.qty -= qty
            if held.qty == 0:
                del self.account.holdings[order.ticker]
        order.filled += qty
        order.fill_amount += notional
        order.fees += comm + tax

    # -- persistence ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"session_date": self.session_date.isoformat(), "phase": self.phase,
                "config": {**asdict(self.config)},
                "account": {"cash": self.account.cash,
                            "holdings": {t: asdict(h) for t, h in self.account.holdings.items()},
                            "orders": [asdict(o) for o in self.account.orders],
                            "next_odno": self.account.next_odno,
                            "clock_seq": self.account.clock_seq}}

    def load_json(self, data: dict[str, Any]) -> None:
        self.session_date = date.fromisoformat(data["session_date"])
        self.phase = data["phase"]
        cfg = dict(data["config"])
        cfg["initial_holdings"] = {t: Holding(**h) for t, h in cfg["initial_holdings"].items()}
        self.config = MarketConfig(**cfg)
        acc = data["account"]
        self.account = Account(
            cash=acc["cash"], holdings={t: Holding(**h) for t, h in acc["holdings"].items()},
            orders=[FakeOrder(**o) for o in acc["orders"]], next_odno=acc["next_odno"],
            clock_seq=acc["clock_seq"])
