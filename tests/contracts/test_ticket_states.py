"""The ticket state machine: the table next to `TicketState`, every legal edge taken and every
illegal edge refused by the one transition function the OCI ticket code uses."""

from __future__ import annotations

from datetime import date

import pytest

from contracts.common import now_kst
from contracts.settings import ExecutionMode
from contracts.ticket import (
    ALLOWED_TRANSITIONS,
    TERMINAL_STATES,
    IllegalTransition,
    Ticket,
    TicketOrder,
    TicketRecord,
    TicketState,
)
from oci_backend.tickets.boxes import transition

S = TicketState


def _record(state: TicketState) -> TicketRecord:
    order = TicketOrder(side="BUY", ticker="069500", name="KODEX 200", kind="etf", qty=1,
                        limit_price=35_000, est_notional=35_000.0, est_fees=5.25,
                        reason="RSI_DIP_ENTRY", hts_text="-")
    ticket = Ticket(ticket_id="20250613-tk000000000000", plan_id="20250613-aaaaaaaaaaaa",
                    asof=date(2025, 6, 13), mode=ExecutionMode.DRY_RUN, orders=[order])
    return TicketRecord(ticket=ticket, state=state, idempotency_key="k")


def _table() -> str:
    width = max(len(s.value) for s in S)
    lines = [f"{'from':<{width}} → allowed"]
    for s in S:
        allowed = ", ".join(t.value for t in S if t in ALLOWED_TRANSITIONS[s])
        lines.append(f"{s.value:<{width}} → {allowed or '(terminal)'}")
    return "\n".join(lines)


def test_ticket_state_table_covers_every_state_and_terminals_have_no_exit(capsys) -> None:
    print(_table())
    out = capsys.readouterr().out
    assert set(ALLOWED_TRANSITIONS) == set(S)
    for s in S:
        assert s.value in out
        assert (not ALLOWED_TRANSITIONS[s]) == (s in TERMINAL_STATES), s
    # every non-terminal state leads somewhere, and every state but DRAFT can be reached
    reached = set().union(*ALLOWED_TRANSITIONS.values())
    assert reached == set(S) - {S.DRAFT}


def test_ticket_transition_walks_every_legal_and_illegal_edge(capsys) -> None:
    legal = illegal = 0
    now = now_kst()
    for before in S:
        for after in S:
            rec = _record(before)
            if after in ALLOWED_TRANSITIONS[before]:
                moved = transition(rec, after, "step", now)
                assert moved.state is after and moved.events[-1].state is after
                assert moved.message == "step"
                legal += 1
            else:
                with pytest.raises(IllegalTransition) as exc:
                    transition(rec, after, "step", now)
                assert f"{before.value} → {after.value}" in str(exc.value)
                illegal += 1
    print(f"{legal} legal and {illegal} illegal edges walked")
    assert legal == sum(len(v) for v in ALLOWED_TRANSITIONS.values())
    assert legal + illegal == len(S) ** 2
    assert "legal and" in capsys.readouterr().out


def test_the_one_id_syntax_of_plans_and_tickets():
    from contracts.ticket import is_valid_id
    from oci_backend.paths import InvalidId, check_id

    good = ["20250613-tk0123456789ab", "a", "A.b_c-d", "9" * 128]
    bad = ["", ".hidden", "..", "a/b", "../x", "a\n", "a b", "9" * 129, "한글", None, 7]
    assert all(is_valid_id(v) for v in good)
    assert not any(is_valid_id(v) for v in bad)
    for v in good:  # OCI's file names follow the same rule
        assert check_id(v, "ticket_id") == v
    for v in bad:
        with pytest.raises(InvalidId):
            check_id(v, "ticket_id")  # type: ignore[arg-type]
