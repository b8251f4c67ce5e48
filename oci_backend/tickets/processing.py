"""The ticket processor: claim, admit, then DRY_RUN paper fills at the next open or MANUAL
waiting for the operator's fills.

Crash safety of a portfolio change (paper fills or recorded fills): under the lock the record
is first written to `processing/` with its fills and `portfolio_revision_after = N` (the
revision the change will produce), then `Store.update_portfolio` writes revision N and audits
it with `details.ticket_id`, then the result is written and the processing file removed.
`recovery.recover` reads the audit to decide whether the change happened.
"""

from __future__ import annotations

import logging
from datetime import datetime

from contracts.common import now_kst
from contracts.settings import ExecutionMode
from contracts.summary import Stage
from contracts.ticket import TicketRecord, TicketState
from krx_common.atomic import CorruptFile
from oci_backend.broker_link import BrokerLink
from oci_backend.store import Store
from oci_backend.tickets import boxes, broker_exec
from oci_backend.tickets.admission import refusal
from oci_backend.tickets.apply import apply_with_intent
from oci_backend.tickets.boxes import TicketFiles
from oci_backend.tickets.market import OpenSource
from oci_backend.tickets.recovery import applied, recover
from strategy import calendar
from strategy.fills import fills_at_open

log = logging.getLogger(__name__)


def process_pending(store: Store, *, now: datetime | None = None,
                    opens: OpenSource | None = None,
                    link: BrokerLink | None = None) -> list[TicketRecord]:
    """Process every submitted ticket once (oldest first), then try every DRY_RUN ticket
    waiting for its open; returns the records touched.

    Leftovers of a crashed run are recovered first. With the emergency stop on nothing is
    processed. Each submitted ticket is claimed by atomic rename submitted→processing (one
    another processor took is skipped) and re-admitted (`admission.refusal` → REJECTED).
    MANUAL → AWAITING_MANUAL_EXECUTION until `record_fills`. DRY_RUN → filled at the open of
    the session after its plan's as-of ± slippage, exactly as the backtest fills
    (`strategy.fills.fills_at_open`), once `opens` has that session; until then it waits in
    AWAITING_NEXT_OPEN (also when `opens` is None). A broker-mode ticket is sent by
    `broker_exec` with `link`'s broker; a caller without a link (the daily cycle) leaves
    broker-mode tickets to the processor that has it. With a link, SENDING tickets a crash or
    an unknown outcome left are resolved first, and open broker orders are followed.
    """
    now = now or now_kst()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    recover(store)
    if store.stop_in_force().on:
        log.warning("emergency stop is on: submitted tickets are not processed")
        return []
    files = TicketFiles(store)
    out: list[TicketRecord] = []
    if link is not None and link.configured:
        with store.lock():
            out += broker_exec.resume_sending(store, link, now)
    pending: list[tuple[datetime, str]] = []
    for tid in files.ids_in("submitted"):
        try:
            rec = files.read("submitted", tid)
        except CorruptFile:
            log.exception("ticket %s is unreadable; left in submitted/", tid)
            continue
        if rec is not None and (link is not None or not rec.ticket.mode.is_broker):
            pending.append((rec.submitted_at, tid))
    for _, tid in sorted(pending):
        with store.lock():
            if store.stop_in_force().on:  # turned on while this pass was running
                return out
            try:
                done = process_one(store, tid, now, opens, link)
            except Exception as exc:  # one broken ticket must not stall the others forever
                log.exception("ticket %s: processing failed", tid)
                done = _fail_held(store, tid, f"{type(exc).__name__}: {exc}", now)
        if done is not None:
            out.append(done)
    if opens is not None:
        out += fill_waiting(store, opens, now=now)
    if link is not None and link.configured:
        out += broker_exec.follow_open(store, link, now)
    return out


def fill_waiting(store: Store, opens: OpenSource, *, now: datetime | None = None
                 ) -> list[TicketRecord]:
    """Paper-fill every AWAITING_NEXT_OPEN ticket whose open `opens` now has (the daily cycle
    calls this before it plans); a ticket whose plan went stale meanwhile is REJECTED."""
    now = now or now_kst()
    files = TicketFiles(store)
    out: list[TicketRecord] = []
    for tid in files.ids_in("results"):
        if not files.may_be_waiting(tid):
            continue
        with store.lock():
            if store.stop_in_force().on:
                break
            try:
                rec = files.read("results", tid)
            except CorruptFile:
                log.exception("ticket %s is unreadable; left in results/", tid)
                continue
            if rec is None or rec.state is not TicketState.AWAITING_NEXT_OPEN:
                continue
            try:
                done = _admit_and_fill(store, rec, now, opens)
            except Exception as exc:
                log.exception("ticket %s: paper fill failed", tid)
                done = _fail_held(store, tid, f"{type(exc).__name__}: {exc}", now, rec)
        if done is not None:
            out.append(done)
    return out


def _fail_held(store: Store, tid: str, error: str, now: datetime,
               waiting: TicketRecord | None = None) -> TicketRecord | None:
    """After an unexpected error: FAILED in results/ unless its fills already reached the
    portfolio (then the next `recover` completes it). Lock held."""
    files = TicketFiles(store)
    try:
        rec = files.held(tid) or waiting
    except CorruptFile:
        return None
    if rec is None:
        return None
    if rec.state is TicketState.SENDING:
        return None  # orders may be placed: never FAILED; the broker pass resolves it
    target = rec.portfolio_revision_after if rec.fills else None
    if target is not None and applied(store, tid, target):
        return None
    return files.move(rec, TicketState.FAILED, f"processing failed: {error}; re-draft", now,
                      code="failed", params={"error": error},
                      fills=[], portfolio_revision_after=None)


def process_one(store: Store, tid: str, now: datetime, opens: OpenSource | None = None,
                link: BrokerLink | None = None) -> TicketRecord | None:
    """Claim and process one submitted ticket (lock held); None when it is gone."""
    rec = TicketFiles(store).claim(tid, now)
    if rec is None:
        return None
    if rec.ticket.mode.is_broker:
        return broker_exec.start_sending(store, rec, link or BrokerLink(), now)
    if rec.ticket.mode is ExecutionMode.MANUAL:
        rejected = _reject_if_refused(store, rec, now)
        if rejected is not None:
            return rejected
        msg = "waiting for the operator to trade by hand and record the fills"
        done = TicketFiles(store).move(rec, TicketState.AWAITING_MANUAL_EXECUTION, msg, now,
                                       code="awaiting_manual")
        boxes.stage(store, done, (Stage.AWAITING_MANUAL_EXECUTION,
                                  f"ticket {tid}: trade {len(done.ticket.orders)} orders by "
                                  f"hand, then record the fills"))
        return done
    return _admit_and_fill(store, rec, now, opens)


def _reject_if_refused(store: Store, rec: TicketRecord, now: datetime) -> TicketRecord | None:
    denied = refusal(store, rec.ticket, ignore_open=rec.ticket.ticket_id)
    if denied is None:
        return None
    tid = rec.ticket.ticket_id
    done = TicketFiles(store).move(rec, TicketState.REJECTED, denied.message, now,
                                   code=denied.event_code)
    boxes.stage(store, done, (denied.stage, f"ticket {tid} rejected: {denied.message}"))
    return done


def _admit_and_fill(store: Store, rec: TicketRecord, now: datetime,
                    opens: OpenSource | None) -> TicketRecord | None:
    """DRY_RUN, lock held: rejected if refused, else paper-filled at the next open, else
    waiting for it (AWAITING_NEXT_OPEN in results/)."""
    rejected = _reject_if_refused(store, rec, now)
    if rejected is not None:
        return rejected
    tid = rec.ticket.ticket_id
    # the session after the plan, skipping the operator's closed dates (settings.calendar)
    session = calendar.for_settings(store.settings()).next_session(rec.ticket.asof)
    tickers = [o.ticker for o in rec.ticket.orders]
    prices = opens(tickers, session) if opens is not None else None
    if prices is None:
        if rec.state is TicketState.AWAITING_NEXT_OPEN:
            return None  # still waiting: nothing changed
        msg = f"waiting for the open of {session} (the session after the plan) in the data"
        done = TicketFiles(store).move(rec, TicketState.AWAITING_NEXT_OPEN, msg, now,
                                       code="awaiting_open",
                                       params={"session": session.isoformat()})
        boxes.stage(store, done, (Stage.SUBMITTED, f"ticket {tid}: {msg}"))
        return done
    plan = store.plan(rec.ticket.plan_id)
    assert plan is not None  # admitted: it is the current plan
    sp = store.settings().strategy
    result = fills_at_open(rec.ticket.orders, prices, store.portfolio(), plan.reserve, sp,
                           session)
    message = (f"paper-filled {len(result.fills)} of {len(rec.ticket.orders)} orders at the "
               f"open of {session} ± slippage")
    if result.notes:
        message += " (" + "; ".join(result.notes) + ")"
    revision = None
    with_fills = rec.model_copy(update={"fills": result.fills})
    if result.fills:
        with_fills, revision = apply_with_intent(
            store, with_fills, result.fills, reason=f"DRY_RUN paper fills of ticket {tid}",
            actor=boxes.PROCESSOR, crash_prefix="")
    done = TicketFiles(store).move(with_fills, TicketState.DRY_RUN_FILLED, message, now,
                                   code="paper_filled",
                                   params={"n": len(result.fills),
                                           "total": len(rec.ticket.orders),
                                           "session": session.isoformat(),
                                           "note": "; ".join(result.notes)},
                                   portfolio_revision_after=revision,
                                   details={"portfolio_revision_after": revision})
    boxes.stage(store, done, (Stage.DRY_RUN_FILLED, f"ticket {tid}: {message}"),
                (Stage.DONE_TODAY, f"ticket {tid} paper-filled; portfolio at revision "
                                   f"{revision}"))
    return done
