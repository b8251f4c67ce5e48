"""Issue 15 regression tests at the store: the journal is verified before it is replayed
(defect 2), every writer replays a pending journal first and a failure after the journal is
durable is never "nothing was changed" (defect 3)."""

from __future__ import annotations

import hashlib
import json

import pytest

from contracts import AuditAction, AuditEntry, EmergencyStop, Portfolio
from oci_backend.paths import data_paths
from oci_backend.store import Store


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(data_paths(tmp_path))
    s.initialize()
    return s


def _push_cash(store: Store, cash: float) -> None:
    p = store.portfolio().model_copy(update={"cash": cash})
    store.push(store.revision(), portfolio=p, settings=None, reason="cash", actor="op")


def _journal(writes: list[tuple[str, str]], audit: AuditEntry, *, revision: int,
             base: int) -> str:
    return json.dumps({
        "revision": revision, "base_revision": base, "audit": audit.model_dump_json(),
        "writes": [{"name": n, "text": t, "sha256": hashlib.sha256(t.encode()).hexdigest()}
                   for n, t in writes]})


def _portfolio_text(store: Store, revision: int, cash: float) -> str:
    p = store.portfolio().model_copy(update={"revision": revision, "cash": cash})
    return p.model_dump_json(indent=2) + "\n"


def _push_entry(before: int, after: int) -> AuditEntry:
    return AuditEntry(actor="x", action=AuditAction.PUSH, target="portfolio", reason="forged",
                      revision_before=before, revision_after=after)


def _state_bytes(store: Store) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (store.paths.portfolio, store.paths.settings,
                                             store.paths.emergency_stop, store.paths.audit)}


def _assert_refused(store: Store, before: dict[str, bytes]) -> None:
    fresh = Store(store.paths)  # a restarted process
    assert fresh.revision() == Portfolio.model_validate_json(
        before["portfolio.json"]).revision
    assert _state_bytes(fresh) == before, "nothing overwritten"
    assert not fresh.paths.journal.exists()
    assert len(fresh.refused_journals()) == 1, "kept aside for a person"


# -- defect 2: the journal is verified before it is replayed ----------------------------------
def test_defect2_journal_with_garbage_text_is_refused(store):
    _push_cash(store, 5_000_000.0)
    before = _state_bytes(store)
    store.paths.journal.write_text(json.dumps({
        "writes": [{"name": "portfolio", "text": "garbage"}],
        "audit": _push_entry(2, 3).model_dump_json()}), encoding="utf-8")
    _assert_refused(store, before)


def test_defect2_journal_with_garbage_text_and_a_right_checksum_is_refused(store):
    before = _state_bytes(store)
    store.paths.journal.write_text(
        _journal([("portfolio", "garbage")], _push_entry(1, 2), revision=2, base=1),
        encoding="utf-8")
    _assert_refused(store, before)


def test_defect2_stale_journal_does_not_take_the_revision_back(store):
    stale = _journal([("portfolio", _portfolio_text(store, 2, 1.0))], _push_entry(1, 2),
                     revision=2, base=1)
    _push_cash(store, 5_000_000.0)
    _push_cash(store, 6_000_000.0)
    assert store.revision() == 3
    before = _state_bytes(store)
    store.paths.journal.write_text(stale, encoding="utf-8")
    _assert_refused(store, before)


def test_defect2_journal_jumping_the_revision_is_refused(store):
    before = _state_bytes(store)
    store.paths.journal.write_text(
        _journal([("portfolio", _portfolio_text(store, 50, 1.0))], _push_entry(49, 50),
                 revision=50, base=49), encoding="utf-8")
    _assert_refused(store, before)


def test_defect2_journal_with_a_stop_off_write_and_no_stop_audit_is_refused(store):
    store.set_emergency_stop(True, "drill", "op")
    before = _state_bytes(store)
    off = EmergencyStop(on=False).model_dump_json()
    store.paths.journal.write_text(json.dumps({
        "writes": [{"name": "emergency_stop", "text": off}],
        "audit": _push_entry(1, 1).model_dump_json()}), encoding="utf-8")
    _assert_refused(store, before)
    assert Store(store.paths).stop_in_force().on is True


def test_defect2_huge_invalid_journal_is_refused_once_not_parsed_per_request(store):
    before = _state_bytes(store)
    store.paths.journal.write_bytes(b"{" + b" " * (40 * 1024 * 1024) + b"}")
    _assert_refused(store, before)


def test_defect2_a_journal_interrupted_midway_is_still_replayed(store):
    # The base check allows the journal's own partial work (portfolio already written).
    text = _portfolio_text(store, 2, 4_000_000.0)
    journal = _journal([("portfolio", text)], _push_entry(1, 2), revision=2, base=1)
    store.paths.journal.write_text(journal, encoding="utf-8")
    store.paths.portfolio.write_text(text, encoding="utf-8")
    fresh = Store(store.paths)
    assert fresh.portfolio().cash == 4_000_000.0 and fresh.revision() == 2
    assert not fresh.paths.journal.exists() and not fresh.refused_journals()
    assert [e.revision_after for e in fresh.audit_log.read(action=AuditAction.PUSH)] == [2]


# -- defect 13: the cycle plans on a stale portfolio ------------------------------------------
def test_defect13_fill_between_the_cycles_read_and_its_write_is_replanned(store, krx_data_dir):
    from datetime import date

    from contracts.plan import OrderPlan
    from oci_backend.pipeline import run_cycle

    calls = []

    def fill_lands_meanwhile(summary, plan) -> str:
        # Called after the plan was built and before anything is written: exactly where the
        # background processor's fill (or the operator's MANUAL fills) landed in the race.
        calls.append(summary.portfolio_revision)
        if len(calls) == 1:
            store.update_portfolio(
                lambda p: p.model_copy(update={"cash": p.cash - 3_000_000.0}),
                reason="fill landed meanwhile", actor="processor",
                action=AuditAction.FILLS_RECORDED)
        return "report"

    res = run_cycle(store, data_spec=f"csv:{krx_data_dir}", asof=date(2025, 12, 29),
                    render=fill_lands_meanwhile)
    current = store.portfolio()
    assert current.revision == 2 and calls == [1, 2]
    assert res.summary.portfolio_revision == current.revision
    assert res.plan is not None and res.plan.portfolio_revision == current.revision
    written = OrderPlan.model_validate_json(
        store.paths.plan(res.plan.plan_id).read_text(encoding="utf-8"))
    assert written.portfolio_revision == current.revision
    assert store.summary().portfolio_revision == current.revision


# -- defect 5: the clock cannot rewind the book ---------------------------------------------
def test_defect5_cycle_older_than_the_last_completed_is_blocked_clock_skew(store, krx_data_dir):
    from datetime import datetime

    from contracts.common import KST
    from oci_backend.pipeline import run_cycle

    spec = f"csv:{krx_data_dir}"
    first = run_cycle(store, data_spec=spec, now=datetime(2025, 12, 30, 10, tzinfo=KST))
    assert first.summary.asof is not None and first.summary.asof.isoformat() == "2025-12-29"
    plan_id = first.plan.plan_id if first.plan else None
    # The wall clock steps back ten days.
    back = run_cycle(store, data_spec=spec, now=datetime(2025, 12, 22, 10, tzinfo=KST))
    assert back.summary.status.value == "BLOCKED" and back.exit_code != 0
    assert [r.code for r in back.summary.risks] == ["CLOCK_SKEW"]
    assert back.plan is None and back.summary.asof is None, "no older session made current"
    assert store.current_plan() is None or store.current_plan().plan_id == plan_id
    incidents = store.audit_log.read(action=AuditAction.INCIDENT)
    assert incidents and "CLOCK_SKEW" in incidents[-1].reason
    # The clock is right again: the cycle runs.
    again = run_cycle(store, data_spec=spec, now=datetime(2025, 12, 30, 11, tzinfo=KST))
    assert again.summary.asof == first.summary.asof and again.summary.status.value != "BLOCKED"


def test_defect5_clock_stepped_back_onto_a_holiday_is_blocked_clock_skew(store, krx_data_dir):
    """Found by the fault drill: a clock stepped back onto a weekend took the HOLIDAY branch
    before the CLOCK_SKEW check, so the cycle reported a past Saturday as "no session today"
    (WARN) and /health said nothing of the clock."""
    from datetime import datetime

    from contracts.common import KST
    from oci_backend.pipeline import run_cycle

    spec = f"csv:{krx_data_dir}"
    first = run_cycle(store, data_spec=spec, now=datetime(2025, 12, 30, 10, tzinfo=KST))
    assert first.summary.asof is not None and first.summary.asof.isoformat() == "2025-12-29"
    saturday = run_cycle(store, data_spec=spec, now=datetime(2025, 12, 20, 10, tzinfo=KST))
    assert saturday.summary.status.value == "BLOCKED" and saturday.exit_code != 0
    assert [r.code for r in saturday.summary.risks] == ["CLOCK_SKEW"]
    assert not saturday.summary.holiday and saturday.plan is None
    incidents = store.audit_log.read(action=AuditAction.INCIDENT)
    assert incidents and "CLOCK_SKEW" in incidents[-1].reason
    # A real holiday after the last completed session is still a holiday.
    new_year = run_cycle(store, data_spec=spec, now=datetime(2026, 1, 1, 10, tzinfo=KST))
    assert new_year.summary.holiday and new_year.summary.status.value != "BLOCKED"


def test_defect5_audit_lines_carry_a_monotonic_sequence_number(store):
    from datetime import datetime, timedelta

    from contracts.common import now_kst

    _push_cash(store, 5_000_000.0)
    store.audit_log.append(AuditEntry(at=datetime(2020, 1, 1, tzinfo=now_kst().tzinfo),
                                  actor="x", action=AuditAction.INCIDENT, target="clock",
                                  reason="the clock stepped back"))
    store.set_emergency_stop(True, "drill", "op")
    store.audit_log.append(AuditEntry(at=now_kst() - timedelta(days=3), actor="x",
                                  action=AuditAction.INCIDENT, target="clock", reason="again"))
    seqs = [e.seq for e in Store(store.paths).audit_log.read(limit=0)]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) == 5
