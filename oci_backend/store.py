"""The SSOT state store: the state files of one data root, one write lock, revisions, the
journal, and the audit log (`oci_backend.audit_log`) its changes are recorded in.

Every write goes through `krx_common.atomic` (temp file + fsync + rename + directory fsync).
Writers of state take `Store.lock()` so the cron job, the API and the ticket processor never
interleave read-modify-write cycles. A file that fails validation raises `CorruptFile`.

A change of state (portfolio, settings, emergency stop) and its audit line are one unit:
`Store.commit` writes them to `state/journal.json` first, then applies them and removes the
journal. A crash in between leaves the journal, and the next reader or writer replays it
(`Store.recover`), so a PUSH of portfolio + settings lands whole, with its audit line, or not
at all. Once a data root is initialised, a missing state file is refused (`MissingStateFile`)
instead of being recreated with defaults (which would restart the revision at 1).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from filelock import FileLock, Timeout
from pydantic import BaseModel, Field, ValidationError

from contracts.audit import AuditAction, AuditEntry, FieldChange
from contracts.common import now_kst
from contracts.plan import OrderPlan
from contracts.portfolio import Portfolio
from contracts.settings import Settings
from contracts.summary import OpsSummary, Stage
from contracts.sync import EmergencyStop
from krx_common.atomic import (
    CorruptFile,
    StoreError,
    UnreadableFile,
    atomic_move,
    atomic_write_model,
    atomic_write_text,
    dump_model,
    durable_unlink,
    first_error,
    read_model,
    remedy,
)
from krx_common.docpath import VOLATILE, diff_fields
from krx_common.redact import mask_url, unmask
from oci_backend.audit_log import AuditLog, mask_change
from oci_backend.paths import DataPaths

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger("krx.oci.store")

# The `.initialized` marker's line saying the stop file was created: from then on a missing
# stop file is refused (fail closed), never read as "off".
STOP_MARKER = "emergency_stop created"
# The code of a change whose journal is durable but not applied yet (/health, 503 answers).
JOURNAL_PENDING = "JOURNAL_PENDING"
# The code in a fail-closed stop's reason (and in /health) when the stop file is unreadable.
STOP_UNREADABLE = "EMERGENCY_STOP_UNREADABLE"

# Below this many free bytes on the data root's filesystem /health is degraded (DISK_LOW): a
# change writes its journal, its files and an audit line, a cycle its plan and summaries.
DISK_LOW_BYTES = 1024 * 1024

# A temp file of an atomic write older than this was left by a crash (writes take ms).
ORPHAN_TMP_AGE_S = 300.0


class MissingStateFile(CorruptFile):
    """A state file is gone although the data root was initialised: refused like a corrupt
    one (recreating defaults would reset cash and holdings and restart the revision)."""

    def __init__(self, path: Path) -> None:
        StoreError.__init__(
            self, f"{path}: missing, although this data root was initialised; restore it from "
                  "a backup (it is never recreated with defaults: the revision would go back)")
        self.path = path
        self.error = "missing after initialisation"


class ChangePending(StoreError):
    """A change failed *after* its journal was durable: it is accepted and completes when the
    disk allows (the next read or write replays the journal). Never "nothing was changed"."""

    def __init__(self, cause: StoreError) -> None:
        super().__init__(
            "accepted, will complete: the change is journaled but could not be applied yet "
            f"({cause}); it completes by itself once that is fixed, do not resend it; PULL to "
            "see it land")


class JournalPending(StoreError):
    """An earlier accepted change is journaled but cannot be applied yet (disk): reads and
    writes wait for it (503); nothing of the request that got this was changed."""

    def __init__(self, cause: StoreError) -> None:
        super().__init__(
            f"{JOURNAL_PENDING}: an earlier accepted change is not applied yet ({cause}); "
            "nothing of this request was changed; retry once that is fixed")


class LockUnavailable(StoreError):
    """The write lock file cannot be opened (permissions, disk): nothing was changed."""

    def __init__(self, exc: OSError) -> None:
        name = errno.errorcode.get(exc.errno or 0, "error")
        super().__init__(f"the write lock cannot be taken ({name}); nothing was changed; "
                         f"{remedy(exc.errno)}")


class StaleRevision(StoreError):
    field = "If-Match"

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(
            f"revision {expected} is stale: OCI is at revision {actual}; PULL, re-apply, PUSH again"
        )
        self.expected = expected
        self.actual = actual


def field_changes(before: BaseModel, after: BaseModel, prefix: str) -> list[FieldChange]:
    """The audit log's field changes between two versions of a state file (stamps ignored)."""
    return [mask_change(FieldChange(path=d.path, before=d.before, after=d.after))
            for d in diff_fields(before.model_dump(mode="json", exclude=set(VOLATILE)),
                                 after.model_dump(mode="json", exclude=set(VOLATILE)), prefix)]


def public_settings(settings: Settings) -> Settings:
    """`settings` as the snapshot shows them: notification URLs masked. A PUSH may send the
    masked URLs back unchanged (`Store.push` restores them)."""
    urls = settings.notifications.apprise_urls
    if not urls:
        return settings
    notifications = settings.notifications.model_copy(
        update={"apprise_urls": [mask_url(u) for u in urls]})
    return settings.model_copy(update={"notifications": notifications})


class MaskedSecretUnknown(StoreError):
    """A PUSH sent a masked notification URL that masks none of the stored ones."""

    def __init__(self, index: int) -> None:
        super().__init__(f"settings.notifications.apprise_urls[{index}] is a masked URL that "
                         "matches no stored one; send the full URL")
        self.field = f"settings.notifications.apprise_urls[{index}]"


StateName = Literal["portfolio", "settings", "emergency_stop"]


class _JournalWrite(BaseModel):
    name: StateName
    text: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class _Journal(BaseModel):
    """One change: the revision it commits, the revision it replaces, the full new text of
    each state file with its checksum, and its audit line. Verified before it is replayed."""

    revision: int = Field(ge=0)
    # None only for an emergency-stop write while the portfolio/settings cannot be read: the
    # stop must always be engageable.
    base_revision: int | None = Field(ge=0)
    writes: list[_JournalWrite] = Field(min_length=1)
    audit: str


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_MODELS: dict[str, type[BaseModel]] = {
    "portfolio": Portfolio, "settings": Settings, "emergency_stop": EmergencyStop}

# A journal holds one portfolio + settings + stop: anything bigger is not one of ours, and is
# refused without being parsed (a 40 MB file cost every request 0.5 s).
JOURNAL_MAX_BYTES = 4 * 1024 * 1024


@dataclass
class PushOutcome:
    revision: int
    changed: list[str] = field(default_factory=list)
    entry: AuditEntry | None = None


class Store:
    """State files of one data root. Methods that change state take the write lock."""

    def __init__(self, paths: DataPaths, *, lock_timeout: float = 30.0) -> None:
        self.paths = paths
        try:
            paths.ensure_dirs()
        except OSError as exc:  # served degraded: /health says why, writes fail clearly
            log.error("data root %s cannot be prepared: %s", paths.root, exc)
        self._lock = FileLock(str(paths.write_lock), timeout=lock_timeout)
        self.audit_log = AuditLog(paths.audit, self._lock)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """The single writer lock (re-entrant within a thread). On a read-only data root no
        one can write, so readers go on without it; any other failure to take it raises
        `LockUnavailable`."""
        try:
            self._lock.acquire()
        except Timeout:  # a TimeoutError (an OSError): another writer holds it
            raise
        except OSError as exc:
            if exc.errno == errno.EROFS:
                yield
                return
            raise LockUnavailable(exc) from exc
        try:
            yield
        finally:
            self._lock.release()

    # -- reads -------------------------------------------------------------------------------
    def is_initialized(self) -> bool:
        """True once the first-run state exists (or existed: the marker stays)."""
        p = self.paths
        return p.initialized.exists() or p.portfolio.exists() or p.settings.exists()

    def _read_state(self, path: Path, model: type[M]) -> M | None:
        if self.paths.journal.exists():
            self.recover()  # a crash interrupted a change: finish it before anyone reads
        value = read_model(path, model)
        if value is None and self.is_initialized():
            raise MissingStateFile(path)
        return value

    def portfolio(self) -> Portfolio:
        p = self._read_state(self.paths.portfolio, Portfolio)
        return p if p is not None else self.initialize()[0]

    def settings(self) -> Settings:
        s = self._read_state(self.paths.settings, Settings)
        return s if s is not None else self.initialize()[1]

    def revision(self) -> int:
        """The global revision: bumped by every change to the portfolio or the settings."""
        return max(self.portfolio().revision, self.settings().revision)

    def emergency_stop(self) -> EmergencyStop:
        """The stop file, validated. Missing once `initialize` created it → `MissingStateFile`
        (deleting it must not turn the stop off); damaged → `CorruptFile`. Readers that
        decide whether to act use `stop_in_force`, which fails closed."""
        stop = read_model(self.paths.emergency_stop, EmergencyStop)
        if stop is None:
            if self._stop_file_created():
                raise MissingStateFile(self.paths.emergency_stop)
            return EmergencyStop(on=False)
        return stop

    def stop_in_force(self) -> EmergencyStop:
        """The stop as every decision must see it: a missing or damaged stop file counts as
        ON (fail closed), with a reason saying so, until the operator engages the stop (which
        rewrites the file) and releases it."""
        try:
            return self.emergency_stop()
        except CorruptFile as exc:
            log.error("emergency stop file unreadable, treated as ON: %s", exc.error)
            return EmergencyStop(
                on=True, by="system",
                reason=f"{STOP_UNREADABLE}: the emergency stop file is {exc.error}; treated as "
                       "ON until the operator engages the stop (rewriting the file) and "
                       "releases it")

    def _stop_file_created(self) -> bool:
        try:
            marker = self.paths.initialized.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False
        return STOP_MARKER in marker

    def summary(self) -> OpsSummary | None:
        return read_model(self.paths.summary_latest, OpsSummary)

    def plan(self, plan_id: str) -> OrderPlan | None:
        return read_model(self.paths.plan(plan_id), OrderPlan)

    def current_plan(self) -> OrderPlan | None:
        summary = self.summary()
        if summary is None or summary.plan is None:
            return None
        return self.plan(summary.plan.plan_id)

    # -- writes ------------------------------------------------------------------------------
    def initialize(self, actor: str = "system") -> tuple[Portfolio, Settings]:
        """Finish an interrupted change, remove temp files crashes left behind, and create the
        first-run portfolio and settings (revision 1) on a fresh data root. On an initialised
        root a missing state file raises `MissingStateFile`."""
        with self.lock():
            self.recover()
            self.sweep_orphans()
            p = self._read_state(self.paths.portfolio, Portfolio)
            s = self._read_state(self.paths.settings, Settings)
            if p is None or s is None:  # both absent: `_read_state` refuses one alone
                p = Portfolio.default().model_copy(update={"revision": 1})
                s = Settings().model_copy(update={"revision": 1})
                self.commit([("portfolio", p), ("settings", s)], AuditEntry(
                    actor=actor, action=AuditAction.INIT, target="portfolio,settings",
                    reason="first run: defaults created", revision_after=1,
                ))
            if not self._stop_file_created():
                # Created once (also on a root made before the stop file was), so that a
                # deleted stop file is refused instead of read as "off".
                if not self.paths.emergency_stop.exists():
                    atomic_write_model(self.paths.emergency_stop, EmergencyStop(on=False))
                atomic_write_text(self.paths.initialized,
                                  f"initialised; revision {max(p.revision, s.revision)}\n"
                                  f"{STOP_MARKER}\n")
            return p, s

    def commit(self, writes: list[tuple[StateName, BaseModel]], entry: AuditEntry) -> None:
        """Write state files and their audit line, all or nothing: journal first, then apply
        (a crash in between is finished by `recover`). A pending journal is replayed first."""
        with self.lock():
            self.recover()
            base: int | None
            try:
                base = self._files_revision()
            except CorruptFile:
                if any(n != "emergency_stop" for n, _ in writes):
                    raise
                base = None
            texts = [(n, dump_model(m)) for n, m in writes]
            revision = max([base or 0] + [int(getattr(m, "revision", 0)) for _, m in writes])
            entry = self.audit_log.numbered(entry)
            journal = _Journal(
                revision=revision, base_revision=base,
                writes=[_JournalWrite(name=n, text=t, sha256=_sha256(t)) for n, t in texts],
                audit=entry.model_dump_json())
            atomic_write_text(self.paths.journal, journal.model_dump_json())
            try:
                self._apply(journal)
            except StoreError as exc:  # the journal is durable: the change will complete
                log.error("change journaled but not applied yet: %s", exc)
                raise ChangePending(exc) from exc

    def _files_revision(self) -> int:
        """The global revision of the files as they are (0 before the first run)."""
        p = read_model(self.paths.portfolio, Portfolio)
        st = read_model(self.paths.settings, Settings)
        return max(p.revision if p else 0, st.revision if st else 0)

    def storage_problem(self) -> str | None:
        """What keeps the data root from taking writes (a read-only mount, no permission,
        nearly no space), as a code and what to do, never a path; None when it can."""
        where = self.paths.state_dir if self.paths.state_dir.is_dir() else self.paths.root
        try:
            fs = os.statvfs(where)
        except OSError as exc:
            return f"STORE_ERROR: the data root cannot be read; {remedy(exc.errno)}"
        if fs.f_flag & os.ST_RDONLY:
            return (f"READ_ONLY: the data root's filesystem is mounted read-only: PUSH, tickets, "
                    f"the stop and the cycle are refused (reads go on); {remedy(errno.EROFS)}")
        if not os.access(where, os.W_OK):
            return (f"NOT_WRITABLE: the service user may not write the data root: changes are "
                    f"refused (reads go on); {remedy(errno.EACCES)}")
        free = fs.f_bavail * fs.f_frsize
        if free < DISK_LOW_BYTES:
            return (f"DISK_LOW: {free:,} bytes free on the data root's filesystem: changes and "
                    f"the cycle fail until there is room; {remedy(errno.ENOSPC)}")
        return None

    def refused_journals(self) -> list[Path]:
        """Journals refused by `recover`, kept aside for a person (the backend is degraded
        while any is there)."""
        return sorted(self.paths.state_dir.glob("journal.refused-*.json"))

    def recover(self) -> bool:
        """Replay a change a crash left in the journal, after verifying it; True when there
        was one. A journal that fails verification is moved aside (`refused_journals`, the
        backend is degraded while one is there) and nothing is overwritten."""
        with self.lock():
            try:
                size = self.paths.journal.stat().st_size
            except FileNotFoundError:
                return False
            problem = (f"{size} bytes, more than any change writes" if size > JOURNAL_MAX_BYTES
                       else None)
            journal = None
            if problem is None:
                try:
                    text = self.paths.journal.read_text(encoding="utf-8", errors="replace")
                except OSError as exc:  # a directory in its place, permissions
                    problem = f"it cannot be read ({errno.errorcode.get(exc.errno or 0)})"
                else:
                    journal, problem = self._verified(text)
            if journal is None:
                self._refuse(problem or "unverifiable")
                return False
            log.warning("replaying an interrupted change of %s (revision %s -> %s)",
                        ",".join(w.name for w in journal.writes), journal.base_revision,
                        journal.revision)
            try:
                self._apply(journal)
            except StoreError as exc:
                raise JournalPending(exc) from exc
            return True

    def _verified(self, text: str) -> tuple[_Journal | None, str | None]:
        """(journal, None) when it may be replayed, else (None, why not)."""
        try:
            journal = _Journal.model_validate_json(text)
        except ValidationError as exc:
            return None, f"not a journal ({first_error(exc)})"
        try:
            entry = AuditEntry.model_validate_json(journal.audit)
        except ValidationError as exc:
            return None, f"its audit line is invalid ({first_error(exc)})"
        revisions = []
        for w in journal.writes:
            if _sha256(w.text) != w.sha256:
                return None, f"the checksum of its {w.name} text does not match"
            try:
                model = _MODELS[w.name].model_validate_json(w.text)
            except ValidationError as exc:
                return None, f"its {w.name} text is invalid ({first_error(exc)})"
            if w.name == "emergency_stop":
                if entry.action is not AuditAction.EMERGENCY_STOP:
                    return None, "a stop write without its EMERGENCY_STOP audit line"
            else:
                revisions.append(int(getattr(model, "revision", 0)))
        if journal.base_revision is None:
            if revisions:
                return None, "a state write without a base revision"
            return journal, None  # a stop engaged while the state files were unreadable
        want = journal.base_revision + 1 if revisions else journal.base_revision
        if journal.revision != want or (revisions and max(revisions) != journal.revision):
            return None, (f"revision {journal.revision} does not follow its base revision "
                          f"{journal.base_revision}")
        # The base must be the files' revision. A crash between the writes of one change
        # leaves some files already at the new revision: that is the journal's own work.
        current = self._files_revision()
        if current not in (journal.base_revision, journal.revision):
            return None, (f"it replaces revision {journal.base_revision}, but the files are "
                          f"at revision {current} (a stale or foreign journal)")
        return journal, None

    def _refuse(self, problem: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        aside = self.paths.state_dir / f"journal.refused-{stamp}.json"
        try:
            atomic_move(self.paths.journal, aside)
        except OSError as exc:
            raise UnreadableFile(self.paths.journal, exc) from exc
        log.error("refused the pending journal (%s): kept as %s, nothing overwritten; a "
                  "person must look at it and remove it", problem, aside)

    def _state_path(self, name: StateName) -> Path:
        return {"portfolio": self.paths.portfolio, "settings": self.paths.settings,
                "emergency_stop": self.paths.emergency_stop}[name]

    def _apply(self, journal: _Journal) -> None:
        for w in journal.writes:
            atomic_write_text(self._state_path(w.name), w.text)
        if not self.audit_log.ends_with(journal.audit):
            self.audit_log.append_line(journal.audit)
        durable_unlink(self.paths.journal)

    def sweep_orphans(self, max_age_s: float = ORPHAN_TMP_AGE_S) -> list[Path]:
        """Remove temp files of atomic writes (`.<name>.*.tmp`) older than `max_age_s` under
        state/ and reports/: a crash between write and rename leaves them behind."""
        cutoff = time.time() - max_age_s
        removed = []
        for base in (self.paths.state_dir, self.paths.reports_dir):
            for path in base.rglob(".*.tmp"):
                try:
                    if path.is_file() and path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed.append(path)
                except FileNotFoundError:
                    continue
        if removed:
            log.warning("removed %d temp file(s) left by an interrupted write: %s",
                        len(removed), ", ".join(str(p) for p in removed[:5]))
        return removed

    def push(
        self, expected_revision: int, *, portfolio: Portfolio | None, settings: Settings | None,
        reason: str, actor: str, check_settings: Callable[[Settings, Settings], None] | None = None,
    ) -> PushOutcome:
        """Replace portfolio and/or settings if `expected_revision` is current (else
        `StaleRevision`); unchanged content is not rewritten and does not bump the revision.
        `check_settings(current, new)` runs under the lock before anything is written and may
        refuse the new settings by raising (the OCI API's execution-mode guard). A change of
        `execution_mode` is audited twice: in the PUSH line's details and as a MODE_CHANGE
        line."""
        with self.lock():
            cur_p, cur_s = self.portfolio(), self.settings()
            current = max(cur_p.revision, cur_s.revision)
            if expected_revision != current:
                raise StaleRevision(expected_revision, current)
            new_rev = current + 1
            now = now_kst()
            changes: list[FieldChange] = []
            changed: list[str] = []
            writes: list[tuple[StateName, BaseModel]] = []
            pairs: tuple[tuple[StateName, BaseModel, BaseModel | None], ...] = (
                ("portfolio", cur_p, portfolio), ("settings", cur_s, settings))
            if settings is not None:
                settings = self._unmasked(settings, cur_s)
                if check_settings is not None:
                    check_settings(cur_s, settings)
                pairs = (pairs[0], ("settings", cur_s, settings))
            for name, cur, new in pairs:
                if new is None:
                    continue
                diff = field_changes(cur, new, name)
                if not diff:
                    continue
                stamp = {"revision": new_rev}
                stamp["asof" if name == "portfolio" else "updated_at"] = now  # type: ignore[assignment]
                writes.append((name, new.model_copy(update=stamp)))
                changes += diff
                changed.append(name)
            if not writes:
                return PushOutcome(revision=current, changed=[])
            mode_change: dict[str, Any] = {}
            if settings is not None and settings.execution_mode != cur_s.execution_mode:
                mode_change = {"from": cur_s.execution_mode.value,
                               "to": settings.execution_mode.value}
            entry = AuditEntry(
                actor=actor, action=AuditAction.PUSH, target=",".join(changed), reason=reason,
                changes=changes, revision_before=current, revision_after=new_rev,
                details={"mode_change": mode_change} if mode_change else {},
            )
            self.commit(writes, entry)
            if mode_change:
                self.audit_log.append(AuditEntry(
                    actor=actor, action=AuditAction.MODE_CHANGE, target="execution_mode",
                    reason=reason, revision_before=current, revision_after=new_rev,
                    changes=[FieldChange(path="settings.execution_mode",
                                         before=mode_change["from"],
                                         after=mode_change["to"])],
                    details=mode_change))
            return PushOutcome(revision=new_rev, changed=changed, entry=entry)

    @staticmethod
    def _unmasked(settings: Settings, current: Settings) -> Settings:
        """`settings` with masked notification URLs (from a snapshot) restored from
        `current`; `MaskedSecretUnknown` for one that masks none of them."""
        urls, unknown = unmask(settings.notifications.apprise_urls,
                               current.notifications.apprise_urls)
        if unknown:
            raise MaskedSecretUnknown(unknown[0])
        if urls == settings.notifications.apprise_urls:
            return settings
        notifications = settings.notifications.model_copy(update={"apprise_urls": urls})
        return settings.model_copy(update={"notifications": notifications})

    def update_portfolio(
        self, change: Callable[[Portfolio], Portfolio], *, reason: str, actor: str,
        action: AuditAction, details: dict[str, Any] | None = None,
    ) -> Portfolio:
        """Apply `change` to the current portfolio under the lock, bump the revision, audit it."""
        with self.lock():
            cur = self.portfolio()
            current = max(cur.revision, self.settings().revision)
            new = change(cur).model_copy(update={"revision": current + 1, "asof": now_kst()})
            new = Portfolio.model_validate(new.model_dump())
            self.commit([("portfolio", new)], AuditEntry(
                actor=actor, action=action, target="portfolio", reason=reason,
                changes=field_changes(cur, new, "portfolio"),
                revision_before=current, revision_after=current + 1, details=details or {},
            ))
            return new

    def set_emergency_stop(self, on: bool, reason: str, by: str) -> EmergencyStop:
        """Engage or release the stop. Engaging always works: a missing or damaged stop file
        is rewritten (the audit line says so). Releasing needs a valid file (`CorruptFile`
        otherwise): an unreadable stop stays in force."""
        with self.lock():
            details: dict[str, Any] = {}
            try:
                before_on: bool | None = self.emergency_stop().on
            except CorruptFile as exc:
                if not on:
                    raise
                before_on = None
                details = {"rewrote_damaged_stop_file": exc.error}
            stop = EmergencyStop(on=on, reason=reason, by=by, at=now_kst())
            self.commit([("emergency_stop", stop)], AuditEntry(
                actor=by, action=AuditAction.EMERGENCY_STOP, target="emergency_stop",
                reason=reason, changes=[FieldChange(path="emergency_stop.on", before=before_on,
                                                    after=on)], details=details,
            ))
            return stop

    def write_plan(self, plan: OrderPlan) -> Path:
        path = self.paths.plan(plan.plan_id)
        atomic_write_model(path, plan)
        return path

    def set_stage(self, stage: Stage, message: str = "") -> OpsSummary | None:
        """Move the latest summary to `stage` (ticket drafted, submitted, filled, ...)."""
        with self.lock():
            summary = self.summary()
            if summary is None:
                return None
            summary = summary.model_copy(update={
                "stage": stage, "generated_at": now_kst(),
                "message": message or summary.message,
            })
            atomic_write_model(self.paths.summary_latest, summary)
            return summary

    def write_summary(self, summary: OpsSummary, day: datetime | None = None) -> None:
        # The dated copy is named by the session it is about (replays of different sessions
        # on one day keep their own copies); a summary without a session (holiday, failure)
        # by its run date.
        stamp = summary.asof or (day or summary.run_at).date()
        atomic_write_model(self.paths.summary_dated(stamp), summary)
        atomic_write_model(self.paths.summary_latest, summary)

