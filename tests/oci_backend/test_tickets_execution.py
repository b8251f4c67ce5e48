"""The execution model on OCI: DRY_RUN paper fills at the next open (waiting until it is in
the data, cut to the cash above the reserve, halts dropped, taxed by the fill's year), MANUAL
fills that break the reserve (accepted + incident), dated fills, and a rejected ticket
submitted again after its plan came back."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from ticket_fixtures import NOW, OPENS, drafted, fixed_opens, install_plan, make_store

from contracts.plan import Side
from contracts.portfolio import Holding, Portfolio
from contracts.settings import ExecutionMode, Settings
from contracts.summary import Stage
from contracts.ticket import Fill, FillsRequest, TicketState
from krx_common.defaults import KST
from oci_backend.paths import data_paths
from oci_backend.replay_root import create_replay_root
from oci_backend.tickets import (
    RESERVE_INCIDENT,
    TicketRejected,
    get_ticket,
    process_pending,
    record_fills,
    submit_ticket,
)

C, S = 0.00015, 0.0005


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "data")
    install_plan(s)
    return s


def test_paper_fill_waits_for_its_bar_then_fills_at_that_open(store):
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    rev = store.revision()
    [rec] = process_pending(store, now=NOW)  # no market data given: the bar is not there
    assert rec.state is TicketState.AWAITING_NEXT_OPEN and store.revision() == rev
    later = fixed_opens(session=date(2025, 6, 17))  # the data has another day only
    assert process_pending(store, now=NOW, opens=later) == []
    assert get_ticket(store, t.ticket_id).state is TicketState.AWAITING_NEXT_OPEN
    [done] = process_pending(store, now=NOW, opens=OPENS)
    assert done.state is TicketState.DRY_RUN_FILLED and store.revision() == rev + 1
    assert [(f.ticker, f.qty, f.price) for f in done.fills] == [
        ("005930", 10, 55_000 * (1 - S)), ("305720", 198, 10_080 * (1 + S)),
        ("069500", 50, 35_015 * (1 + S))]
    assert {f.filled_at for f in done.fills} == {datetime(2025, 6, 16, 9, 0, tzinfo=KST)}
    assert store.portfolio().holding("305720").entry_date == "2025-06-16"
    assert [e.state for e in done.events] == [
        TicketState.SUBMITTED, TicketState.PROCESSING, TicketState.AWAITING_NEXT_OPEN,
        TicketState.DRY_RUN_FILLED]


def test_paper_fill_cuts_buys_to_cash_above_the_plan_reserve_and_drops_a_halt(store):
    plan = store.current_plan()
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    # 305720 is halted (open 0); 069500 opens far above the plan's price
    opens = fixed_opens({"005930": 55_000.0, "305720": 0.0, "069500": 250_000.0})
    [done] = process_pending(store, now=NOW, opens=opens)
    sell = 10 * 55_000 * (1 - S)
    cash = 10_000_000.0 + (sell - sell * C - sell * 0.0015)
    price = 250_000 * (1 + S)
    want = int((cash - plan.reserve) // (price * (1 + C)))
    assert 0 < want < 50
    assert [(f.ticker, f.qty) for f in done.fills] == [("005930", 10), ("069500", want)]
    assert "305720: no open on 2025-06-16 (halt)" in done.message
    assert f"069500: buy cut from 50 to {want}" in done.message
    p = store.portfolio()
    assert p.cash >= plan.reserve
    assert p.cash == cash - (want * price + want * price * C)
    assert p.holding("305720") is None


def test_paper_fill_dated_2024_pays_the_2024_sell_tax(tmp_path):
    store = make_store(tmp_path / "data")
    install_plan(store, asof=date(2024, 12, 27), plan_id="20241227-aaaaaaaaaaaa")
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    [done] = process_pending(store, now=NOW, opens=fixed_opens(session=date(2024, 12, 30)))
    sell = done.fills[0]
    assert sell.filled_at.date() == date(2024, 12, 30)
    assert sell.tax == pytest.approx(sell.qty * sell.price * 0.0018)  # 2024, not 2025/2026


def test_manual_fill_dated_2024_pays_the_2024_tax_a_live_root_refuses_a_date_before_the_plan(
    tmp_path,
):
    store = make_store(tmp_path / "data", mode=ExecutionMode.MANUAL)
    install_plan(store, asof=date(2024, 12, 27), plan_id="20241227-aaaaaaaaaaaa")
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    early = datetime(2024, 12, 27, 15, 0, tzinfo=KST)
    with pytest.raises(TicketRejected) as exc:
        record_fills(store, t.ticket_id, FillsRequest(fills=[
            Fill(ticker="005930", side=Side.SELL, qty=10, price=55_000, filled_at=early)]),
            actor="operator")
    assert exc.value.field == "fills[0].filled_at" and "replay" in str(exc.value)
    at = datetime(2024, 12, 30, 9, 1, tzinfo=KST)
    rec = record_fills(store, t.ticket_id, FillsRequest(fills=[
        Fill(ticker="005930", side=Side.SELL, qty=10, price=55_000, filled_at=at)]),
        actor="operator")
    assert rec.fills[0].tax == pytest.approx(550_000 * 0.0018)
    assert rec.fills[0].commission == pytest.approx(550_000 * C)


def test_replay_root_takes_historical_manual_fill_dates_and_labels_the_record(tmp_path):
    paths = data_paths(tmp_path / "replay")
    store = create_replay_root(paths, label="test", data_spec="csv:x",
                               settings=Settings(execution_mode=ExecutionMode.MANUAL))
    store.push(store.revision(), settings=None, reason="seed", actor="test",
               portfolio=Portfolio(cash=10_000_000.0, holdings=[
                   Holding(ticker="005930", qty=10, avg_price=60_000.0)]))
    install_plan(store, asof=date(2024, 12, 27), plan_id="20241227-aaaaaaaaaaaa")
    t = drafted(store)
    rec, _ = submit_ticket(store, t, "k", actor="operator")
    assert rec.replay
    early = datetime(2024, 12, 27, 15, 0, tzinfo=KST)
    rec = record_fills(store, t.ticket_id, FillsRequest(fills=[
        Fill(ticker="005930", side=Side.SELL, qty=10, price=55_000, filled_at=early)]),
        actor="operator")
    assert rec.state is TicketState.PARTIALLY_FILLED and rec.replay
    assert rec.fills[0].tax == pytest.approx(550_000 * 0.0018)
    assert any(e.details.get("replay") for e in store.audit_log.read(limit=0, target=t.ticket_id))


def test_manual_fill_breaking_the_reserve_is_accepted_and_raises_an_incident(tmp_path):
    store = make_store(tmp_path / "data", mode=ExecutionMode.MANUAL)
    plan = install_plan(store)
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    rev = store.revision()
    # the broker filled 305720 far above the plan: cash ends below the reserve, not below 0
    req = FillsRequest(fills=[
        Fill(ticker="005930", side=Side.SELL, qty=10, price=55_000, filled_at=NOW),
        Fill(ticker="305720", side=Side.BUY, qty=198, price=52_800, filled_at=NOW)])
    raised = []
    rec = record_fills(store, t.ticket_id, req, actor="operator",
                       on_incident=lambda r, m: raised.append((r.ticket.ticket_id, m)))
    assert [tid for tid, _ in raised] == [t.ticket_id]
    p = store.portfolio()
    assert 0 <= p.cash < plan.reserve and p.revision == rev + 1
    assert p.holding("305720").qty == 198
    assert rec.state is TicketState.PARTIALLY_FILLED
    assert len(rec.incidents) == 1 and rec.incidents[0].startswith(RESERVE_INCIDENT)
    risks = store.summary().risks
    assert any(r.code == RESERVE_INCIDENT and r.severity.value == "CRITICAL" for r in risks)
    assert any(e.details.get("incident") == RESERVE_INCIDENT
               for e in store.audit_log.read(limit=0, target=t.ticket_id))
    # still below the reserve after another fill: raised again, accepted again
    rec = record_fills(store, t.ticket_id, FillsRequest(fills=[
        Fill(ticker="069500", side=Side.BUY, qty=1, price=35_000, filled_at=NOW)]),
        actor="operator")
    assert len(rec.incidents) == 2 and store.portfolio().holding("069500").qty == 1


def test_manual_fill_above_the_sized_cap_is_refused(tmp_path):
    store = make_store(tmp_path / "data", mode=ExecutionMode.MANUAL)
    install_plan(store)
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    with pytest.raises(TicketRejected) as exc:
        record_fills(store, t.ticket_id, FillsRequest(fills=[
            Fill(ticker="305720", side=Side.BUY, qty=199, price=10_000, filled_at=NOW)]),
            actor="operator")
    assert exc.value.field == "fills[0].qty" and "over-fill" in str(exc.value)


def test_rejected_ticket_is_submittable_again_after_its_plan_comes_back(store):
    t = drafted(store)
    first, _ = submit_ticket(store, t, "key-1", actor="operator")
    install_plan(store, plan_id="20250613-bbbbbbbbbbbb")  # a newer plan: the ticket is stale
    [rec] = process_pending(store, now=NOW, opens=OPENS)
    assert rec.state is TicketState.REJECTED
    install_plan(store)  # the same plan again (same inputs → same content-addressed id)
    again = drafted(store)
    assert again.ticket_id == t.ticket_id
    # the old key still answers with what it created; a new key is a new attempt
    same, created = submit_ticket(store, again, "key-1", actor="operator")
    assert not created and same.state is TicketState.REJECTED
    rec, created = submit_ticket(store, again, "key-2", actor="operator")
    assert created and rec.state is TicketState.SUBMITTED and "again, after REJECTED" in rec.message
    assert get_ticket(store, t.ticket_id).state is TicketState.SUBMITTED
    assert store.summary().stage is Stage.SUBMITTED
    archived = list((store.paths.tickets_dir / "archive").glob("*.json"))
    assert [p.name for p in archived] == [f"{t.ticket_id}.1.json"]
    [done] = process_pending(store, now=NOW, opens=OPENS)
    assert done.state is TicketState.DRY_RUN_FILLED
    assert first.idempotency_key == "key-1" and done.idempotency_key == "key-2"


def test_reserve_incident_reaches_the_operator_as_a_notification(tmp_path, receiver):
    from oci_backend.notify import NotificationKind, Notifier

    store = make_store(tmp_path / "data", mode=ExecutionMode.MANUAL)
    install_plan(store)
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    notifier = Notifier(store, [receiver.url])
    req = FillsRequest(fills=[
        Fill(ticker="005930", side=Side.SELL, qty=10, price=55_000, filled_at=NOW),
        Fill(ticker="305720", side=Side.BUY, qty=198, price=52_800, filled_at=NOW)])
    record_fills(store, t.ticket_id, req, actor="operator", on_incident=lambda r, m: (
        notifier.send_once(NotificationKind.GUARDRAIL_INCIDENT, f"incident {r.ticket.ticket_id}",
                           m)))
    assert len(receiver.messages) == 1 and t.ticket_id in receiver.titles()[0]
    assert RESERVE_INCIDENT in receiver.messages[0]["message"]
