"""End to end on the real KRX bars: daily cycle → draft → submit → process → portfolio.

As-of 2025-06-13 (a READY session): with 30 Samsung Electronics (005930) bought at 80,000 the
close of 58,300 is a STOP_LOSS exit, and KODEX 2차전지산업 (305720, RSI dip) is bought.
Every number below is worked out by hand from the closes and the default costs.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from contracts.plan import PlanDecision, Side
from contracts.portfolio import Holding, Portfolio
from contracts.settings import ExecutionMode, Settings
from contracts.summary import Stage
from contracts.ticket import Fill, FillsRequest, TicketState
from krx_common.defaults import KST
from oci_backend.paths import data_paths
from oci_backend.pipeline import run_cycle
from oci_backend.store import Store
from oci_backend.tickets import (
    get_ticket,
    list_tickets,
    opens_from_spec,
    process_pending,
    record_fills,
    submit_ticket,
)
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


def _cut_csv(src, dst, last: date):
    """A copy of the csv bars with no row after `last` (the provider has not got them yet)."""
    dst.mkdir()
    for f in src.glob("*.csv"):
        lines = f.read_text(encoding="utf-8").splitlines(keepends=True)
        keep = [ln for ln in lines[1:] if ln[:10] <= last.isoformat()]
        (dst / f.name).write_text("".join([lines[0], *keep]), encoding="utf-8")
    for f in src.iterdir():
        if f.suffix != ".csv" and f.is_file():
            (dst / f.name).write_bytes(f.read_bytes())


@pytest.mark.slow
def test_dry_run_paper_fill_waits_for_the_next_open_then_fills_at_it(tmp_path, krx_data_dir):
    store, ticket = _cycle(tmp_path, krx_data_dir, ExecutionMode.DRY_RUN)
    rev = store.revision()
    rec, created = submit_ticket(store, ticket, "e2e-dry-run", actor="operator")
    assert created and store.summary().stage is Stage.SUBMITTED
    # The provider has bars up to 2025-06-13 only: no open of 2025-06-16 yet → it waits.
    early = opens_from_spec(f"csv:{_cut_csv_dir(tmp_path, krx_data_dir)}", tmp_path / "c1")
    [waiting] = process_pending(store, now=OPEN, opens=early)
    assert waiting.state is TicketState.AWAITING_NEXT_OPEN
    assert "2025-06-16" in waiting.message and store.revision() == rev
    assert get_ticket(store, ticket.ticket_id).state is TicketState.AWAITING_NEXT_OPEN
    assert process_pending(store, now=OPEN, opens=early) == []  # still waiting, untouched
    assert process_pending(store, now=OPEN) == []  # no market at all: waits too
    # Once the bar of 2025-06-16 is in the data: filled at its open ± slippage.
    [done] = process_pending(store, now=OPEN,
                             opens=opens_from_spec(f"csv:{krx_data_dir}", tmp_path / "c2"))
    assert done.state is TicketState.DRY_RUN_FILLED
    p = store.portfolio()
    # opens 2025-06-16: 005930 58,000, 305720 9,990
    # sell 30 × 57,971 = 1,739,130 − commission 260.8695 − tax (2025: 0.15 %) 2,608.695
    # buy 193 × 9,994.995 = 1,929,034.035 + commission 289.35510525 (reserve 97,490: no cut)
    sell = 30 * 58_000 * (1 - 0.0005)
    buy = 193 * 9_990 * (1 + 0.0005)
    assert round(p.cash, 2) == round(8_000_000 + (sell - sell * 0.00015 - sell * 0.0015)
                                     - (buy + buy * 0.00015), 2) == 7_806_937.05
    assert p.holding("005930") is None
    h = p.holding("305720")
    assert h.qty == 193 and h.avg_price == 9_990 * 1.0005 and h.entry_date == "2025-06-16"
    assert {f.filled_at for f in done.fills} == {datetime(2025, 6, 16, 9, 0, tzinfo=KST)}
    assert p.revision == rev + 1 == done.portfolio_revision_after
    assert store.summary().stage is Stage.DONE_TODAY
    assert [r.ticket.ticket_id for r in list_tickets(store)] == [ticket.ticket_id]


def _cut_csv_dir(tmp_path, krx_data_dir):
    out = tmp_path / "bars_to_0613"
    if not out.exists():
        _cut_csv(krx_data_dir, out, ASOF)
    return out


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
