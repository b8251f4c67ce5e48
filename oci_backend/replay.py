"""Driving a replay: the sessions of a window through the daily cycle on a replay data root
(`oci_backend.replay_root`), each READY plan drafted, submitted and filled as the operator
would, and the result compared with `run_backtest` of the same settings and window.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date
from typing import Any, Protocol

from contracts.plan import OrderPlan, PlanDecision
from contracts.portfolio import Portfolio
from contracts.settings import ExecutionMode, Settings
from contracts.ticket import Fill, FillsRequest, Ticket, TicketRecord
from krx_common.defaults import KST
from oci_backend.pipeline import run_cycle
from oci_backend.store import Store
from oci_backend.tickets import list_tickets, record_fills, submit_ticket
from oci_backend.tickets.market import OpenSource
from strategy import calendar
from strategy.backtest.engine import run_backtest
from strategy.fills import fills_at_open, opened_at
from strategy.ticketing import draft_ticket


class ReplayBackend(Protocol):
    """What a replay needs from OCI: in-process (`InProcessBackend`) or over HTTP
    (`oci_backend.replay_http.HttpBackend`) — the same steps either way."""

    def cycle(self, asof: date) -> OrderPlan | None: ...
    def state(self) -> tuple[Portfolio, Settings]: ...
    def submit(self, ticket: Ticket, key: str) -> TicketRecord: ...
    def record_fills(self, ticket_id: str, req: FillsRequest) -> TicketRecord: ...
    def tickets(self) -> list[TicketRecord]: ...


class InProcessBackend:
    """OCI's own functions on a replay root (`pipeline.run_cycle`, `tickets.*`); each cycle
    is a requested one, so a live root refuses the first (`pipeline.NotAReplayRoot`)."""

    def __init__(self, store: Store, data_spec: str) -> None:
        self.store, self.data_spec = store, data_spec

    def cycle(self, asof: date) -> OrderPlan | None:
        return run_cycle(self.store, data_spec=self.data_spec, asof=asof, actor="replay",
                         requested=True).plan

    def state(self) -> tuple[Portfolio, Settings]:
        return self.store.portfolio(), self.store.settings()

    def submit(self, ticket: Ticket, key: str) -> TicketRecord:
        return submit_ticket(self.store, ticket, key, actor="replay")[0]

    def record_fills(self, ticket_id: str, req: FillsRequest) -> TicketRecord:
        return record_fills(self.store, ticket_id, req, actor="replay")

    def tickets(self) -> list[TicketRecord]:
        return list_tickets(self.store, limit=0)


class BrokerSession(Protocol):
    """A broker-mode replay: the broker opens `session` before the ticket is submitted (the
    fake steps to it), `settle` waits until OCI is done with the ticket at the broker and
    reconciles, and `reconcile` reconciles after each session's cycle; every reconciliation is
    counted (`ReplayResult.reconciliations`, `.unclean`)."""

    def open_session(self, session: date) -> None: ...

    def reconcile(self) -> bool: ...

    def settle(self, record: TicketRecord) -> tuple[TicketRecord, bool]: ...


@dataclass(frozen=True)
class ReplayDay:
    """The portfolio at the close of `session` (after that session's open fills), as the
    session's plan saw it."""

    session: date
    cash: float
    equity: float
    holdings: dict[str, int]


@dataclass
class ReplayResult:
    days: list[ReplayDay] = dc_field(default_factory=list)
    fills: list[tuple[date, Fill]] = dc_field(default_factory=list)
    tickets: int = 0
    seconds: float = 0.0
    reconciliations: int = 0
    unclean: list[date] = dc_field(default_factory=list)


def run_replay(backend: ReplayBackend, start: date, end: date, *,
               opens: OpenSource | None = None,
               broker: BrokerSession | None = None) -> ReplayResult:
    """Replay the XKRX sessions [start, end] through `backend`: the cycle of each session
    (which first applies the previous ticket's DRY_RUN fills at this session's open), a ticket
    drafted from a READY plan (`strategy.ticketing.draft_ticket`, as the PC does) and
    submitted; in MANUAL the operator's fills at the next open ± slippage, cut to the cash
    above the plan's reserve (`opens` gives the opens; the broker is the only thing
    simulated), posted with historical `filled_at`. The decision at `end` is not executed (as
    in the backtest). In a broker mode `broker` opens the next session at the broker before
    the submit and settles the ticket there (sent, filled, reconciled) after it, and
    reconciles after every session's cycle."""
    t0 = time.perf_counter()
    out = ReplayResult()
    # the sessions of the replayed root's calendar: XKRX + its settings' closed dates
    sessions = calendar.for_settings(backend.state()[1]).sessions_in_range(start, end)
    for k, session in enumerate(sessions):
        plan = backend.cycle(session)
        if plan is None or plan.asof != session:
            raise RuntimeError(f"the cycle of {session} made no plan for it")
        portfolio, settings = backend.state()
        out.days.append(ReplayDay(session, plan.cash, plan.equity,
                                  {h.ticker: h.qty for h in portfolio.holdings}))
        if broker is not None and settings.execution_mode.is_broker:
            out.reconciliations += 1
            if not broker.reconcile():
                out.unclean.append(session)
        if k == len(sessions) - 1 or plan.decision is not PlanDecision.READY:
            continue
        nxt = sessions[k + 1]
        ticket = draft_ticket(plan, settings, cash=portfolio.cash,
                              created_at=opened_at(nxt)).model_copy(update={"confirmed": True})
        if settings.execution_mode.is_broker:
            if broker is None:
                raise ValueError("a broker-mode replay needs `broker` (the broker's session)")
            broker.open_session(nxt)
        rec = backend.submit(ticket, f"replay-{uuid.uuid4()}")
        out.tickets += 1
        if broker is not None and settings.execution_mode.is_broker:
            rec, clean = broker.settle(rec)
            out.reconciliations += 1
            if not clean:
                out.unclean.append(nxt)
        if settings.execution_mode is ExecutionMode.MANUAL:
            if opens is None:
                raise ValueError("a MANUAL replay needs `opens` (the operator's fills)")
            prices = opens([o.ticker for o in ticket.orders], nxt)
            if prices is None:
                raise RuntimeError(f"no opens for {nxt} in the market data")
            done = fills_at_open(ticket.orders, prices, portfolio, plan.reserve,
                                 settings.strategy, nxt)
            if done.fills:
                typed = [f.model_copy(update={"commission": None, "tax": None})
                         for f in done.fills]
                rec = backend.record_fills(rec.ticket.ticket_id,
                                           FillsRequest(fills=typed, final=True))
    for rec in sorted(backend.tickets(), key=lambda r: r.ticket.asof):
        out.fills += [(f.filled_at.astimezone(KST).date(), f) for f in rec.fills]
    out.seconds = time.perf_counter() - t0
    return out


@dataclass(frozen=True)
class Comparison:
    sessions: int
    fills: int
    max_equity_diff: float
    max_cash_diff: float
    holdings_equal: bool
    fills_equal: bool
    first_difference: str | None

    @property
    def equal_to_the_won(self) -> bool:
        return (self.max_equity_diff < 0.5 and self.max_cash_diff < 0.5 and self.holdings_equal
                and self.fills_equal)


def compare_with_backtest(result: ReplayResult, bars: dict[str, Any], settings: Settings,
                          start: date, end: date) -> Comparison:
    """The replay against `run_backtest` of the same settings and window: equity and cash at
    every session's close, holdings, and every fill (date, ticker, side, qty, price,
    commission, tax)."""
    bt = run_backtest(bars, settings, start, end)
    first: str | None = None
    eq = bt.equity.to_numpy()
    cash = bt.cash.to_numpy()
    pos = bt.positions
    max_eq = max_cash = 0.0
    holdings_equal = len(result.days) == len(eq)
    for k, day in enumerate(result.days[: len(eq)]):
        max_eq = max(max_eq, abs(day.equity - float(eq[k])))
        max_cash = max(max_cash, abs(day.cash - float(cash[k])))
        want = {t: int(q) for t, q in pos.iloc[k].items() if q > 0}
        if want != day.holdings:
            holdings_equal = False
            first = first or f"{day.session}: holdings {day.holdings} != backtest {want}"
        if first is None and (abs(day.equity - float(eq[k])) >= 0.5
                              or abs(day.cash - float(cash[k])) >= 0.5):
            first = (f"{day.session}: equity {day.equity:,.2f} / cash {day.cash:,.2f} != "
                     f"backtest {float(eq[k]):,.2f} / {float(cash[k]):,.2f}")
    f = bt.fills
    want_fills: list[tuple[Any, ...]] = [
        (d, t, s, int(q), float(p), float(c), float(x)) for d, t, s, q, p, c, x in zip(
            f["date"], f["ticker"], f["side"], f["qty"], f["price"], f["commission"], f["tax"],
            strict=True)]
    got_fills: list[tuple[Any, ...]] = [
        (d, g.ticker, g.side.value, g.qty, g.price, g.commission or 0.0, g.tax or 0.0)
        for d, g in result.fills]
    fills_equal = len(want_fills) == len(got_fills) and all(
        a[:4] == b[:4] and all(abs(x - y) < 0.005 for x, y in zip(a[4:], b[4:], strict=True))
        for a, b in zip(got_fills, sorted(want_fills, key=lambda r: r[0]), strict=True))
    if not fills_equal and first is None:
        pairs = zip(got_fills, want_fills, strict=False)
        diff = next((f"fill {a} != backtest {b}" for a, b in pairs if a != b),
                    f"{len(got_fills)} fills != backtest {len(want_fills)}")
        first = diff
    return Comparison(len(result.days), len(got_fills), max_eq, max_cash, holdings_equal,
                      fills_equal, first)
