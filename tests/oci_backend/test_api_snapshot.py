"""`SnapshotReader` (the cached PULL bundle) gives exactly what `build_snapshot` gives, and
never serves a file older than what is on disk."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from oci_server import REPO_DAILY

from contracts.common import now_kst
from contracts.sync import SyncSnapshot
from krx_common.atomic import CorruptFile, atomic_write_model
from oci_backend import snapshot as snapshot_module
from oci_backend.paths import data_paths
from oci_backend.pipeline import run_cycle
from oci_backend.snapshot import SnapshotReader, build_snapshot
from oci_backend.store import Store
from oci_backend.tickets import opens_from_spec, process_pending, submit_ticket
from strategy.ticketing import draft_ticket


def _same(reader: SnapshotReader, store: Store) -> SyncSnapshot:
    revision, body = reader.snapshot_json()
    fast = SyncSnapshot.model_validate_json(body)
    plain = build_snapshot(store)
    assert revision == fast.revision
    # Without a stop file the default stop is stamped "now" by each reader.
    skip = {"server_time": True, "emergency_stop": (
        set() if store.paths.emergency_stop.exists() else {"at"})}
    assert fast.model_dump(exclude=skip) == plain.model_dump(exclude=skip)
    return fast


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(data_paths(tmp_path))
    s.initialize()
    return s


def test_snapshot_reader_matches_build_snapshot_through_a_day(store: Store,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              ) -> None:
    # ctime cannot be set back; with a zero settle time every unchanged file is cacheable.
    monkeypatch.setattr(snapshot_module, "SETTLE_NS", 0)
    reader = SnapshotReader(store)
    assert _same(reader, store).summary is None
    run_cycle(store, data_spec=f"csv:{REPO_DAILY}", asof=date(2025, 12, 26))
    snap = _same(reader, store)
    assert snap.plan is not None and snap.plan.decision.value == "READY"
    ticket = draft_ticket(snap.plan, store.settings(), cash=store.portfolio().cash,
                          created_at=now_kst()).model_copy(update={"confirmed": True})
    submit_ticket(store, ticket, "key-0123456789", actor="t")
    assert [t.state.value for t in _same(reader, store).tickets] == ["SUBMITTED"]
    # DRY_RUN fills at the open of the next session (2025-12-29), which the data has.
    process_pending(store, opens=opens_from_spec(f"csv:{REPO_DAILY}", store.paths.cache_dir))
    after = _same(reader, store)
    assert [t.state.value for t in after.tickets] == ["DRY_RUN_FILLED"]
    assert after.revision == 2 and after.summary.stage.value == "DONE_TODAY"  # type: ignore
    store.set_emergency_stop(True, "drill", "qa")
    assert _same(reader, store).emergency_stop.on is True
    assert reader.snapshot_json()[1][-400:] == reader.snapshot_json()[1][-400:]  # cached
    assert reader.revision() == 2


def test_snapshot_reader_does_not_cache_fresh_files(store: Store) -> None:
    reader = SnapshotReader(store)
    assert reader.revision() == 1
    assert "state" not in reader._cache._entries  # noqa: SLF001 (written < 1 s ago)


def test_snapshot_reader_never_serves_a_replaced_file(store: Store,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot_module, "SETTLE_NS", 0)
    reader = SnapshotReader(store)
    assert reader.revision() == 1
    assert reader.revision() == 1  # now from the cache
    portfolio = store.portfolio()
    # Same size, and the mtime forced back to the cached one: only inode/ctime differ.
    atomic_write_model(store.paths.portfolio, portfolio.model_copy(update={"revision": 7}))
    cached = reader._cache._entries["state"].sigs[0]  # noqa: SLF001
    assert cached is not None
    os.utime(store.paths.portfolio, ns=(cached[2], cached[2]))
    assert reader.revision() == 7
    rev, body = reader.snapshot_json()
    assert rev == 7 and SyncSnapshot.model_validate_json(body).portfolio.revision == 7


def test_snapshot_reader_reports_a_corrupt_file(store: Store) -> None:
    reader = SnapshotReader(store)
    reader.snapshot_json()
    store.paths.settings.write_text('{"universe": []}', encoding="utf-8")
    with pytest.raises(CorruptFile) as err:
        reader.snapshot_json()
    assert err.value.path == store.paths.settings


def test_snapshot_reader_cached_path_reads_nothing_and_misses_after_a_change(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot_module, "SETTLE_NS", 0)
    reader = SnapshotReader(store)
    run_cycle(store, data_spec=f"csv:{REPO_DAILY}", asof=date(2025, 12, 26))
    assert reader.cached_snapshot_json() is None  # nothing cached yet: read in a thread
    revision, body = reader.snapshot_json()
    # Every part cached: the event-loop path answers without loading anything.
    loads: list[str] = []
    monkeypatch.setattr(store, "portfolio", lambda: loads.append("portfolio"))
    cached = reader.cached_snapshot_json()
    assert cached is not None and loads == []
    assert cached[0] == revision
    assert _strip_time(cached[1]) == _strip_time(body)
    monkeypatch.undo()
    monkeypatch.setattr(snapshot_module, "SETTLE_NS", 0)
    store.set_emergency_stop(True, "drill", "qa")  # a file changed: the cached path misses
    assert reader.cached_snapshot_json() is None
    assert SyncSnapshot.model_validate_json(reader.snapshot_json()[1]).emergency_stop.on


def _strip_time(body: bytes) -> dict:
    import json

    doc = json.loads(body)
    doc.pop("server_time")
    return doc


def test_health_cached_path_reads_nothing_and_sees_what_appears_in_state(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # /health answers on the event loop from the reader's stat-keyed cache; a refused journal
    # or a replay marker appearing in state/ changes the directory and is seen at once.
    import secrets
    from datetime import datetime

    from krx_common.defaults import KST
    from oci_backend.config import OciConfig
    from oci_backend.morning import MISSED_MORNING
    from oci_backend.routers.health import health_answer

    monkeypatch.setattr(snapshot_module, "SETTLE_NS", 0)
    config = OciConfig(token=secrets.token_urlsafe(32), data_dir=store.paths.root,
                       now=datetime(2025, 12, 30, 10, 0, tzinfo=KST))  # a session, no cycle
    reader = SnapshotReader(store)
    assert reader.if_cached(lambda: health_answer(reader, config)) is None  # nothing cached
    first = health_answer(reader, config)
    assert first.status == "ok" and first.missed_morning is not None
    assert first.missed_morning.startswith(MISSED_MORNING)
    loads: list[str] = []
    monkeypatch.setattr(store, "refused_journals", lambda: loads.append("glob") or [])
    monkeypatch.setattr(store, "summary", lambda: loads.append("summary"))
    cached = reader.if_cached(lambda: health_answer(reader, config))
    assert cached is not None and loads == []
    assert cached.model_dump(exclude={"server_time"}) == first.model_dump(
        exclude={"server_time"})
    monkeypatch.undo()
    monkeypatch.setattr(snapshot_module, "SETTLE_NS", 0)

    (store.paths.state_dir / "journal.refused-1.json").write_text("{}", encoding="utf-8")
    assert reader.if_cached(lambda: health_answer(reader, config)) is None  # state/ changed
    refused = health_answer(reader, config)
    assert refused.status == "degraded" and refused.error is not None
    assert refused.error.startswith("JOURNAL_REFUSED: 1 journal(s)")
    (store.paths.state_dir / "journal.refused-1.json").unlink()
    assert health_answer(reader, config).status == "ok"

    store.paths.replay_marker.write_text("{}", encoding="utf-8")  # a replay root: no watch
    assert health_answer(reader, config).missed_morning is None
