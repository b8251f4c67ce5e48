"""The SSOT store: atomic writes, revisions, field-level audit, corrupt files left alone."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from contracts import AuditAction, Holding, Portfolio, Settings
from contracts.common import now_kst
from krx_common.atomic import CorruptFile, atomic_write_text, read_model
from krx_common.docpath import diff_fields
from oci_backend.paths import data_paths
from oci_backend.store import StaleRevision, Store


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(data_paths(tmp_path))


def test_store_initialize_creates_defaults_once_at_revision_1(store):
    p, s = store.initialize()
    assert (p.revision, s.revision, p.cash) == (1, 1, 10_000_000)
    store.initialize()
    inits = store.audit_log.read(action=AuditAction.INIT)
    assert len(inits) == 1 and inits[0].target == "portfolio,settings"


def test_store_push_bumps_revision_and_audits_field_changes(store):
    store.initialize()
    p = store.portfolio().model_copy(update={
        "cash": 5_000_000.0, "holdings": [Holding(ticker="005930", qty=3, avg_price=70_000)]})
    out = store.push(1, portfolio=p, settings=None, reason="bought by hand", actor="op")
    assert out.revision == 2 and out.changed == ["portfolio"]
    assert store.revision() == 2 and store.portfolio().revision == 2
    entry = store.audit_log.read(action=AuditAction.PUSH)[-1]
    assert (entry.reason, entry.actor, entry.revision_before, entry.revision_after) == (
        "bought by hand", "op", 1, 2)
    paths = {c.path: (c.before, c.after) for c in entry.changes}
    assert paths["portfolio.cash"] == (10_000_000.0, 5_000_000.0)
    assert paths["portfolio.holdings[005930]"][1]["qty"] == 3


def test_store_push_with_stale_revision_changes_nothing(store):
    store.initialize()
    before = {p.name: p.read_bytes() for p in store.paths.state_dir.iterdir() if p.is_file()}
    s = Settings.model_validate(store.settings().model_dump() | {"execution_mode": "MANUAL"})
    with pytest.raises(StaleRevision, match="revision 0 is stale: OCI is at revision 1"):
        store.push(0, portfolio=None, settings=s, reason="x", actor="op")
    after = {p.name: p.read_bytes() for p in store.paths.state_dir.iterdir() if p.is_file()}
    assert after == before


def test_store_push_without_change_keeps_revision(store):
    store.initialize()
    out = store.push(1, portfolio=store.portfolio(), settings=store.settings(), reason="noop",
                     actor="op")
    assert out.revision == 1 and out.changed == []
    assert store.audit_log.read(action=AuditAction.PUSH) == []


def test_store_corrupt_file_is_reported_with_path_and_never_replaced(store):
    store.initialize()
    store.paths.portfolio.write_text('{"cash": "lots"}', encoding="utf-8")
    with pytest.raises(CorruptFile) as exc:
        store.portfolio()
    assert str(store.paths.portfolio) in str(exc.value) and "cash" in str(exc.value)
    with pytest.raises(CorruptFile):
        store.initialize()
    assert store.paths.portfolio.read_text(encoding="utf-8") == '{"cash": "lots"}'


def test_atomic_write_leaves_no_temp_files_and_replaces_content(tmp_path):
    path = tmp_path / "x.json"
    atomic_write_text(path, "one")
    atomic_write_text(path, "두 번째")
    assert path.read_text(encoding="utf-8") == "두 번째"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_read_model_missing_file_is_none(tmp_path):
    assert read_model(tmp_path / "nope.json", Portfolio) is None


def test_audit_ignores_an_append_still_in_progress(store):
    store.initialize()
    with open(store.paths.audit, "a", encoding="utf-8") as fh:
        fh.write('{"at": "2025-12-29T09:05:00+09:00", "actor": "cron", "act')  # no newline yet
    assert [e.action for e in store.audit_log.read()] == [AuditAction.INIT]
    assert [e.action for e in store.audit_log.tail(5)] == [AuditAction.INIT]


def test_audit_filters_by_action_target_and_since(store):
    store.initialize()
    store.set_emergency_stop(True, "drill", "qa")
    assert [e.action for e in store.audit_log.read(target="emergency_stop")] == [
        AuditAction.EMERGENCY_STOP]
    assert store.audit_log.read(since=now_kst() + timedelta(minutes=1)) == []
    assert len(store.audit_log.read(limit=1)) == 1


def test_audit_log_is_append_only_utf8_jsonl(store):
    store.initialize()
    p = store.portfolio().model_copy(update={"cash": 1.0})
    store.push(1, portfolio=p, settings=None, reason="한글 사유", actor="운영자")
    lines = store.paths.audit.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["reason"] == "한글 사유"
    assert oct(os.stat(store.paths.audit).st_mode)[-3:] in {"644", "600", "664"}


def test_diff_fields_keys_holdings_by_ticker():
    before = {"holdings": [{"ticker": "005930", "qty": 1}, {"ticker": "069500", "qty": 2}]}
    after = {"holdings": [{"ticker": "069500", "qty": 5}]}
    changes = {c.path: (c.before, c.after) for c in diff_fields(before, after, "portfolio")}
    assert changes == {
        "portfolio.holdings[005930]": ({"ticker": "005930", "qty": 1}, None),
        "portfolio.holdings[069500].qty": (2, 5),
    }


def test_audit_tail_parses_only_the_newest_lines_it_returns(store, monkeypatch):
    """Every append reads the tail for its sequence number: on a long log it must parse the
    newest `n` lines, not the whole 64 KiB chunk it reads (the replayed year got slower per
    session as its log grew). Torn lines among them are skipped and reported, not counted."""
    from contracts.audit import AuditEntry
    store.initialize()
    for i in range(300):
        store.set_emergency_stop(i % 2 == 0, f"drill {i}", "op")
    with open(store.paths.audit, "ab") as fh:
        fh.write(b'{"at":"torn"\n')  # a torn line, ended by a later append
    store.set_emergency_stop(False, "last", "op")
    parsed: list[bytes] = []
    real = AuditEntry.model_validate_json

    def counting(data, *a, **k):
        parsed.append(data)
        return real(data, *a, **k)

    monkeypatch.setattr(AuditEntry, "model_validate_json", counting)
    tail = store.audit_log.tail(3)
    assert [e.reason for e in tail] == ["drill 298", "drill 299", "last"]
    assert [e.seq for e in tail] == [300, 301, 302]  # numbered in order across the torn line
    assert store.audit_log.skipped == [-2]
    assert len(parsed) == 4  # the three entries and the torn line, nothing older
