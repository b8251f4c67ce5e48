"""One owner for ticket files: `TicketFiles` moves a ticket between the boxes
`contracts.ticket.STATE_BOX` assigns to its states, along `ALLOWED_TRANSITIONS`; the ticket
operations (submit, processing, manual fills, recovery) touch no ticket file themselves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ticket_fixtures import NOW, drafted, install_plan, make_store  # noqa: I001

from contracts.common import now_kst
from contracts.settings import ExecutionMode
from contracts.ticket import (
    ALLOWED_TRANSITIONS,
    STATE_BOX,
    TERMINAL_STATES,
    IdempotencyRecord,
    TicketBox,
    TicketEvent,
    TicketRecord,
    TicketState,
)
from oci_backend.paths import TICKET_BOXES
from oci_backend.tickets.boxes import BOX_ORDER, TicketFiles


def test_every_state_has_a_box_and_every_stored_edge_leads_to_a_stored_state():
    assert set(STATE_BOX) == set(TicketState)
    assert STATE_BOX[TicketState.DRAFT] is None  # the PC's only
    assert {STATE_BOX[s] for s in TERMINAL_STATES} == {TicketBox.RESULTS}
    assert tuple(TICKET_BOXES) == tuple(BOX_ORDER) == tuple(b.value for b in TicketBox)
    for before, afters in ALLOWED_TRANSITIONS.items():
        for after in afters:
            assert STATE_BOX[after] is not None, (before, after)


def _boxes_of(store, tid: str) -> list[str]:
    return [b for b in TICKET_BOXES if store.paths.ticket(b, tid).exists()]


def _submitted(store, ticket) -> TicketRecord:
    now = now_kst()
    return TicketRecord(ticket=ticket, state=TicketState.SUBMITTED, idempotency_key="k",
                        submitted_at=now, message="m",
                        events=[TicketEvent(at=now, state=TicketState.SUBMITTED, message="m")])


def test_ticket_files_move_a_ticket_box_by_box_as_the_table_says(tmp_path):
    store = make_store(tmp_path / "data", mode=ExecutionMode.MANUAL)
    install_plan(store)
    files = TicketFiles(store)
    ticket = drafted(store)
    tid = ticket.ticket_id
    key = IdempotencyRecord(key_sha256="a" * 64, ticket_id=tid, body_sha256="b" * 64,
                            at=now_kst())
    with store.lock():
        files.create(_submitted(store, ticket), key, actor="operator")
        assert _boxes_of(store, tid) == ["submitted"] and files.key("a" * 64) == key
        held = files.claim(tid, NOW)
        assert held is not None and held.state is TicketState.PROCESSING
        assert _boxes_of(store, tid) == [STATE_BOX[TicketState.PROCESSING]]
        assert files.claim(tid, NOW) is None  # nothing left to take
        back = files.unclaim(held, NOW)  # nothing was applied: back in submitted/
        assert back.state is TicketState.SUBMITTED and _boxes_of(store, tid) == ["submitted"]
        held = files.claim(tid, NOW)
        assert held is not None
        waiting = files.move(held, TicketState.AWAITING_MANUAL_EXECUTION, "wait", NOW)
        assert _boxes_of(store, tid) == ["results"]
        assert files.find(tid) == ("results", waiting)
        assert files.states()[tid] == (ticket.plan_id, TicketState.AWAITING_MANUAL_EXECUTION)
        with pytest.raises(Exception, match="illegal ticket transition"):
            files.move(waiting, TicketState.DRY_RUN_FILLED, "no such edge", NOW)
        assert files.find(tid) == ("results", waiting)  # a refused move changes nothing
    transitions = [e.details for e in store.audit_log.read(limit=0, target=tid)]
    assert [(d["from"], d["to"]) for d in transitions] == [
        (None, "SUBMITTED"), ("PROCESSING", "SUBMITTED"),
        ("PROCESSING", "AWAITING_MANUAL_EXECUTION")]


def test_resubmitting_a_rejected_id_archives_the_old_record(tmp_path):
    store = make_store(tmp_path / "data")
    install_plan(store)
    files = TicketFiles(store)
    ticket = drafted(store)
    tid = ticket.ticket_id
    key = IdempotencyRecord(key_sha256="c" * 64, ticket_id=tid, body_sha256="d" * 64,
                            at=now_kst())
    with store.lock():
        files.create(_submitted(store, ticket), key, actor="operator")
        held = files.claim(tid, NOW)
        assert held is not None
        rejected = files.move(held, TicketState.REJECTED, "refused", NOW)
        files.create(_submitted(store, ticket), key, actor="operator",
                     replacing=("results", rejected))
    assert _boxes_of(store, tid) == ["submitted"]
    archived = TicketRecord.model_validate_json(
        store.paths.ticket_archive(tid, 1).read_text(encoding="utf-8"))
    assert archived.state is TicketState.REJECTED


def test_ticket_operations_leave_the_files_to_ticket_files():
    root = Path(__file__).resolve().parents[2] / "oci_backend" / "tickets"
    pattern = re.compile(r"paths\.ticket|ticket_box|ticket_archive|idempotency_dir|"
                         r"idempotency_record|atomic_move|durable_unlink|read_model|"
                         r"\.unlink\(|\.rename\(|os\.replace")
    for name in ("submit.py", "processing.py", "manual.py", "recovery.py", "admission.py"):
        text = (root / name).read_text(encoding="utf-8")
        assert pattern.findall(text) == [], name
