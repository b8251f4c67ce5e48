"""The SSOT store: atomic JSON artifacts, one write lock, revisions and the audit log.

Every write is temp file + fsync + rename + directory fsync, so a reader (or a crash) sees the
old file or the new one, never a torn one. Writers of state take `Store.lock()` so the cron
job, the API and the ticket processor never interleave read-modify-write cycles.
A file that fails validation raises `CorruptFile` (path + first error) and is never replaced.

A change of state (portfolio, settings, emergency stop) and its audit line are one unit:
`Store.commit` writes them to `state/journal.json` first, then applies them and removes the
journal. A crash in between leaves the journal, and the next reader or writer replays it
(`Store.recover`), so a PUSH of portfolio + settings lands whole, with its audit line, or not
at all. Once a data root is initialised, a missing state file is refused (`MissingStateFile`)
instead of being recreated with defaults (which would restart the revision at 1).
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from filelock import FileLock
from pydantic import BaseModel, ValidationError

from contracts.audit import AuditAction, AuditEntry, FieldChange
from contracts.common import now_kst
from contracts.plan import OrderPlan
from contracts.portfolio import Portfolio
from contracts.settings import Settings
from contracts.summary import OpsSummary, Stage
from contracts.sync import EmergencyStop
from oci_backend.paths import DataPaths

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger("krx.oci.store")

# A temp file of an atomic write older than this was left by a crash (writes take ms).
ORPHAN_TMP_AGE_S = 300.0


class StoreError(Exception):
    """Base of store errors; `field` names what is wrong when it is one field."""

    field: str | None = None


class CorruptFile(StoreError):
    def __init__(self, path: Path, error: str) -> None:
        super().__init__(f"{path}: {error} (the file was left as it is; fix or restore it)")
        self.path = path
        self.error = error


class MissingStateFile(CorruptFile):
    """A state file is gone although the data root was initialised: refused like a corrupt
    one (recreating defaults would reset cash and holdings and restart the revision)."""

    def __init__(self, path: Path) -> None:
        StoreError.__init__(
            self, f"{path}: missing, although this data root was initialised; restore it from "
                  "a backup (it is never recreated with defaults: the revision would go back)")
        self.path = path
        self.error = "missing after initialisation"


class WriteFailed(StoreError):
    """A write failed (disk full, file size limit, read-only filesystem): the previous file
    is left as it was and the request fails."""

    def __init__(self, path: Path, exc: OSError) -> None:
        name = errno.errorcode.get(exc.errno or 0, "error")
        super().__init__(f"could not write {path}: {exc.strerror or exc} ({name}); the previous "
                         "version is intact and nothing was changed; free disk space or raise "
                         "the file size limit, then retry")
        self.path = path


class StaleRevision(StoreError):
    field = "If-Match"

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(
            f"revision {expected} is stale: OCI is at revision {actual}; PULL, re-apply, PUSH again"
        )
        self.expected = expected
        self.actual = actual


def _fsync_dir(directory: Path) -> None:
    if os.name == "nt":
        # Windows cannot open a directory as a file; NTFS journals the rename itself. (The PC
        # workspace on Windows writes through these helpers too.)
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str, *, sync_file: bool = True,
                      sync_dir: bool = True) -> None:
    """Replace `path` with `text` (UTF-8) atomically and durably (mode 0600, from mkstemp).
    An OSError (ENOSPC, EFBIG, EROFS...) raises `WriteFailed` with `path` left as it was.

    For a file that can be fetched again (e.g. the PC's copy of a pulled snapshot) the caller
    may skip the fsyncs: without `sync_dir` a crash may undo the rename (the old file is back);
    without `sync_file` as well, the new file may also come back empty after a power loss."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise WriteFailed(path, exc) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            if sync_file:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise WriteFailed(path, exc) from exc
        raise
    if sync_dir:
        _fsync_dir(path.parent)


def atomic_move(src: Path, dst: Path) -> None:
    """Rename `src` to `dst` (same filesystem) atomically and durably (both directories are
    fsynced). Raises FileNotFoundError when `src` is gone — e.g. another process took it."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)
    _fsync_dir(dst.parent)
    if src.parent != dst.parent:
        _fsync_dir(src.parent)


def durable_unlink(path: Path) -> bool:
    """Remove `path` and fsync its directory; False when it did not exist."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    _fsync_dir(path.parent)
    return True


def dump_model(model: BaseModel) -> str:
    return model.model_dump_json(indent=2) + "\n"


def atomic_write_model(path: Path, model: BaseModel) -> None:
    atomic_write_text(path, dump_model(model))


def first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "(root)"
    return f"{loc}: {err['msg']}"


def read_model(path: Path, model: type[M]) -> M | None:
    """The validated artifact at `path`, None when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        raise CorruptFile(path, first_error(exc)) from None


def diff_fields(before: Any, after: Any, prefix: str = "") -> list[FieldChange]:
    """Field-level before→after changes between two JSON-like values (dotted paths)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[FieldChange] = []
        for key in sorted(set(before) | set(after)):
            path = f"{prefix}.{key}" if prefix else str(key)
            out += diff_fields(before.get(key), after.get(key), path)
        return out
    if _is_keyed_list(before) and _is_keyed_list(after):
        b = {item["ticker"]: item for item in before}
        a = {item["ticker"]: item for item in after}
        out = []
        for key in sorted(set(b) | set(a)):
            out += diff_fields(b.get(key), a.get(key), f"{prefix}[{key}]")
        return out
    if before != after:
        return [FieldChange(path=prefix, before=before, after=after)]
    return []


def _is_keyed_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, dict) and "ticker" in x for x in value)


# Fields that change on every write and say nothing about the content.
_VOLATILE = {"revision", "asof", "updated_at"}


StateName = Literal["portfolio", "settings", "emergency_stop"]


class _JournalWrite(BaseModel):
    name: StateName
    text: str


class _Journal(BaseModel):
    """One change: the full new text of each state file, and its audit line."""

    writes: list[_JournalWrite]
    audit: str


@dataclass
class PushOutcome:
    revision: int
    changed: list[str] = field(default_factory=list)
    entry: AuditEntry | None = None


class Store:
    """State files of one data root. Methods that change state take the write lock."""

    def __init__(self, paths: DataPaths, *, lock_timeout: float = 30.0) -> None:
        self.paths = paths
        # Line numbers (or, from `audit_tail`, negative offsets from the end) of audit lines
        # the last read skipped because they do not parse.
        self.audit_skipped: list[int] = []
        paths.ensure_dirs()
        self._lock = FileLock(str(paths.write_lock), timeout=lock_timeout)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """The single writer lock (re-entrant within a thread)."""
        with self._lock:
            yield

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
        return read_model(self.paths.emergency_stop, EmergencyStop) or EmergencyStop(on=False)

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
            if not self.paths.initialized.exists():
                atomic_write_text(self.paths.initialized,
                                  f"initialised; revision {max(p.revision, s.revision)}\n")
            return p, s

    def commit(self, writes: list[tuple[StateName, BaseModel]], entry: AuditEntry) -> None:
        """Write state files and their audit line, all or nothing: journal first, then apply
        (a crash in between is finished by `recover`)."""
        with self.lock():
            journal = _Journal(
                writes=[_JournalWrite(name=n, text=dump_model(m)) for n, m in writes],
                audit=entry.model_dump_json())
            atomic_write_text(self.paths.journal, journal.model_dump_json())
            self._apply(journal)

    def recover(self) -> bool:
        """Replay a change a crash left in the journal; True when there was one."""
        with self.lock():
            try:
                text = self.paths.journal.read_text(encoding="utf-8")
            except FileNotFoundError:
                return False
            try:
                journal = _Journal.model_validate_json(text)
            except ValidationError as exc:
                raise CorruptFile(self.paths.journal, first_error(exc)) from None
            log.warning("replaying an interrupted change of %s from %s",
                        ",".join(w.name for w in journal.writes), self.paths.journal)
            self._apply(journal)
            return True

    def _state_path(self, name: StateName) -> Path:
        return {"portfolio": self.paths.portfolio, "settings": self.paths.settings,
                "emergency_stop": self.paths.emergency_stop}[name]

    def _apply(self, journal: _Journal) -> None:
        for w in journal.writes:
            atomic_write_text(self._state_path(w.name), w.text)
        if not self._audit_ends_with(journal.audit):
            self._append_line(journal.audit)
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
        reason: str, actor: str,
    ) -> PushOutcome:
        """Replace portfolio and/or settings if `expected_revision` is current (else
        `StaleRevision`); unchanged content is not rewritten and does not bump the revision."""
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
            for name, cur, new in pairs:
                if new is None:
                    continue
                diff = diff_fields(
                    cur.model_dump(mode="json", exclude=_VOLATILE),
                    new.model_dump(mode="json", exclude=_VOLATILE), name,
                )
                if not diff:
                    continue
                stamp = {"revision": new_rev}
                stamp["asof" if name == "portfolio" else "updated_at"] = now  # type: ignore[assignment]
                writes.append((name, new.model_copy(update=stamp)))
                changes += diff
                changed.append(name)
            if not writes:
                return PushOutcome(revision=current, changed=[])
            entry = AuditEntry(
                actor=actor, action=AuditAction.PUSH, target=",".join(changed), reason=reason,
                changes=changes, revision_before=current, revision_after=new_rev,
            )
            self.commit(writes, entry)
            return PushOutcome(revision=new_rev, changed=changed, entry=entry)

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
                changes=diff_fields(cur.model_dump(mode="json", exclude=_VOLATILE),
                                    new.model_dump(mode="json", exclude=_VOLATILE), "portfolio"),
                revision_before=current, revision_after=current + 1, details=details or {},
            ))
            return new

    def set_emergency_stop(self, on: bool, reason: str, by: str) -> EmergencyStop:
        with self.lock():
            before = self.emergency_stop()
            stop = EmergencyStop(on=on, reason=reason, by=by, at=now_kst())
            self.commit([("emergency_stop", stop)], AuditEntry(
                actor=by, action=AuditAction.EMERGENCY_STOP, target="emergency_stop",
                reason=reason, changes=[FieldChange(path="emergency_stop.on", before=before.on,
                                                    after=on)],
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

    # -- audit -------------------------------------------------------------------------------
    def append_audit(self, entry: AuditEntry) -> None:
        """Append one line and fsync it: the audit log is append-only."""
        self._append_line(entry.model_dump_json())

    def _append_line(self, line: str) -> None:
        with self.lock():
            self.paths.audit.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._append_bytes(line)
            except OSError as exc:
                raise WriteFailed(self.paths.audit, exc) from exc

    def _append_bytes(self, line: str) -> None:
        # 0600 like every state file (mkstemp); the umask cannot widen it.
        fd = os.open(self.paths.audit, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a+b") as fh:
            end = fh.seek(0, os.SEEK_END)
            prefix = b""
            if end:
                fh.seek(end - 1)
                # A torn last line (disk full, power loss): end it so this entry stands on
                # its own line; readers skip the torn one and report it.
                if fh.read(1) != b"\n":
                    prefix = b"\n"
                    log.warning("audit log %s ended in a torn line; closed it before "
                                "appending", self.paths.audit)
            fh.write(prefix + line.encode("utf-8") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _audit_ends_with(self, line: str) -> bool:
        want = line.encode("utf-8") + b"\n"
        try:
            with open(self.paths.audit, "rb") as fh:
                end = fh.seek(0, os.SEEK_END)
                if end < len(want):
                    return False
                fh.seek(end - len(want))
                return fh.read() == want
        except FileNotFoundError:
            return False

    def audit(
        self, *, limit: int = 100, action: AuditAction | None = None, target: str | None = None,
        since: datetime | None = None,
    ) -> list[AuditEntry]:
        """The newest `limit` entries matching the filters, oldest first."""
        if not self.paths.audit.exists():
            return []
        out: list[AuditEntry] = []
        skipped: list[int] = []
        with open(self.paths.audit, "rb") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip() or not line.endswith(b"\n"):
                    continue  # blank, or an append still in progress
                try:
                    entry = AuditEntry.model_validate_json(line)
                except ValidationError:
                    skipped.append(n)  # torn by a crash or a full disk, ended by the next append
                    continue
                if action and entry.action != action:
                    continue
                if target and target not in entry.target:
                    continue
                if since and entry.at < since:
                    continue
                out.append(entry)
        self._report_skipped(skipped)
        return out[-limit:] if limit else out

    def _report_skipped(self, lines: list[int]) -> None:
        self.audit_skipped = lines
        if lines:
            log.warning("audit log %s: skipped %d unreadable line(s) (torn writes?): %s",
                        self.paths.audit, len(lines), lines[:10])

    def audit_tail(self, n: int = 20) -> list[AuditEntry]:
        """The newest `n` entries, oldest first, reading only the end of the log (the log
        grows forever; the snapshot must not get slower with it)."""
        path = self.paths.audit
        if n <= 0 or not path.exists():
            return []
        with open(path, "rb") as fh:
            end = fh.seek(0, os.SEEK_END)
            pos, data = end, b""
            while pos > 0 and data.count(b"\n") <= n:
                step = min(64 * 1024, pos)
                pos -= step
                fh.seek(pos)
                data = fh.read(step) + data
        # A line without its newline is an append still in progress: not an entry yet.
        data = data[: data.rfind(b"\n") + 1]
        lines = [ln for ln in data.split(b"\n") if ln.strip()]
        if pos > 0:
            lines = lines[1:]  # the first line may be cut in the middle
        out = []
        skipped = []
        for i, line in enumerate(lines):
            try:
                out.append(AuditEntry.model_validate_json(line))
            except ValidationError:
                skipped.append(i - len(lines))  # torn line, counted from the end
        self._report_skipped(skipped)
        return out[-n:]
