"""`GET /health`: liveness plus the last daily cycle (open: no token needed)."""

from __future__ import annotations

import errno

import anyio
from fastapi import APIRouter

from contracts.common import now_kst
from contracts.ops import Health, LastCycle
from contracts.sync import EmergencyStop
from krx_common.atomic import CorruptFile, StoreError, remedy
from oci_backend.config import OciConfig
from oci_backend.deps import ConfigDep, SnapshotDep
from oci_backend.morning import missed_morning
from oci_backend.snapshot import SnapshotReader, StateDirFlags
from oci_backend.store import JOURNAL_PENDING, STOP_UNREADABLE, JournalPending
from strategy.calendar import XKRX

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health(snapshots: SnapshotDep, config: ConfigDep) -> Health:
    """`ok` with the revision and the latest summary's run time, status and as-of session;
    `degraded` with the error when the state cannot be read (the process is up regardless).
    `missed_morning` says when no cycle completed by 09:30 KST on today's session."""
    # Answered on the event loop when every file it reads is cached and unchanged (stat calls
    # only): a threadpool hop cost more than the answer (the snapshot does the same).
    answer = snapshots.if_cached(lambda: health_answer(snapshots, config))
    if answer is None:
        answer = await anyio.to_thread.run_sync(health_answer, snapshots, config)
    return answer


def health_answer(snapshots: SnapshotReader, config: OciConfig) -> Health:
    """The `/health` answer from the snapshot reader's cached views of the files."""
    try:
        revision = snapshots.revision()
        summary = snapshots.summary()
        stop = snapshots.emergency_stop()
        daily_ops = snapshots.daily_ops()
        flags = snapshots.state_dir_flags()
    except StoreError as exc:
        return Health(status="degraded", error=store_error_text(exc))
    except OSError as exc:  # never a 500 with a path: a code and what to do
        name = errno.errorcode.get(exc.errno or 0, "error")
        return Health(status="degraded", error=f"STORE_ERROR: the data root cannot be read "
                                               f"({name}); {remedy(exc.errno)}")
    last = None
    if summary is not None:
        last = LastCycle(run_at=summary.run_at, asof=summary.asof, status=summary.status,
                         stage=summary.stage, message=summary.message)
    missed = None
    if config.morning_watch and not flags.replay:
        try:  # the operator's closed dates are no session to miss
            cal = snapshots.calendar()
        except StoreError:
            cal = XKRX
        missed = missed_morning(summary, config.now or now_kst(), cal)
    problem = state_problem(stop, flags)
    return Health(status="degraded" if problem else "ok", revision=revision,
                  last_cycle=last, emergency_stop=stop.on, daily_ops=daily_ops,
                  missed_morning=missed, error=problem)


def store_error_text(exc: StoreError) -> str:
    """The degraded answer for unreadable state: a code, the file's name, what to do."""
    if isinstance(exc, JournalPending):
        return str(exc)
    if isinstance(exc, CorruptFile):
        return (f"CORRUPT_FILE: {exc.path.name}: {exc.error}; the file was left as it is: fix "
                "or restore it")
    return f"STORE_ERROR: {exc}"


def state_problem(stop: EmergencyStop, flags: StateDirFlags) -> str | None:
    """What makes readable state degraded (a code and what to do; never a path)."""
    if stop.reason.startswith(STOP_UNREADABLE):  # counted as ON: fail closed
        return stop.reason
    if flags.journal_pending:
        return (f"{JOURNAL_PENDING}: a change was accepted but is not applied yet (its journal "
                "is durable); it completes at the next write or read once the disk allows")
    if flags.refused_journals:
        return (f"JOURNAL_REFUSED: {flags.refused_journals} journal(s) failed verification and "
                "were kept aside in state/ (journal.refused-*.json); nothing was overwritten; "
                "look at them and remove them")
    return None
