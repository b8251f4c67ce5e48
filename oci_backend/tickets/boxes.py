"""Where a ticket lives (maildir pattern, `reports/tickets/`) and how it moves: `TicketFiles`,
the one owner of every ticket file.

* `submitted/<id>.json` — accepted, waiting for the processor (state SUBMITTED).
* `processing/<id>.json` — held by a processor *while it holds the store lock*, or a write-ahead
  record of fills about to be applied. Because every writer of this box holds `Store.lock()`
  for the whole step, a file found here by someone holding the lock is a crash leftover, and
  `recover` decides its fate.
* `results/<id>.json` — everything the processor is done with: the terminal states, and the
  waiting ones (AWAITING_NEXT_OPEN for DRY_RUN, AWAITING_MANUAL_EXECUTION / PARTIALLY_FILLED
  for MANUAL) until their fills are applied.
* `archive/<id>.<n>.json` — an earlier REJECTED/FAILED record of an id submitted again.
* `keys/<sha256>.json` — which ticket an Idempotency-Key created.

Which state lives in which box is `contracts.ticket.STATE_BOX`; every state change goes through
`transition` (the machine's `apply`), which refuses an edge that
`contracts.ticket.ALLOWED_TRANSITIONS` does not list, and every file write, rename and unlink
through `TicketFiles` (`create`, `claim`, `hold`, `move`/`commit`, `drop`, `unclaim`).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from contracts.audit import AuditAction, AuditEntry
from contracts.summary import Stage
from contracts.ticket import (
    STATE_BOX,
    IdempotencyRecord,
    Ticket,
    TicketBox,
    TicketEvent,
    TicketRecord,
    TicketState,
    check_transition,
)
from krx_common.atomic import (
    CorruptFile,
    atomic_move,
    atomic_write_model,
    durable_unlink,
    read_model,
)
from oci_backend.store import Store

# Test hook: `KRX_TEST_CRASH_AT=<point>` makes the process SIGKILL itself at that point.
CRASH_ENV = "KRX_TEST_CRASH_AT"
PROCESSOR = "processor"
# Boxes in the direction tickets flow; a later box wins when an id shows up twice (a committed
# result over a leftover), and scanning in this order never misses a ticket moving forward.
BOX_ORDER: tuple[str, ...] = (TicketBox.SUBMITTED, TicketBox.PROCESSING, TicketBox.RESULTS)


def crash_point(name: str, line: int | None = None) -> None:
    """SIGKILL here when `KRX_TEST_CRASH_AT` is `name`, or `name@<line>` at that line."""
    wanted = os.environ.get(CRASH_ENV)
    if wanted == name or (line is not None and wanted == f"{name}@{line}"):
        os.kill(os.getpid(), signal.SIGKILL)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def body_sha256(ticket: Ticket) -> str:
    return sha256(json.dumps(ticket.model_dump(mode="json"), sort_keys=True,
                             separators=(",", ":")))


def transition(rec: TicketRecord, state: TicketState, message: str, at: datetime, *,
               code: str = "", params: Mapping[str, str | int | float] | None = None,
               **update: object) -> TicketRecord:
    """`rec` moved to `state` with an event (its English `message`, its `code` + `params` for
    the operator's language); `IllegalTransition` for an edge not in the table."""
    check_transition(rec.state, state)
    event = TicketEvent(at=at, state=state, message=message, code=code,
                        params=dict(params or {}))
    return rec.model_copy(update={
        "state": state, "message": message, "events": [*rec.events, event], **update,
    })


def audit(store: Store, rec: TicketRecord, before: TicketState | None, actor: str,
          reason: str, **details: object) -> None:
    store.audit_log.append(AuditEntry(
        actor=actor, action=AuditAction.TICKET_TRANSITION, target=rec.ticket.ticket_id,
        reason=reason,
        details={"from": before.value if before else None, "to": rec.state.value,
                 "plan_id": rec.ticket.plan_id, "mode": rec.ticket.mode.value,
                 **({"replay": True} if rec.replay else {}), **details},
    ))


def audited(store: Store, rec: TicketRecord) -> bool:
    """Is there a TICKET_TRANSITION line taking this ticket to its current state (at its
    portfolio revision, when it changed the portfolio)?"""
    tid, to, rev = rec.ticket.ticket_id, rec.state.value, rec.portfolio_revision_after
    return any(e.action is AuditAction.TICKET_TRANSITION and e.details.get("to") == to
               and (rev is None or e.details.get("portfolio_revision_after") == rev)
               for e in store.audit_log.read(limit=0, target=tid) if e.target == tid)


# Stages of a current plan that nothing has been done for yet: a stale ticket of an older plan
# may say so there; it never overwrites the progress of the current plan's own ticket.
_UNTOUCHED_STAGES = frozenset({Stage.PLAN_READY, Stage.TICKET_DRAFTED})


def stage(store: Store, rec: TicketRecord, *stages: tuple[Stage, str]) -> None:
    """Move the summary's stage when the summary is about this ticket's plan (a STALE_TICKET
    also when the current plan has no progress of its own yet)."""
    plan_id = rec.ticket.plan_id
    summary = store.summary()
    if summary is None or summary.plan is None:
        return
    if summary.plan.plan_id != plan_id and not (
        stages[0][0] is Stage.STALE_TICKET and summary.stage in _UNTOUCHED_STAGES
    ):
        return
    for st, message in stages:
        store.set_stage(st, message)


# The stage a plan is in because of one of its tickets (REJECTED/FAILED tickets leave the plan
# ready to draft again); a plan with several tickets is as far as its furthest one.
_S = TicketState
STAGE_OF_TICKET: dict[TicketState, Stage] = {
    _S.SUBMITTED: Stage.SUBMITTED, _S.PROCESSING: Stage.SUBMITTED,
    _S.AWAITING_NEXT_OPEN: Stage.SUBMITTED,
    _S.AWAITING_MANUAL_EXECUTION: Stage.AWAITING_MANUAL_EXECUTION,
    _S.PARTIALLY_FILLED: Stage.AWAITING_MANUAL_EXECUTION,
    _S.DRY_RUN_FILLED: Stage.DONE_TODAY, _S.FILLS_RECORDED: Stage.DONE_TODAY,
}
_STAGE_ORDER = (Stage.SUBMITTED, Stage.AWAITING_MANUAL_EXECUTION, Stage.DONE_TODAY)


def plan_stage(store: Store, plan_id: str) -> tuple[Stage, str] | None:
    """(stage, message) of `plan_id` from its tickets on file, or None when no ticket of it
    counts: the stage a re-run of the cycle keeps for a plan already acted on."""
    best: tuple[int, str, TicketState] | None = None
    for tid, (pid, state) in TicketFiles(store).states().items():
        stage = STAGE_OF_TICKET.get(state)
        if pid != plan_id or stage is None:
            continue
        rank = _STAGE_ORDER.index(stage)
        if best is None or rank > best[0]:
            best = (rank, tid, state)
    if best is None:
        return None
    rank, tid, state = best
    return _STAGE_ORDER[rank], f"ticket {tid}: {state.value}"


def _box_of(state: TicketState) -> TicketBox:
    box = STATE_BOX[state]
    if box is None:
        raise ValueError(f"a {state.value} ticket is not stored on OCI")
    return box


# (plan_id, state) of each ticket file by file signature: the admission check asks for the
# open tickets of a plan on every submit and claim, and old records never change.
_HEADS: dict[Path, tuple[tuple[int, int, int], str, TicketState]] = {}
# results/ only grows; a record that is not waiting never waits again. Its state is remembered
# by file signature so a pass over results/ does not parse every old ticket again.
_NOT_WAITING: dict[Path, tuple[int, int, int]] = {}


class TicketFiles:
    """The one owner of the ticket files of `store`'s data root: every read of a box and
    every write, rename and unlink of a ticket record, an archived record or an idempotency
    key. The moves keep the crash-safety order the recovery relies on; the caller holds
    `store.lock()` for every move."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.paths = store.paths

    # -- reads -----------------------------------------------------------------------------
    def read(self, box: str, ticket_id: str) -> TicketRecord | None:
        return read_model(self.paths.ticket(box, ticket_id), TicketRecord)

    def held(self, ticket_id: str) -> TicketRecord | None:
        """The processing/ record (a claim or a write-ahead record), if any."""
        return self.read(TicketBox.PROCESSING, ticket_id)

    def find(self, ticket_id: str) -> tuple[str, TicketRecord] | None:
        """(box, record) of `ticket_id`, the latest box winning; None when there is none."""
        found = None
        for box in BOX_ORDER:
            rec = self.read(box, ticket_id)
            if rec is not None:
                found = box, rec
        return found

    def ids_in(self, box: str) -> list[str]:
        return sorted(p.stem for p in self.paths.ticket_box(box).glob("*.json"))

    def all_records(self) -> dict[str, TicketRecord]:
        out: dict[str, TicketRecord] = {}
        for box in BOX_ORDER:  # later boxes overwrite: results win
            for tid in self.ids_in(box):
                rec = self.read(box, tid)
                if rec is not None:
                    out[tid] = rec
        return out

    def states(self) -> dict[str, tuple[str, TicketState]]:
        """ticket id → (plan_id, state) over all boxes (a later box wins), parsing only files
        that changed since they were last seen."""
        out: dict[str, tuple[str, TicketState]] = {}
        for box in BOX_ORDER:
            for path in self.paths.ticket_box(box).glob("*.json"):
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue  # moved on meanwhile: seen in its next box
                sig = (st.st_ino, st.st_size, st.st_mtime_ns)
                hit = _HEADS.get(path)
                if hit is None or hit[0] != sig:
                    rec = read_model(path, TicketRecord) if path.exists() else None
                    if rec is None:
                        continue
                    hit = (sig, rec.ticket.plan_id, rec.state)
                    _HEADS[path] = hit
                out[path.stem] = (hit[1], hit[2])
        return out

    def may_be_waiting(self, ticket_id: str) -> bool:
        """Could results/`ticket_id` be AWAITING_NEXT_OPEN? Cheap (by file signature) for the
        old records; True for an unreadable one (the locked pass logs it)."""
        path = self.paths.ticket(TicketBox.RESULTS, ticket_id)
        try:
            st = path.stat()
        except FileNotFoundError:
            return False
        sig = (st.st_ino, st.st_size, st.st_mtime_ns)
        if _NOT_WAITING.get(path) == sig:
            return False
        try:
            rec = read_model(path, TicketRecord)
        except CorruptFile:
            return True
        if rec is not None and rec.state is not TicketState.AWAITING_NEXT_OPEN:
            _NOT_WAITING[path] = sig
            return False
        return rec is not None

    def key(self, key_sha256: str) -> IdempotencyRecord | None:
        return read_model(self.paths.idempotency_record(key_sha256), IdempotencyRecord)

    # -- moves (lock held) -----------------------------------------------------------------
    def remember_key(self, key: IdempotencyRecord) -> None:
        atomic_write_model(self.paths.idempotency_record(key.key_sha256), key)

    def create(self, rec: TicketRecord, key: IdempotencyRecord, *, actor: str,
               replacing: tuple[str, TicketRecord] | None = None) -> None:
        """A newly submitted `rec` into its box (submitted/), its key remembered, audited.
        `replacing` (box, record): an earlier REJECTED/FAILED record of the same id, archived
        first and removed once the new one is written."""
        tid = rec.ticket.ticket_id
        if replacing is not None:
            self._archive(replacing[1])
        atomic_write_model(self.paths.ticket(_box_of(rec.state), tid), rec)
        if replacing is not None:
            durable_unlink(self.paths.ticket(replacing[0], tid))
        self.remember_key(key)
        audit(self.store, rec, None, actor, rec.message, idempotency_key_sha256=key.key_sha256)

    def _archive(self, rec: TicketRecord) -> None:
        tid = rec.ticket.ticket_id
        n = 1
        while self.paths.ticket_archive(tid, n).exists():
            n += 1
        atomic_write_model(self.paths.ticket_archive(tid, n), rec)

    def claim(self, ticket_id: str, at: datetime) -> TicketRecord | None:
        """Take a submitted ticket by atomic rename submitted → processing and mark it
        PROCESSING; None when another processor took it first (or it is gone)."""
        src = self.paths.ticket(TicketBox.SUBMITTED, ticket_id)
        held = self.paths.ticket(_box_of(TicketState.PROCESSING), ticket_id)
        try:
            atomic_move(src, held)
        except FileNotFoundError:
            return None  # another processor took it
        crash_point("after_claim")
        claimed = read_model(held, TicketRecord)
        if claimed is None:
            return None
        rec = transition(claimed, TicketState.PROCESSING, "claimed by the processor", at,
                         code="claimed")
        atomic_write_model(held, rec)
        return rec

    def hold(self, rec: TicketRecord) -> None:
        """Write `rec` to processing/: the write-ahead record of fills about to be applied."""
        atomic_write_model(self.paths.ticket(TicketBox.PROCESSING, rec.ticket.ticket_id), rec)

    def move(self, rec: TicketRecord, state: TicketState, message: str, at: datetime, *,
             actor: str = PROCESSOR, details: Mapping[str, object] | None = None,
             code: str = "", params: Mapping[str, str | int | float] | None = None,
             **update: object) -> TicketRecord:
        """`transition` `rec` to `state`, then `commit` it; returns the new record."""
        done = transition(rec, state, message, at, code=code, params=params, **update)
        self.commit(done, rec.state, actor=actor, **(details or {}))
        return done

    def commit(self, rec: TicketRecord, before: TicketState, *, actor: str = PROCESSOR,
               **details: object) -> None:
        """Write `rec` (already in its new state) to its box (results/), drop its processing/
        file and audit the change from `before`."""
        box = _box_of(rec.state)
        if box is not TicketBox.RESULTS:
            raise ValueError(f"commit writes results/, not {box.value}/ ({rec.state.value})")
        tid = rec.ticket.ticket_id
        atomic_write_model(self.paths.ticket(box, tid), rec)
        crash_point("after_result_write")
        durable_unlink(self.paths.ticket(TicketBox.PROCESSING, tid))
        audit(self.store, rec, before, actor, rec.message, **details)

    def drop(self, ticket_id: str) -> None:
        """Remove a processing/ leftover whose result is already committed (or whose fills
        were never applied to a ticket that waits in results/)."""
        durable_unlink(self.paths.ticket(TicketBox.PROCESSING, ticket_id))

    def unclaim(self, rec: TicketRecord, at: datetime) -> TicketRecord:
        """Return a processing/ record nothing was applied for to submitted/: renamed back as
        it is when it never left SUBMITTED, else marked SUBMITTED (fills dropped) and
        audited."""
        tid = rec.ticket.ticket_id
        held = self.paths.ticket(TicketBox.PROCESSING, tid)
        dst = self.paths.ticket(_box_of(TicketState.SUBMITTED), tid)
        if rec.state is TicketState.SUBMITTED:  # claimed (renamed) but not yet marked
            atomic_move(held, dst)
            return rec
        back = transition(rec, TicketState.SUBMITTED, "returned to submitted by recover", at,
                          code="returned", fills=[], portfolio_revision_after=None)
        atomic_write_model(held, back)
        atomic_move(held, dst)
        audit(self.store, back, rec.state, "recover", back.message)
        return back
