"""Fill accounting: a ticket's fills at the next open, and fills → portfolio. Pure.

Both use `rules.fill_terms`, the one fee/fill rule the compiled backtest kernel runs, so a
DRY_RUN ticket filled here and the backtest's fills at the same open agree to the last bit:
sells first (in the ticket's order), then buys in rank order, each cut to the cash above the
plan's reserve at its fill price; an order whose open is 0 or missing (halt) does not fill.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time

from contracts.plan import Side
from contracts.portfolio import Holding, Portfolio
from contracts.settings import StrategyParams
from contracts.ticket import Fill, TicketOrder
from krx_common.defaults import KST
from strategy import rules

# When a fill at a session's open is stamped (KRX opens at 09:00 KST).
OPEN_TIME = time(9, 0)


def rule_side(side: Side) -> int:
    return rules.SIDE_BUY if side is Side.BUY else rules.SIDE_SELL


def fees_of(side: Side, kind: str, notional: float, commission: float, year: int
            ) -> tuple[float, float]:
    """(commission, tax) of a fill of `notional` (the broker's price: no slippage added)."""
    _, _, _, comm, tax, _ = rules.fill_terms(
        rule_side(side), notional, 1, 0.0, commission, year, kind == "stock", False, 0.0, 0.0)
    return comm, tax


def opened_at(session: date) -> datetime:
    """The KST timestamp of a fill at `session`'s open."""
    return datetime.combine(session, OPEN_TIME, tzinfo=KST)


@dataclass(frozen=True)
class OpenFills:
    fills: list[Fill]
    notes: list[str]
    cash_after: float


def fills_at_open(
    orders: Iterable[TicketOrder], opens: Mapping[str, float], portfolio: Portfolio,
    reserve: float, sp: StrategyParams, session: date,
) -> OpenFills:
    """The fills of `orders` at the open of `session` ± slippage (STRATEGY.md execution model).

    `opens` maps ticker → that session's open (0 or absent: halted, the order is dropped).
    Sells take at most the held quantity; buys are cut to the cash above `reserve` in the
    order given (the ticket lists them by rank). Tax by `session`'s year; `filled_at` is the
    session's open.
    """
    cash = portfolio.cash
    held = {h.ticker: h.qty for h in portfolio.holdings}
    at = opened_at(session)
    ordered = sorted(orders, key=lambda o: o.side is Side.BUY)  # stable: sells first
    fills: list[Fill] = []
    notes: list[str] = []
    for o in ordered:
        px = float(opens.get(o.ticker, 0.0) or 0.0)
        if not px > 0.0:
            notes.append(f"{o.ticker}: no open on {session} (halt): {o.side.value} dropped")
            continue
        want = o.qty if o.side is Side.BUY else min(o.qty, held.get(o.ticker, 0))
        if o.side is Side.SELL and want < o.qty:
            notes.append(f"{o.ticker}: sell cut from {o.qty} to {want} (held)")
        if want <= 0:
            continue
        q, price, _, comm, tax, after = rules.fill_terms(
            rule_side(o.side), px, want, sp.slippage, sp.commission, session.year,
            o.kind == "stock", o.side is Side.BUY, cash, reserve)
        if q <= 0:
            notes.append(f"{o.ticker}: buy skipped, cash above the reserve does not pay for one "
                         f"share at {price:,.2f}")
            continue
        if q < want:
            notes.append(f"{o.ticker}: buy cut from {want} to {q} (cash above the reserve)")
        cash = after
        fills.append(Fill(ticker=o.ticker, side=o.side, qty=q, price=price, filled_at=at,
                          commission=comm, tax=tax))
    return OpenFills(fills, notes, cash)


class FillProblem(ValueError):
    """A fill that cannot apply to the portfolio; `index` and `field` name it."""

    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(message)
        self.index, self.field = index, field


def apply_fills(portfolio: Portfolio, fills: Iterable[Fill]) -> Portfolio:
    """`portfolio` after `fills` (commission and tax already resolved on each fill).

    Cash moves exactly as in `rules.fill_terms`. Buy: the holding's avg price is the
    qty-weighted mean of fill prices (slippage included, commission excluded), its entry date
    the first fill's session. Sell: a sell of the whole position removes the holding. Raises
    `FillProblem` for a sell above the held quantity or cash going negative.
    """
    cash = portfolio.cash
    holdings = {h.ticker: h for h in portfolio.holdings}
    order = [h.ticker for h in portfolio.holdings]
    for i, f in enumerate(fills):
        notional = f.qty * f.price
        comm, tax = f.commission or 0.0, f.tax or 0.0
        h = holdings.get(f.ticker)
        if f.side is Side.BUY:
            cash = cash - (notional + comm)
            if h is None:
                holdings[f.ticker] = Holding(
                    ticker=f.ticker, qty=f.qty, avg_price=f.price,
                    entry_date=f.filled_at.astimezone(KST).date().isoformat())
                order.append(f.ticker)
            else:
                qty = h.qty + f.qty
                holdings[f.ticker] = h.model_copy(update={
                    "qty": qty, "avg_price": (h.qty * h.avg_price + notional) / qty})
        else:
            held = h.qty if h is not None else 0
            if f.qty > held:
                raise FillProblem(i, "qty", f"sell of {f.qty} {f.ticker} but the portfolio "
                                            f"holds {held}")
            assert h is not None
            cash = cash + (notional - comm - tax)
            if f.qty == h.qty:
                del holdings[f.ticker]
                order.remove(f.ticker)
            else:
                holdings[f.ticker] = h.model_copy(update={"qty": h.qty - f.qty})
        if cash < -1e-6:
            raise FillProblem(i, "qty", f"cash would go negative ({cash:,.0f} KRW) after "
                                        f"the {f.side.value} of {f.qty} {f.ticker}")
    return portfolio.model_copy(update={
        "cash": max(cash, 0.0), "holdings": [holdings[t] for t in order]})
