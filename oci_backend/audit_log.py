"""The audit log of one data root: `state/audit.jsonl`, one `AuditEntry` per line, append-only.

Every append is fsynced; one that fails (disk full) is truncated away. A torn last line (power
loss) is ended by the next append so the new entry stands on its own line; readers skip
unreadable lines and report them (`skipped`). `tail` reads only the end of the file: the log
grows forever, the snapshot must not get slower with it. Appends take the data root's write
lock (the `Store`'s), so an entry and the state change it describes are written by one writer
at a time; the `Store` journals both together (`Store.commit`).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path

from filelock import BaseFileLock
from pydantic import ValidationError

from contracts.audit import AuditAction, AuditEntry, FieldChange
from krx_common.atomic import WriteFailed
from krx_common.redact import mask_urls

log = logging.getLogger("krx.oci.store")

# How many of the newest lines are searched for the last sequence number (torn lines are
# skipped, so one is not enough).
SEQ_LOOKBACK = 20


class AuditLog:
    """Appends and reads of one audit log file, under the data root's write lock."""

    def __init__(self, path: Path, lock: BaseFileLock) -> None:
        self.path = path
        self._lock = lock
        # Line numbers (or, from `tail`, negative offsets from the end) of lines the last
        # read skipped because they do not parse.
        self.skipped: list[int] = []

    # -- writes ------------------------------------------------------------------------------
    def append(self, entry: AuditEntry) -> None:
        """Append one line and fsync it: the audit log is append-only. The entry gets the
        next sequence number (`numbered`)."""
        with self._lock:
            self.append_line(self.numbered(entry).model_dump_json())

    def numbered(self, entry: AuditEntry) -> AuditEntry:
        """`entry` with the next sequence number: one more than the newest numbered line's
        (1 on a log without one). Call under the write lock, right before the append."""
        if entry.seq is not None:
            return entry
        last = max((e.seq for e in self.tail(SEQ_LOOKBACK) if e.seq is not None), default=0)
        return entry.model_copy(update={"seq": last + 1})

    def append_line(self, line: str) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._append_bytes(line)
            except OSError as exc:
                raise WriteFailed(self.path, exc) from exc

    def _append_bytes(self, line: str) -> None:
        # 0600 like every state file (mkstemp); the umask cannot widen it.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            end = os.lseek(fd, 0, os.SEEK_END)
            prefix = b""
            # A torn last line (power loss): end it so this entry stands on its own line;
            # readers skip the torn one and report it.
            if end and os.pread(fd, 1, end - 1) != b"\n":
                prefix = b"\n"
                log.warning("audit log %s ended in a torn line; closed it before appending",
                            self.path)
            data = memoryview(prefix + line.encode("utf-8") + b"\n")
            try:
                while data:
                    data = data[os.write(fd, data):]
                os.fsync(fd)
            except OSError:
                # A full disk took part of the line: take it back, so a failed append leaves
                # the log as it was (the caller answers "nothing was changed" or replays).
                try:
                    os.ftruncate(fd, end)
                except OSError as exc:
                    log.error("audit log %s: could not take back a partial line (%s)",
                              self.path, exc)
                raise
        finally:
            os.close(fd)

    def ends_with(self, line: str) -> bool:
        """True when `line` is the last complete line (a replayed change already logged)."""
        want = line.encode("utf-8") + b"\n"
        try:
            with open(self.path, "rb") as fh:
                end = fh.seek(0, os.SEEK_END)
                if end < len(want):
                    return False
                fh.seek(end - len(want))
                return fh.read() == want
        except FileNotFoundError:
            return False

    # -- reads -------------------------------------------------------------------------------
    def read(
        self, *, limit: int = 100, action: AuditAction | None = None, target: str | None = None,
        since: datetime | None = None,
    ) -> list[AuditEntry]:
        """The newest `limit` entries matching the filters, oldest first, as people read them
        (`mask_entry`: notification URLs masked)."""
        if not self.path.exists():
            return []
        out: list[AuditEntry] = []
        skipped: list[int] = []
        with open(self.path, "rb") as fh:
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
                out.append(mask_entry(entry))
        self._report_skipped(skipped)
        return out[-limit:] if limit else out

    def _report_skipped(self, lines: list[int]) -> None:
        self.skipped = lines
        if lines:
            log.warning("audit log %s: skipped %d unreadable line(s) (torn writes?): %s",
                        self.path, len(lines), lines[:10])

    def tail(self, n: int = 20) -> list[AuditEntry]:
        """The newest `n` entries, oldest first, reading only the end of the log (masked like
        `read`)."""
        path = self.path
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
        # Parse from the newest line back until `n` entries are read: the chunk holds many
        # more lines than asked for, and every append reads the tail for its sequence number.
        out: list[AuditEntry] = []
        skipped = []
        for i in range(len(lines) - 1, -1, -1):
            try:
                out.append(mask_entry(AuditEntry.model_validate_json(lines[i])))
            except ValidationError:
                skipped.append(i - len(lines))  # torn line, counted from the end
                continue
            if len(out) == n:
                break
        self._report_skipped(sorted(skipped))
        out.reverse()
        return out


def mask_change(change: FieldChange) -> FieldChange:
    """A change of notification URLs with their credentials masked (`krx_common.redact`)."""
    if "apprise_urls" not in change.path:
        return change
    return change.model_copy(update={"before": mask_urls(change.before),
                                     "after": mask_urls(change.after)})


def mask_entry(entry: AuditEntry) -> AuditEntry:
    """`entry` as people read it: notification URLs masked (also in lines written before
    they were masked at write)."""
    if not any("apprise_urls" in c.path for c in entry.changes):
        return entry
    return entry.model_copy(update={"changes": [mask_change(c) for c in entry.changes]})
