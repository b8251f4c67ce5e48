"""Ticket submit / process / fills on a store with a hand-built current plan."""

from __future__ import annotations

import json
import threading
from datetime import datetime

import pytest
from pydantic import ValidationError
from ticket_fixtures import NOW, OPENS, drafted, install_plan, make_store  # noqa: I001

from contracts.audit import AuditAction
from contracts.plan import Side
from contracts.portfolio import Portfolio
from contracts.settings import ExecutionMode
from contracts.signals import ReasonCode
from contracts.summary import Stage
from contracts.ticket import Fill, FillsRequest, TicketOrder, TicketState
from krx_common.defaults import KST
from oci_backend import tickets
from oci_backend.errors import answer_of
from oci_backend.tickets import (
    EmergencyStopped,
    IdempotencyConflict,
    ModeRefused,
    StaleTicket,
    TicketConflict,
    TicketError,
    TicketNotFound,
    TicketRejected,
    TicketStateError,
    get_ticket,
    list_tickets,
    process_pending,
    record_fills,
    submit_ticket,
)
from oci_backend.tickets.boxes import TicketFiles
from strategy.ticketing import ticket_id_of

C = 0.00015  # commission
S = 0.0005  # slippage
TAX_2025 = 0.0015


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "data")
    install_plan(s)
    return s


@pytest.fixture
def manual_store(tmp_path):
    s = make_store(tmp_path / "data", mode=ExecutionMode.MANUAL)
    install_plan(s)
    return s


def _box(store, box):
    return sorted(p.stem for p in store.paths.ticket_box(box).glob("*.json"))


def _fills_audits(store):
    return store.audit_log.read(limit=0, action=AuditAction.FILLS_RECORDED)


# -- submit ------------------------------------------------------------------------------------
def test_submit_ticket_writes_record_audit_and_stage(store):
    t = drafted(store)
    rec, created = submit_ticket(store, t, "key-1", actor="operator")
    assert created and rec.state is TicketState.SUBMITTED and rec.idempotency_key == "key-1"
    assert _box(store, "submitted") == [t.ticket_id]
    on_disk = json.loads(store.paths.ticket("submitted", t.ticket_id).read_text(encoding="utf-8"))
    assert on_disk["state"] == "SUBMITTED" and on_disk["ticket"]["ticket_id"] == t.ticket_id
    entry = store.audit_log.read(action=AuditAction.TICKET_TRANSITION)[-1]
    assert entry.target == t.ticket_id and entry.details["to"] == "SUBMITTED"
    assert entry.actor == "operator"
    assert store.summary().stage is Stage.SUBMITTED
    keyfiles = list(store.paths.idempotency_dir.glob("*.json"))
    assert len(keyfiles) == 1 and "key-1" not in keyfiles[0].name  # the key is hashed


def test_submit_ticket_same_key_returns_the_same_record(store):
    t = drafted(store)
    first, created = submit_ticket(store, t, "key-1", actor="operator")
    again, created2 = submit_ticket(store, t, "key-1", actor="operator")
    assert created and not created2 and again == first
    assert len(store.audit_log.read(action=AuditAction.TICKET_TRANSITION)) == 1


def test_submit_ticket_same_key_with_another_body_conflicts(store):
    t = drafted(store)
    submit_ticket(store, t, "key-1", actor="operator")
    other = t.model_copy(update={"copy_text": "edited"})
    with pytest.raises(IdempotencyConflict) as exc:
        submit_ticket(store, other, "key-1", actor="operator")
    assert answer_of(exc.value)[0] == 422 and exc.value.field == "Idempotency-Key"


def test_submit_ticket_same_content_with_a_new_key_returns_the_existing_ticket(store):
    t = drafted(store)
    first, _ = submit_ticket(store, t, "key-1", actor="operator")
    redraft = t.model_copy(update={"created_at": datetime(2025, 6, 16, 9, 30, tzinfo=KST)})
    again, created = submit_ticket(store, redraft, "key-2", actor="operator")
    assert not created and again == first and _box(store, "submitted") == [t.ticket_id]


def test_submit_ticket_50_concurrent_submits_create_one_ticket(store):
    t = drafted(store)
    results: list = []
    errors: list = []
    barrier = threading.Barrier(50)

    def worker():
        barrier.wait()
        try:
            results.append(submit_ticket(store, t, "same-key", actor="operator"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors
    assert len(results) == 50 and sum(created for _, created in results) == 1
    assert len({rec.model_dump_json() for rec, _ in results}) == 1
    assert _box(store, "submitted") == [t.ticket_id]
    assert len(store.audit_log.read(action=AuditAction.TICKET_TRANSITION)) == 1


def test_submit_ticket_emergency_stop_is_423(store):
    store.set_emergency_stop(True, "market halt", "operator")
    with pytest.raises(EmergencyStopped) as exc:
        submit_ticket(store, drafted(store), "k", actor="operator")
    assert answer_of(exc.value) == (423, "EMERGENCY_STOP")
    assert _box(store, "submitted") == []


def test_submit_ticket_must_be_confirmed(store):
    with pytest.raises(TicketRejected) as exc:
        submit_ticket(store, drafted(store, confirmed=False), "k", actor="operator")
    assert answer_of(exc.value)[0] == 422 and exc.value.field == "confirmed"


@pytest.mark.parametrize("mode", [ExecutionMode.BROKER_PAPER, ExecutionMode.BROKER_LIVE])
def test_submit_ticket_broker_mode_without_credentials_is_refused(tmp_path, mode):
    s = make_store(tmp_path / "d", mode=mode)
    install_plan(s)
    with pytest.raises(ModeRefused) as exc:
        submit_ticket(s, drafted(s), "k", actor="operator")
    assert answer_of(exc.value)[0] == 409 and mode.value in str(exc.value)
    assert "KRX_KIS_CREDENTIALS_FILE" in str(exc.value) and exc.value.field == "mode"
    assert TicketFiles(s).ids_in("submitted") == []


def test_submit_ticket_for_a_plan_no_longer_current_is_stale(store):
    t = drafted(store)
    install_plan(store, plan_id="20250613-bbbbbbbbbbbb")
    with pytest.raises(StaleTicket) as exc:
        submit_ticket(store, t, "k", actor="operator")
    assert answer_of(exc.value) == (409, "STALE_TICKET")
    assert "re-draft" in str(exc.value)
    # the ticket was not patched or stored, and nothing else was written
    assert _box(store, "submitted") == []
    assert store.summary().stage is Stage.PLAN_READY


def test_submit_ticket_after_a_portfolio_push_is_stale(store):
    t = drafted(store)
    p = store.portfolio()
    store.push(store.revision(), portfolio=p.model_copy(update={"cash": 9_000_000.0}),
               settings=None, reason="deposit", actor="operator")
    with pytest.raises(StaleTicket, match="revision"):
        submit_ticket(store, t, "k", actor="operator")


def test_submit_ticket_drafted_for_another_mode_is_refused(store):
    t = drafted(store)
    manual = t.model_copy(update={"mode": ExecutionMode.MANUAL})
    manual = manual.model_copy(update={"ticket_id": ticket_id_of(manual)})
    with pytest.raises(ModeRefused) as exc:
        submit_ticket(store, manual, "k", actor="operator")
    assert exc.value.field == "mode"


def test_submit_ticket_names_the_field_of_the_first_problem(store):
    t = drafted(store)
    orders = [t.orders[0], t.orders[1].model_copy(update={"qty": 500}), t.orders[2]]
    bad = t.model_copy(update={"orders": orders})
    bad = bad.model_copy(update={"ticket_id": ticket_id_of(bad)})
    with pytest.raises(TicketRejected) as exc:
        submit_ticket(store, bad, "k", actor="operator")
    assert exc.value.field == "orders[1].qty" and answer_of(exc.value)[0] == 422
    assert any("QTY_ABOVE_PLAN" in p for p in exc.value.problems)


def test_submit_ticket_with_an_edited_id_is_rejected(store):
    t = drafted(store).model_copy(update={"ticket_id": "20250613-tk000000000000"})
    with pytest.raises(TicketRejected) as exc:
        submit_ticket(store, t, "k", actor="operator")
    assert exc.value.field == "ticket_id"


def test_submit_ticket_while_another_ticket_of_the_plan_is_open(store):
    t = drafted(store)
    submit_ticket(store, t, "k1", actor="operator")
    smaller = t.model_copy(update={"orders": t.orders[:2]})
    smaller = smaller.model_copy(update={"ticket_id": ticket_id_of(smaller)})
    with pytest.raises(TicketConflict) as exc:
        submit_ticket(store, smaller, "k2", actor="operator")
    assert answer_of(exc.value)[0] == 409 and t.ticket_id in str(exc.value)


@pytest.mark.parametrize("key", ["", "   ", "x" * 201, "bad\nkey"])
def test_submit_ticket_needs_a_sane_idempotency_key(store, key):
    with pytest.raises(TicketRejected) as exc:
        submit_ticket(store, drafted(store), key, actor="operator")
    assert exc.value.field == "Idempotency-Key"


def test_ticket_errors_carry_their_field_and_the_api_table_their_status_and_code():
    for cls, status in [(tickets.StaleTicket, 409), (EmergencyStopped, 423),
                        (TicketRejected, 422), (TicketNotFound, 404),
                        (IdempotencyConflict, 422), (ModeRefused, 409)]:
        err = cls("x", field="f")
        assert isinstance(err, TicketError) and answer_of(err)[0] == status and err.field == "f"
        assert answer_of(err)[1].isupper()


def test_contracts_reject_zero_or_negative_quantities_and_prices():
    base = dict(side=Side.BUY, ticker="069500", name="KODEX 200", kind="etf", qty=1,
                limit_price=35_000, est_notional=1.0, est_fees=0.0,
                reason=ReasonCode.RSI_DIP_ENTRY, hts_text="x")
    for field, value in [("qty", 0), ("qty", -1), ("limit_price", 0), ("limit_price", -5)]:
        with pytest.raises(ValidationError):
            TicketOrder(**{**base, field: value})
    for field, value in [("qty", 0), ("qty", -3), ("price", 0.0), ("price", -1.0)]:
        kw = dict(ticker="069500", side=Side.BUY, qty=1, price=1.0, filled_at=NOW)
        with pytest.raises(ValidationError):
            Fill(**{**kw, field: value})
    with pytest.raises(ValidationError):
        FillsRequest(fills=[])


# -- processing: DRY_RUN -----------------------------------------------------------------------
def _expected_dry_run_cash() -> float:
    cash = 10_000_000.0
    sell = 10 * 55_000 * (1 - S)                    # 549,725.00
    cash += sell - sell * C - sell * TAX_2025       # commission 82.46, tax 824.59
    b1 = 198 * 10_080 * (1 + S)                     # 1,996,837.92
    b2 = 50 * 35_015 * (1 + S)                      # 1,751,625.38
    cash -= b1 * (1 + C) + b2 * (1 + C)
    return cash


def test_process_pending_dry_run_paper_fills_and_reconciles(store):
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    rev_before = store.revision()
    [rec] = process_pending(store, now=NOW, opens=OPENS)
    assert rec.state is TicketState.DRY_RUN_FILLED
    assert [(f.side, f.ticker, f.qty) for f in rec.fills] == [
        (Side.SELL, "005930", 10), (Side.BUY, "305720", 198), (Side.BUY, "069500", 50)]
    assert rec.fills[0].price == pytest.approx(54_972.5)
    assert rec.fills[1].price == pytest.approx(10_085.04)
    assert rec.fills[0].tax == pytest.approx(549_725 * 0.0015)
    p = store.portfolio()
    # by hand: 10,000,000 + 548,817.95 − 1,997,137.45 − 1,751,888.12 = 6,799,792.39
    assert p.cash == pytest.approx(6_799_792.39, abs=0.01)
    assert p.cash == pytest.approx(_expected_dry_run_cash(), abs=1e-6)
    assert p.holding("005930") is None  # full sell removes the holding
    h1, h2 = p.holding("305720"), p.holding("069500")
    assert (h1.qty, h2.qty) == (198, 50)
    assert h1.avg_price == pytest.approx(10_085.04) and h2.avg_price == pytest.approx(35_032.5075)
    assert h1.entry_date == "2025-06-16"
    assert p.revision == rev_before + 1 == rec.portfolio_revision_after
    assert _box(store, "submitted") == _box(store, "processing") == []
    assert _box(store, "results") == [t.ticket_id]
    assert get_ticket(store, t.ticket_id) == rec
    assert [e.state for e in rec.events] == [TicketState.SUBMITTED, TicketState.PROCESSING,
                                             TicketState.DRY_RUN_FILLED]
    assert store.summary().stage is Stage.DONE_TODAY
    [audit] = _fills_audits(store)
    assert audit.details["ticket_id"] == t.ticket_id and audit.revision_after == p.revision
    # nothing left: a second pass does nothing
    assert process_pending(store, now=NOW, opens=OPENS) == []
    assert store.portfolio().revision == p.revision


def test_process_pending_dry_run_buy_into_an_existing_holding_averages(tmp_path):
    s = make_store(tmp_path / "d", holdings=(("305720", 100, 9_000.0),))
    from ticket_fixtures import planned

    install_plan(s, [planned(Side.BUY, "305720", 50, 10_075.0, rank=0)])
    submit_ticket(s, drafted(s), "k", actor="operator")
    process_pending(s, now=NOW, opens=OPENS)
    h = s.portfolio().holding("305720")
    assert h.qty == 150
    assert h.avg_price == pytest.approx((100 * 9_000 + 50 * 10_085.04) / 150)
    assert h.entry_date == "2025-01-02"  # the original entry stays


def test_process_pending_second_ticket_for_the_plan_is_stale_after_fills(store):
    t = drafted(store)
    submit_ticket(store, t, "k1", actor="operator")
    process_pending(store, now=NOW, opens=OPENS)
    smaller = t.model_copy(update={"orders": t.orders[:1]})
    smaller = smaller.model_copy(update={"ticket_id": ticket_id_of(smaller)})
    with pytest.raises(StaleTicket):
        submit_ticket(store, smaller, "k2", actor="operator")


def test_process_pending_rejects_a_ticket_whose_plan_changed(store):
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    install_plan(store, plan_id="20250616-cccccccccccc")
    before = store.portfolio()
    [rec] = process_pending(store, now=NOW, opens=OPENS)
    assert rec.state is TicketState.REJECTED
    assert "current plan is 20250616-cccccccccccc" in rec.message
    assert store.portfolio() == before
    assert store.summary().stage is Stage.STALE_TICKET
    assert _box(store, "results") == [t.ticket_id]


def test_process_pending_broker_mode_without_credentials_rejects(store):
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    cur = store.settings()
    store.push(store.revision(), portfolio=None,
               settings=cur.model_copy(update={"execution_mode": ExecutionMode.BROKER_PAPER}),
               reason="try the broker", actor="operator")
    [rec] = process_pending(store, now=NOW, opens=OPENS)
    assert rec.state is TicketState.REJECTED and "BROKER_PAPER" in rec.message


def test_process_pending_holds_tickets_during_an_emergency_stop(store):
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    store.set_emergency_stop(True, "halt", "operator")
    assert process_pending(store, now=NOW, opens=OPENS) == []
    assert _box(store, "submitted") == [t.ticket_id]
    store.set_emergency_stop(False, "resume", "operator")
    [rec] = process_pending(store, now=NOW, opens=OPENS)
    assert rec.state is TicketState.DRY_RUN_FILLED


def test_process_pending_skips_a_ticket_another_processor_claimed(store):
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    with store.lock():
        assert tickets.process_one(store, "20250613-tknotthere000", NOW) is None
    # two processors racing: each ticket is applied once
    out: list = []
    ths = [threading.Thread(target=lambda: out.extend(process_pending(store, now=NOW, opens=OPENS)))
           for _ in range(4)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(timeout=60)
    assert len(out) == 1 and len(_fills_audits(store)) == 1


def test_process_pending_needs_an_aware_now(store):
    with pytest.raises(ValueError, match="aware"):
        process_pending(store, now=datetime(2025, 6, 16, 9, 0))  # noqa: DTZ001


# -- processing: MANUAL ------------------------------------------------------------------------
def test_manual_ticket_awaits_then_partial_then_final_fills(manual_store):
    store = manual_store
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    [rec] = process_pending(store, now=NOW, opens=OPENS)
    assert rec.state is TicketState.AWAITING_MANUAL_EXECUTION
    assert _box(store, "results") == [t.ticket_id] and _box(store, "processing") == []
    assert store.summary().stage is Stage.AWAITING_MANUAL_EXECUTION
    assert store.portfolio().cash == 10_000_000.0
    at = datetime(2025, 6, 16, 9, 5, tzinfo=KST)
    # sell fully at 55,100; buy 100 of 198 at 10,075
    rec = record_fills(store, t.ticket_id, FillsRequest(fills=[
        Fill(ticker="005930", side=Side.SELL, qty=10, price=55_100, filled_at=at),
        Fill(ticker="305720", side=Side.BUY, qty=100, price=10_075, filled_at=at),
    ]), actor="operator")
    assert rec.state is TicketState.PARTIALLY_FILLED
    assert rec.fills[0].commission == pytest.approx(551_000 * C)
    assert rec.fills[0].tax == pytest.approx(551_000 * TAX_2025)   # 826.50
    p = store.portfolio()
    # 10,000,000 + 551,000 − 82.65 − 826.50 − 1,007,500 − 151.125 = 9,542,439.725
    assert p.cash == pytest.approx(9_542_439.725, abs=1e-6)
    assert p.holding("005930") is None and p.holding("305720").qty == 100
    assert p.revision == rec.portfolio_revision_after
    assert store.summary().stage is Stage.AWAITING_MANUAL_EXECUTION
    # the rest of 305720 at 10,080 with the broker's own commission; 069500 never filled: final
    rec = record_fills(store, t.ticket_id, FillsRequest(fills=[
        Fill(ticker="305720", side=Side.BUY, qty=98, price=10_080, filled_at=at,
             commission=150.0),
    ], final=True, note="069500 not filled"), actor="operator")
    assert rec.state is TicketState.FILLS_RECORDED and len(rec.fills) == 3
    p = store.portfolio()
    assert p.cash == pytest.approx(9_542_439.725 - 98 * 10_080 - 150.0, abs=1e-6)
    h = p.holding("305720")
    assert h.qty == 198 and h.avg_price == pytest.approx((100 * 10_075 + 98 * 10_080) / 198)
    assert p.holding("069500") is None
    assert store.summary().stage is Stage.DONE_TODAY
    assert len(_fills_audits(store)) == 2
    with pytest.raises(TicketStateError):
        record_fills(store, t.ticket_id, FillsRequest(fills=[
            Fill(ticker="069500", side=Side.BUY, qty=1, price=35_000, filled_at=at)]),
            actor="operator")


def test_manual_ticket_all_quantities_filled_is_final(manual_store):
    store = manual_store
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    process_pending(store, now=NOW, opens=OPENS)
    rec = record_fills(store, t.ticket_id, FillsRequest(fills=[
        Fill(ticker=o.ticker, side=o.side, qty=o.qty, price=o.limit_price, filled_at=NOW)
        for o in t.orders]), actor="operator")
    assert rec.state is TicketState.FILLS_RECORDED


def test_record_fills_over_fill_names_the_fill(manual_store):
    store = manual_store
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    process_pending(store, now=NOW, opens=OPENS)
    record_fills(store, t.ticket_id, FillsRequest(fills=[
        Fill(ticker="305720", side=Side.BUY, qty=150, price=10_080, filled_at=NOW)]),
        actor="operator")
    before = store.portfolio()
    with pytest.raises(TicketRejected) as exc:
        record_fills(store, t.ticket_id, FillsRequest(fills=[
            Fill(ticker="069500", side=Side.BUY, qty=1, price=35_000, filled_at=NOW),
            Fill(ticker="305720", side=Side.BUY, qty=49, price=10_080, filled_at=NOW)]),
            actor="operator")
    assert answer_of(exc.value)[0] == 422 and exc.value.field == "fills[1].qty"
    assert "over-fill" in str(exc.value)
    assert store.portfolio() == before  # nothing of the rejected request was applied


def test_record_fills_ticker_or_side_not_in_the_ticket(manual_store):
    store = manual_store
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    process_pending(store, now=NOW, opens=OPENS)
    with pytest.raises(TicketRejected) as exc:
        record_fills(store, t.ticket_id, FillsRequest(fills=[
            Fill(ticker="229200", side=Side.BUY, qty=1, price=9_000, filled_at=NOW)]),
            actor="operator")
    assert exc.value.field == "fills[0].ticker"
    with pytest.raises(TicketRejected) as exc:
        record_fills(store, t.ticket_id, FillsRequest(fills=[
            Fill(ticker="005930", side=Side.BUY, qty=1, price=55_000, filled_at=NOW)]),
            actor="operator")
    assert exc.value.field == "fills[0].side"


def test_record_fills_sell_above_the_holding_is_rejected(tmp_path):
    s = make_store(tmp_path / "d", mode=ExecutionMode.MANUAL)
    install_plan(s)
    t = drafted(s)
    submit_ticket(s, t, "k", actor="operator")
    process_pending(s, now=NOW, opens=OPENS)
    # the operator sold 5 shares elsewhere and pushed the holding down to 5 in the meantime
    p = s.portfolio()
    h = p.holding("005930").model_copy(update={"qty": 5})
    s.push(s.revision(), portfolio=Portfolio(cash=p.cash, holdings=[h]), settings=None,
           reason="sold 5 elsewhere", actor="operator")
    with pytest.raises(TicketRejected) as exc:
        record_fills(s, t.ticket_id, FillsRequest(fills=[
            Fill(ticker="005930", side=Side.SELL, qty=10, price=55_000, filled_at=NOW)]),
            actor="operator")
    assert exc.value.field == "fills[0].qty" and "holds 5" in str(exc.value)


def test_record_fills_on_a_dry_run_or_unknown_ticket(store):
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    req = FillsRequest(fills=[Fill(ticker="305720", side=Side.BUY, qty=1, price=1.0,
                                   filled_at=NOW)])
    with pytest.raises(TicketStateError, match="is SUBMITTED"):  # a DRY_RUN ticket
        record_fills(store, t.ticket_id, req, actor="operator")
    process_pending(store, now=NOW, opens=OPENS)
    with pytest.raises(TicketStateError) as exc:
        record_fills(store, t.ticket_id, req, actor="operator")
    assert answer_of(exc.value)[0] == 409
    with pytest.raises(TicketNotFound) as exc:
        record_fills(store, "20250613-tk999999999999", req, actor="operator")
    assert answer_of(exc.value)[0] == 404
    with pytest.raises(TicketNotFound):
        record_fills(store, "../../state/portfolio", req, actor="operator")


# -- reads -------------------------------------------------------------------------------------
def test_list_tickets_newest_first_and_filtered(store, tmp_path):
    t = drafted(store)
    submit_ticket(store, t, "k1", actor="operator")
    process_pending(store, now=NOW, opens=OPENS)
    install_plan(store, plan_id="20250616-dddddddddddd")
    t2 = drafted(store)
    submit_ticket(store, t2, "k2", actor="operator")
    recs = list_tickets(store)
    assert [r.ticket.ticket_id for r in recs] == [t2.ticket_id, t.ticket_id]
    assert [r.ticket.ticket_id for r in list_tickets(store, state=TicketState.DRY_RUN_FILLED)] \
        == [t.ticket_id]
    assert len(list_tickets(store, limit=1)) == 1


def test_get_ticket_unknown_or_malformed_id_is_404(store):
    for tid in ["20250613-tk999999999999", "../x", "", "a/b"]:
        with pytest.raises(TicketNotFound):
            get_ticket(store, tid)


# -- unexpected errors -------------------------------------------------------------------------
def _raise_at(point):
    def hook(name):
        if name == point:
            raise OSError(f"disk trouble at {name}")
    return hook


def test_process_pending_error_before_the_portfolio_write_fails_the_ticket(store, monkeypatch):
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    before = store.portfolio()
    monkeypatch.setattr(tickets.boxes, "crash_point", _raise_at("after_intent"))
    [rec] = process_pending(store, now=NOW, opens=OPENS)
    assert rec.state is TicketState.FAILED and "disk trouble" in rec.message
    assert rec.fills == [] and rec.portfolio_revision_after is None
    assert store.portfolio() == before
    assert _box(store, "processing") == [] and _box(store, "results") == [t.ticket_id]


def test_process_pending_error_after_the_portfolio_write_is_completed_later(store, monkeypatch):
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    rev = store.revision()
    monkeypatch.setattr(tickets.boxes, "crash_point", _raise_at("after_portfolio_write"))
    assert process_pending(store, now=NOW, opens=OPENS) == []  # left for recovery, not failed
    assert _box(store, "processing") == [t.ticket_id]
    monkeypatch.undo()
    # its recover step completes the ticket
    assert process_pending(store, now=NOW, opens=OPENS) == []
    assert get_ticket(store, t.ticket_id).state is TicketState.DRY_RUN_FILLED
    assert store.portfolio().revision == rev + 1
    assert store.portfolio().cash == pytest.approx(_expected_dry_run_cash(), abs=1e-6)
