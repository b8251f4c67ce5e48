"""The PULL bundle: everything the cockpit shows, read consistently from the store.

`build_snapshot` is the plain version (a `SyncSnapshot` model). `SnapshotReader` serves the
same bundle as JSON for the API without re-reading unchanged files: each artifact is kept as
validated JSON text keyed by its file's stat signature (inode, size, mtime, ctime). Every
writer replaces files by rename (`store.atomic_write_*`, `atomic_move`), which changes the
signature of the file and of its directory. A file changed less than `SETTLE_NS` ago is never
served from the cache ("racy clean", as git calls it: a second write within one timestamp
tick could keep the signature), so a cached answer is never older than the files.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import TypeAdapter

from contracts.audit import AuditEntry
from contracts.common import KstDatetime, now_kst
from contracts.ops import DailyOpsStatus
from contracts.plan import OrderPlan
from contracts.summary import OpsSummary
from contracts.sync import EmergencyStop, SyncSnapshot
from contracts.ticket import TicketRecord
from krx_common.atomic import read_model
from oci_backend.daily_ops import last_status
from oci_backend.paths import TICKET_BOXES
from oci_backend.store import Store, public_settings
from oci_backend.tickets import list_tickets
from strategy import calendar
from strategy.calendar import SessionCalendar

TICKETS_IN_SNAPSHOT = 20
AUDIT_IN_SNAPSHOT = 20
# Files changed more recently than this are re-read: filesystem timestamps are coarse
# (a kernel tick, or a second on some filesystems).
SETTLE_NS = 1_000_000_000

T = TypeVar("T")
Signature = tuple[int, int, int, int] | None  # (inode, size, mtime_ns, ctime_ns); None = absent

_tickets_json = TypeAdapter(list[TicketRecord])
_audit_json = TypeAdapter(list[AuditEntry])
_time_json = TypeAdapter(KstDatetime)


def build_snapshot(store: Store, *, tickets: int = TICKETS_IN_SNAPSHOT,
                   audit: int = AUDIT_IN_SNAPSHOT) -> SyncSnapshot:
    """A `SyncSnapshot` whose revision matches the portfolio and settings it carries.

    The two files are read under the store's write lock: a PUSH writes them one after the
    other, and a snapshot taken in between would pair the new revision with old content
    (the client would then PUSH over changes it never saw).
    """
    with store.lock():
        portfolio = store.portfolio()
        settings = store.settings()
    summary = store.summary()
    plan = store.plan(summary.plan.plan_id) if summary and summary.plan else None
    return SyncSnapshot(
        revision=max(portfolio.revision, settings.revision),
        portfolio=portfolio, settings=public_settings(settings), summary=summary, plan=plan,
        tickets=list_tickets(store, limit=tickets), emergency_stop=store.stop_in_force(),
        audit_tail=store.audit_log.tail(audit),
    )


def signature(path: Path) -> Signature:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _settled(sigs: tuple[Signature, ...]) -> bool:
    stamps = [t for s in sigs if s is not None for t in (s[2], s[3])]
    return not stamps or time.time_ns() - max(stamps) > SETTLE_NS


@dataclass
class _Entry(Generic[T]):
    sigs: tuple[Signature, ...]
    value: T


class CacheMiss(Exception):
    """In `_Cache.hits_only()`: a value would have to be read from disk."""


class _Cache:
    """Values derived from files, reused while the files' signatures stay the same."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    @contextmanager
    def hits_only(self) -> Iterator[None]:
        """Within: a value that is not cached (or whose files changed) raises CacheMiss
        instead of being loaded, so the caller does nothing but stat calls."""
        self._local.hits_only = True
        try:
            yield
        finally:
            self._local.hits_only = False

    def may_load(self, key: str) -> None:
        if getattr(self._local, "hits_only", False):
            raise CacheMiss(key)

    def get(self, key: str, paths: tuple[Path, ...], load: Callable[[], T]) -> T:
        sigs = tuple(signature(p) for p in paths)
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and hit.sigs == sigs and _settled(sigs):
            return hit.value
        self.may_load(key)
        value = load()
        # Only what provably did not change while it was read is kept.
        if tuple(signature(p) for p in paths) == sigs and _settled(sigs):
            with self._lock:
                self._entries[key] = _Entry(sigs, value)
        return value


@dataclass(frozen=True)
class _State:
    revision: int
    portfolio_json: str
    settings_json: str


@dataclass(frozen=True)
class StateDirFlags:
    """What the names in `state/` say: a replay root, a journal not applied yet, and how
    many journals `Store.recover` refused and kept aside."""

    replay: bool
    journal_pending: bool
    refused_journals: int


@dataclass(frozen=True)
class _SummaryPart:
    summary: OpsSummary | None
    json: str


class SnapshotReader:
    """Serves `SyncSnapshot` JSON and the pieces `/health` needs, reusing unchanged files."""

    def __init__(self, store: Store, *, tickets: int = TICKETS_IN_SNAPSHOT,
                 audit: int = AUDIT_IN_SNAPSHOT) -> None:
        self.store = store
        self.tickets = tickets
        self.audit = audit
        self._cache = _Cache()

    def _state(self) -> _State:
        paths = self.store.paths

        def load() -> _State:
            # Under the write lock: see `build_snapshot` for why the pair must match.
            with self.store.lock():
                p, s = self.store.portfolio(), self.store.settings()
            return _State(max(p.revision, s.revision), p.model_dump_json(),
                          public_settings(s).model_dump_json())

        # The journal too: a pending change must be replayed (or its failure answered), never
        # hidden behind the cached old revision.
        return self._cache.get("state", (paths.portfolio, paths.settings, paths.journal), load)

    def revision(self) -> int:
        return self._state().revision

    def calendar(self) -> SessionCalendar:
        """The session calendar of the current settings (XKRX plus the operator's overrides),
        cached by the settings file's signature: `/health` asks on every call."""
        return self._cache.get("calendar", (self.store.paths.settings,),
                               lambda: calendar.for_settings(self.store.settings()))

    def _summary(self) -> _SummaryPart:
        def load() -> _SummaryPart:
            summary = self.store.summary()
            return _SummaryPart(summary, summary.model_dump_json() if summary else "null")

        return self._cache.get("summary", (self.store.paths.summary_latest,), load)

    def summary(self) -> OpsSummary | None:
        """The latest summary (shared: callers must not modify it)."""
        return self._summary().summary

    def _plan_json(self, plan_id: str) -> str:
        path = self.store.paths.plan(plan_id)

        def load() -> tuple[str, str]:
            plan = read_model(path, OrderPlan)
            return plan_id, plan.model_dump_json() if plan else "null"

        # One entry for "the current plan" (not one per plan id ever seen).
        cached_id, text = self._cache.get("plan", (path,), load)
        if cached_id == plan_id:
            return text
        self._cache.may_load("plan")
        return load()[1]

    def _stop(self) -> tuple[EmergencyStop, str]:
        def load() -> tuple[EmergencyStop, str]:
            stop = self.store.stop_in_force()
            return stop, stop.model_dump_json()

        return self._cache.get("stop", (self.store.paths.emergency_stop,), load)

    def _stop_json(self) -> str:
        return self._stop()[1]

    def emergency_stop(self) -> EmergencyStop:
        """The stop in force (`Store.stop_in_force`; shared: callers must not modify it)."""
        return self._stop()[0]

    def daily_ops(self) -> DailyOpsStatus | None:
        """How the last daily_ops run ended (`daily_ops.last_status`; shared)."""
        return self._cache.get("daily_ops", (self.store.paths.daily_ops,),
                               lambda: last_status(self.store))

    def state_dir_flags(self) -> StateDirFlags:
        """The replay marker, a pending journal and refused journals in `state/`. Each is
        created, renamed or removed there, which changes the directory's signature, so one
        stat of the directory answers all three while nothing changed."""
        paths = self.store.paths

        def load() -> StateDirFlags:
            return StateDirFlags(replay=paths.is_replay, journal_pending=paths.journal.exists(),
                                 refused_journals=len(self.store.refused_journals()))

        return self._cache.get("state_dir", (paths.state_dir,), load)

    def if_cached(self, answer: Callable[[], T]) -> T | None:
        """`answer()` when everything it asks of this reader is cached and unchanged (stat
        calls only, cheap enough for the event loop), else None: then call it in a thread."""
        with self._cache.hits_only():
            try:
                return answer()
            except CacheMiss:
                return None

    def _tickets_json(self) -> str:
        # Every ticket write is a rename into (or out of) one of these directories.
        boxes = tuple(self.store.paths.ticket_box(b) for b in TICKET_BOXES)

        def load() -> str:
            records = list_tickets(self.store, limit=self.tickets)
            return _tickets_json.dump_json(records).decode()

        return self._cache.get("tickets", boxes, load)

    def _audit_json(self) -> str:
        def load() -> str:
            return _audit_json.dump_json(self.store.audit_log.tail(self.audit)).decode()

        return self._cache.get("audit", (self.store.paths.audit,), load)

    def cached_snapshot_json(self) -> tuple[int, bytes] | None:
        """`snapshot_json()` when every part is cached (`if_cached`), else None."""
        return self.if_cached(self.snapshot_json)

    def snapshot_json(self) -> tuple[int, bytes]:
        """(revision, the JSON of a `SyncSnapshot`), field for field what
        `build_snapshot(store).model_dump_json()` gives."""
        state = self._state()
        part = self._summary()
        summary = part.summary
        plan = self._plan_json(summary.plan.plan_id) if summary and summary.plan else "null"
        body = "".join((
            '{"revision":', str(state.revision),
            ',"server_time":', _time_json.dump_json(now_kst()).decode(),
            ',"portfolio":', state.portfolio_json,
            ',"settings":', state.settings_json,
            ',"summary":', part.json,
            ',"plan":', plan,
            ',"tickets":', self._tickets_json(),
            ',"emergency_stop":', self._stop_json(),
            ',"audit_tail":', self._audit_json(),
            "}",
        ))
        return state.revision, body.encode()
