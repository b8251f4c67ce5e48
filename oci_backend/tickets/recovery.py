"""Resolve what a crashed processor or fills request left in processing/.

An entry in processing/ carrying fills and `portfolio_revision_after = N` is a write-ahead
record. The audit decides: a FILLS_RECORDED line with revision_after N for this ticket →
applied; one for something else → not applied; none → applied iff the global revision reached
N (the portfolio was written but the crash came before its audit line). A result committed
before a crash but never audited gets its audit line here.
"""

from __future__ import annotations

import logging

from contracts.audit import AuditAction
from contracts.common import now_kst
from contracts.ticket import TicketState
from krx_common.atomic import CorruptFile
from oci_backend.store import Store
from oci_backend.tickets import boxes
from oci_backend.tickets.boxes import TicketFiles

log = logging.getLogger(__name__)

# A paper fill's write-ahead record is in one of these states; once applied it is filled.
_PAPER = (TicketState.PROCESSING, TicketState.AWAITING_NEXT_OPEN)


def recover(store: Store) -> list[str]:
    """Returns one line per ticket touched (``<ticket_id>: <what happened>``). A ticket whose
    fills reached the portfolio is completed (its result written from the write-ahead record);
    one whose fills did not is returned to submitted/ (a claim) or dropped (fills applied to a
    ticket waiting in results/: it stays waiting; MANUAL fills are recorded again)."""
    with store.lock():
        return recover_locked(store)


def recover_locked(store: Store) -> list[str]:
    files = TicketFiles(store)
    out: list[str] = []
    for tid in files.ids_in("processing"):
        try:
            rec = files.held(tid)
        except CorruptFile as exc:
            log.error("recover: %s", exc)
            out.append(f"{tid}: left in processing/ — unreadable: {exc.error}")
            continue
        if rec is None:
            continue
        if rec.state is TicketState.SENDING:
            # Lines may be placed at the broker: only the broker's day orders can tell
            # (`broker_exec.resume_sending`); never returned to submitted/.
            out.append(f"{tid}: SENDING — left for the broker pass to match its intents")
            continue
        result = files.read("results", tid)
        now = now_kst()
        target = rec.portfolio_revision_after if rec.fills else None
        if result is not None and (target is None or result.portfolio_revision_after == target):
            files.drop(tid)
            if not boxes.audited(store, result):  # the crash came between result and audit
                boxes.audit(store, result, rec.state, "recover", result.message,
                            portfolio_revision_after=result.portfolio_revision_after)
                out.append(f"{tid}: already completed ({result.state.value}); leftover "
                           f"removed, its audit line written")
            else:
                out.append(f"{tid}: already completed ({result.state.value}); leftover removed")
            continue
        if target is not None and applied(store, tid, target):
            details = {"portfolio_revision_after": target}
            if rec.state in _PAPER:  # a paper fill that reached the portfolio
                files.move(rec, TicketState.DRY_RUN_FILLED,
                           f"paper-filled (completed by recover at revision {target})", now,
                           actor="recover", details=details, code="paper_filled_recover",
                           params={"revision": target})
            else:  # recorded fills: the write-ahead record is already in its new state
                files.commit(rec, rec.state, actor="recover", **details)
            out.append(f"{tid}: completed — fills were applied at revision {target}")
            continue
        if result is not None:
            files.drop(tid)
            out.append(f"{tid}: fills were not applied; the ticket stays "
                       f"{result.state.value} — " + (
                           "the next pass fills it" if result.state is
                           TicketState.AWAITING_NEXT_OPEN else "record them again"))
            continue
        claimed = rec.state is TicketState.SUBMITTED
        files.unclaim(rec, now)
        out.append(f"{tid}: returned to submitted (claimed, nothing done)" if claimed else
                   f"{tid}: returned to submitted (nothing was applied)")
    for line in out:
        log.warning("recover: %s", line)
    return out


def applied(store: Store, tid: str, target: int) -> bool:
    """Did the portfolio change of ticket `tid` (meant to produce revision `target`) happen?"""
    at_target = [e for e in store.audit_log.read(limit=0) if e.revision_after == target]
    if at_target:
        return any(e.action is AuditAction.FILLS_RECORDED and e.details.get("ticket_id") == tid
                   for e in at_target)
    # No audit line for `target`: either nobody reached it (not applied), or our portfolio write
    # landed and the crash came before its audit line (applied).
    return store.revision() >= target
