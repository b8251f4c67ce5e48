"""Where a ticket lives (maildir pattern, `reports/tickets/`) and how it moves.

* `submitted/<id>.json` — accepted, waiting for the processor (state SUBMITTED).
* `processing/<id>.json` — held by a processor *while it holds the store lock*, or a write-ahead
  record of fills about to be applied. Because every writer of this box holds `Store.lock()`
  for the whole step, a file found here by someone holding the lock is a crash leftover, and
  `recover` decides its fate.
* `results/<id>.json` — everything the processor is done with: the terminal states, and the
  waiting ones (AWAITING_NEXT_OPEN for DRY_RUN, AWAITING_MANUAL_EXECUTION / PARTIALLY_FILLED
  for MANUAL) until their fills are applied.
* `archive/<id>.<n>.json` — an earlier REJECTED/FAILED record of an id submitted again.

Every state change goes through `transition`, which refuses an edge that
`contracts.ticket.ALLOWED_TRANSITIONS` does not list.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from datetime import datetime
from pathlib import Path

from contracts.audit import AuditAction, AuditEntry
from contracts.summary import Stage
from contracts.ticket import Ticket, TicketEvent, TicketRecord, TicketState, check_transition
from krx_common.atomic import atomic_write_model, durable_unlink, read_model
from oci_backend.store import Store

# Test hook: `KRX_TEST_CRASH_AT=<point>` makes the process SIGKILL itself at that point.
CRASH_ENV = "KRX_TEST_CRASH_AT"
PROCESSOR = "processor"
# Boxes in the direction tickets flow; a later box wins when an id shows up twice (a committed
# result over a leftover), and scanning in this order never misses a ticket moving forward.
BOX_ORDER = ("submitted", "processing", "results")


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def body_sha256(ticket: Ticket) -> str:
    return sha256(json.dumps(ticket.model_dump(mode="json"), sort_keys=True,
                             separators=(",", ":")))


def transition(rec: TicketRecord, state: TicketState, message: str, at: datetime,
               **update: object) -> TicketRecord:
    """`rec` moved to `state` with an event; `IllegalTransition` for an edge not in the table."""
    check_transition(rec.state, state)
    return rec.model_copy(update={
        "state": state, "message": message,
        "events": [*rec.events, TicketEvent(at=at, state=state, message=message)], **update,
    })


def read(store: Store, box: str, ticket_id: str) -> TicketRecord | None:
    return read_model(store.paths.ticket(box, ticket_id), TicketRecord)


def find(store: Store, ticket_id: str) -> tuple[str, TicketRecord] | None:
    found = None
    for box in BOX_ORDER:
        rec = read(store, box, ticket_id)
        if rec is not None:
            found = box, rec
    return found


def ids_in(store: Store, box: str) -> list[str]:
    return sorted(p.stem for p in store.paths.ticket_box(box).glob("*.json"))


def all_records(store: Store) -> dict[str, TicketRecord]:
    out: dict[str, TicketRecord] = {}
    for box in BOX_ORDER:  # later boxes overwrite: results win
        for tid in ids_in(store, box):
            rec = read(store, box, tid)
            if rec is not None:
                out[tid] = rec
    return out


# (plan_id, state) of each ticket file by file signature: the admission check asks for the
# open tickets of a plan on every submit and claim, and old records never change.
_HEADS: dict[Path, tuple[tuple[int, int, int], str, TicketState]] = {}


def states(store: Store) -> dict[str, tuple[str, TicketState]]:
    """ticket id → (plan_id, state) over all boxes (a later box wins), parsing only files
    that changed since they were last seen."""
    out: dict[str, tuple[str, TicketState]] = {}
    for box in BOX_ORDER:
        for path in store.paths.ticket_box(box).glob("*.json"):
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


def audit(store: Store, rec: TicketRecord, before: TicketState | None, actor: str,
          reason: str, **details: object) -> None:
    store.append_audit(AuditEntry(
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
               for e in store.audit(limit=0, target=tid) if e.target == tid)


def finish(store: Store, rec: TicketRecord, before: TicketState, *, actor: str = PROCESSOR,
           **details: object) -> None:
    """Commit `rec` to results/, drop its processing/ file and audit it (lock held)."""
    tid = rec.ticket.ticket_id
    atomic_write_model(store.paths.ticket("results", tid), rec)
    crash_point("after_result_write")
    durable_unlink(store.paths.ticket("processing", tid))
    audit(store, rec, before, actor, rec.message, **details)


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
