"""Store under faults: an interrupted change is finished whole, with exactly one audit line;
a torn audit line is skipped, reported and ended; a lost state file is refused; temp files
left by crashes are removed (issue 11, defects 2, 3, 6, 9)."""

from __future__ import annotations

import os
import time

import pytest

from contracts import AuditAction, Holding, Settings
from oci_backend import store as store_mod
from oci_backend.paths import data_paths
from oci_backend.store import MissingStateFile, Store


class Crash(BaseException):
    """Stands in for SIGKILL: nothing after it runs (BaseException: no handler catches it)."""


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(data_paths(tmp_path))
    s.initialize()
    return s


def _new_inputs(store: Store) -> tuple:
    p = store.portfolio().model_copy(update={
        "cash": 4_000_000.0, "holdings": [Holding(ticker="005930", qty=7, avg_price=70_000)]})
    s = Settings.model_validate(store.settings().model_dump() | {"execution_mode": "MANUAL"})
    return p, s


def _crash_after(monkeypatch, n_writes: int) -> None:
    """Let `n_writes` atomic writes happen, then crash on the next one."""
    real = store_mod.atomic_write_text
    count = {"n": 0}

    def write(path, text):
        if count["n"] >= n_writes:
            raise Crash(f"killed before writing {path.name}")
        count["n"] += 1
        real(path, text)

    monkeypatch.setattr(store_mod, "atomic_write_text", write)


@pytest.mark.parametrize("writes_before_crash", [1, 2])
def test_store_push_interrupted_midway_is_replayed_whole(store, monkeypatch, writes_before_crash):
    # 1 = only the journal landed; 2 = journal + portfolio (the old bug: new portfolio with
    # old settings and no audit line).
    p, s = _new_inputs(store)
    _crash_after(monkeypatch, writes_before_crash)
    with pytest.raises(Crash):
        store.push(1, portfolio=p, settings=s, reason="both", actor="op")
    monkeypatch.undo()
    assert store.paths.journal.exists()

    fresh = Store(store.paths)  # a restarted process
    assert fresh.portfolio().cash == 4_000_000.0
    assert fresh.settings().execution_mode == "MANUAL"
    assert fresh.portfolio().revision == fresh.settings().revision == 2
    pushes = fresh.audit_log.read(action=AuditAction.PUSH)
    assert [(e.revision_before, e.revision_after, e.target) for e in pushes] == [
        (1, 2, "portfolio,settings")]
    assert not fresh.paths.journal.exists()


def test_store_replay_after_the_audit_line_does_not_duplicate_it(store, monkeypatch):
    p, s = _new_inputs(store)
    monkeypatch.setattr(store_mod, "durable_unlink", lambda path: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        store.push(1, portfolio=p, settings=s, reason="both", actor="op")
    monkeypatch.undo()
    assert store.paths.journal.exists()
    fresh = Store(store.paths)
    fresh.initialize()
    assert len(fresh.audit_log.read(action=AuditAction.PUSH)) == 1
    assert fresh.revision() == 2 and not fresh.paths.journal.exists()


def test_store_push_before_the_journal_changes_nothing(store, monkeypatch):
    before = {f.name: f.read_bytes() for f in store.paths.state_dir.iterdir() if f.is_file()}
    p, s = _new_inputs(store)
    _crash_after(monkeypatch, 0)
    with pytest.raises(Crash):
        store.push(1, portfolio=p, settings=s, reason="both", actor="op")
    monkeypatch.undo()
    after = {f.name: f.read_bytes() for f in store.paths.state_dir.iterdir() if f.is_file()}
    assert after == before
    assert Store(store.paths).revision() == 1


def test_store_missing_state_file_after_init_is_refused_not_recreated(store):
    p, s = _new_inputs(store)
    store.push(1, portfolio=p, settings=s, reason="r", actor="op")
    store.paths.portfolio.unlink()
    fresh = Store(store.paths)
    with pytest.raises(MissingStateFile, match="portfolio.json: missing"):
        fresh.portfolio()
    with pytest.raises(MissingStateFile):
        fresh.revision()
    with pytest.raises(MissingStateFile):
        fresh.initialize()
    assert not store.paths.portfolio.exists()  # nothing recreated with defaults
    assert fresh.settings().revision == 2


def test_store_both_state_files_missing_after_init_are_refused(store):
    store.paths.portfolio.unlink()
    store.paths.settings.unlink()
    with pytest.raises(MissingStateFile):
        Store(store.paths).initialize()
    assert not store.paths.portfolio.exists() and not store.paths.settings.exists()


def test_store_fresh_root_is_initialised_with_marker(tmp_path):
    s = Store(data_paths(tmp_path))
    assert not s.is_initialized()
    p, st = s.initialize()
    assert (p.revision, st.revision) == (1, 1)
    assert s.paths.initialized.exists() and s.is_initialized()


def test_store_torn_last_audit_line_is_skipped_reported_and_ended(store, caplog):
    store.set_emergency_stop(True, "drill", "op")
    with open(store.paths.audit, "ab") as fh:
        fh.write(b'{"at":"2025-12-29T09:05:00+09:00","actor":"sys')  # power lost mid-append
    assert [e.action for e in store.audit_log.read()] == [AuditAction.INIT,
                                                          AuditAction.EMERGENCY_STOP]
    assert len(store.audit_log.tail(5)) == 2

    store.set_emergency_stop(False, "drill over", "op")  # the next append ends the torn line
    lines = store.paths.audit.read_bytes().split(b"\n")
    assert lines[2].endswith(b'"actor":"sys') and lines[3].startswith(b'{"at":')
    entries = store.audit_log.read()
    assert [e.reason for e in entries][-2:] == ["drill", "drill over"]
    assert store.audit_log.skipped == [3]
    assert "skipped 1 unreadable line" in caplog.text
    tail = store.audit_log.tail(5)
    assert [e.reason for e in tail][-1] == "drill over" and store.audit_log.skipped == [-2]


def test_store_sweep_removes_only_old_orphaned_temp_files(store):
    old = store.paths.state_dir / ".portfolio.json.abc123.tmp"
    old_report = store.paths.plans_dir / ".x.json.def.tmp"
    fresh = store.paths.state_dir / ".settings.json.ghi.tmp"
    for f in (old, old_report, fresh):
        f.write_text("partial", encoding="utf-8")
    past = time.time() - 3600
    for f in (old, old_report):
        os.utime(f, (past, past))
    Store(store.paths).initialize()
    assert not old.exists() and not old_report.exists()
    assert fresh.exists()  # may belong to a write in progress in another process


def test_store_if_match_newer_than_current_is_stale_and_changes_nothing(store):
    from oci_backend.store import StaleRevision

    before = store.paths.portfolio.read_bytes()
    p, _ = _new_inputs(store)
    with pytest.raises(StaleRevision) as info:
        store.push(2, portfolio=p, settings=None, reason="from the future", actor="op")
    assert (info.value.expected, info.value.actual) == (2, 1)
    assert store.paths.portfolio.read_bytes() == before and store.revision() == 1
    assert store.audit_log.read(action=AuditAction.PUSH) == []
