"""End to end on the real KRX bars: daily cycle → draft → submit → process → portfolio.

As-of 2025-06-13 (a READY session): with 30 Samsung Electronics (005930) bought at 80,000 the
close of 58,300 is a STOP_LOSS exit, and KODEX 2차전지산업 (305720, RSI dip) is bought.
Every number below is worked out by hand from the closes and the default costs.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from contracts.common import KST
from contracts.plan import PlanDecision, Side
from contracts.portfolio import Holding, Portfolio
from contracts.settings import ExecutionMode, Settings
from contracts.summary import Stage
from contracts.ticket import Fill, FillsRequest, TicketState
from oci_backend.paths import data_paths
from oci_backend.pipeline import run_cycle
from oci_backend.store import Store
from oci_backend.tickets import list_tickets, process_pending, record_fills, submit_ticket
from strategy.ticketing import draft_ticket, verify_ticket

ASOF = date(2025, 6, 13)
OPEN = datetime(2025, 6, 16, 9, 0, tzinfo=KST)  # next session
DRAFTED = datetime(2025, 6, 16, 8, 40, tzinfo=KST)


def _cycle(tmp_path, krx_data_dir, mode: ExecutionMode):
    store = Store(data_paths(tmp_path / "data"))
    store.initialize(actor="test")
    store.push(store.revision(),
               portfolio=Portfolio(cash=8_000_000.0, holdings=[
                   Holding(ticker="005930", qty=30, avg_price=80_000.0, entry_date="2025-01-02")]),
               settings=Settings(execution_mode=mode), reason="seed", actor="test")
    res = run_cycle(store, data_spec=f"csv:{krx_data_dir}", asof=ASOF, actor="test")
    assert res.exit_code == 0, res.summary.message
    plan = res.plan
    assert plan.decision is PlanDecision.READY and store.current_plan() == plan
    assert [(o.side, o.ticker, o.qty, o.ref_price) for o in plan.orders] == [
        (Side.SELL, "005930", 30, 58_300.0), (Side.BUY, "305720", 193, 10_075.0)]
    ticket = draft_ticket(plan, store.settings(), cash=store.portfolio().cash,
                          created_at=DRAFTED)
    assert verify_ticket(ticket, plan, store.settings()) == []
    # 58,300 × 0.9995 = 58,270.85 → up to the 100-won tick; 10,075 × 1.0005 → down to 5 won
    assert [(o.ticker, o.qty, o.limit_price) for o in ticket.orders] == [
        ("005930", 30, 58_300), ("305720", 193, 10_080)]
    return store, ticket.model_copy(update={"confirmed": True})


@pytest.mark.slow
def test_dry_run_end_to_end_on_real_data(tmp_path, krx_data_dir):
    store, ticket = _cycle(tmp_path, krx_data_dir, ExecutionMode.DRY_RUN)
    rev = store.revision()
    rec, created = submit_ticket(store, ticket, "e2e-dry-run", actor="operator")
    assert created and store.summary().stage is Stage.SUBMITTED
    [done] = process_pending(store, now=OPEN)
    assert done.state is TicketState.DRY_RUN_FILLED
    p = store.portfolio()
    # sell 30 × 58,270.85 = 1,748,125.50 − commission 262.22 − tax (0.15 %) 2,622.19
    # buy 193 × 10,085.04 = 1,946,412.72 + commission 291.96
    # cash 8,000,000 + 1,745,241.09 − 1,946,704.68 = 7,798,536.41
    assert round(p.cash, 2) == 7_798_536.41
    assert p.holding("005930") is None
    h = p.holding("305720")
    assert h.qty == 193 and h.avg_price == pytest.approx(10_085.04)
    assert p.revision == rev + 1 == done.portfolio_revision_after
    assert store.summary().stage is Stage.DONE_TODAY
    assert [r.ticket.ticket_id for r in list_tickets(store)] == [ticket.ticket_id]


@pytest.mark.slow
def test_manual_end_to_end_on_real_data(tmp_path, krx_data_dir):
    store, ticket = _cycle(tmp_path, krx_data_dir, ExecutionMode.MANUAL)
    submit_ticket(store, ticket, "e2e-manual", actor="operator")
    [rec] = process_pending(store, now=OPEN)
    assert rec.state is TicketState.AWAITING_MANUAL_EXECUTION
    assert store.portfolio().cash == 8_000_000.0
    at = datetime(2025, 6, 16, 9, 12, tzinfo=KST)
    rec = record_fills(store, ticket.ticket_id, FillsRequest(fills=[
        Fill(ticker="005930", side=Side.SELL, qty=30, price=58_400, filled_at=at),
        Fill(ticker="305720", side=Side.BUY, qty=100, price=10_070, filled_at=at),
    ]), actor="operator")
    assert rec.state is TicketState.PARTIALLY_FILLED
    assert store.summary().stage is Stage.AWAITING_MANUAL_EXECUTION
    rec = record_fills(store, ticket.ticket_id, FillsRequest(fills=[
        Fill(ticker="305720", side=Side.BUY, qty=93, price=10_075, filled_at=at)]),
        actor="operator")
    assert rec.state is TicketState.FILLS_RECORDED  # every quantity filled
    p = store.portfolio()
    # sell 1,752,000 − 262.80 − 2,628.00; buys 1,007,000 + 151.05 and 936,975 + 140.55
    # cash 8,000,000 + 1,749,109.20 − 1,007,151.05 − 937,115.55 = 7,804,842.60
    assert round(p.cash, 2) == 7_804_842.60
    h = p.holding("305720")
    assert h.qty == 193 and h.avg_price == pytest.approx(1_943_975 / 193)
    assert p.holding("005930") is None
    assert store.summary().stage is Stage.DONE_TODAY
