"""Manual execution tickets on OCI: submit, process (DRY_RUN / MANUAL), record fills, recover.

Where a ticket lives (maildir pattern, `reports/tickets/`):

* `submitted/<id>.json` — accepted, waiting for the processor (state SUBMITTED).
* `processing/<id>.json` — held by a processor *while it holds the store lock*, or a write-ahead
  record of fills about to be applied. Because every writer of this box holds `Store.lock()`
  for the whole step, a file found here by someone holding the lock is a crash leftover, and
  `recover` decides its fate: completed when its fills reached the portfolio, else returned
  (to `submitted/`, or dropped for a manual-fills record) — never applied twice, never lost.
* `results/<id>.json` — everything the processor is done with. MANUAL tickets wait here in the
  non-terminal states AWAITING_MANUAL_EXECUTION / PARTIALLY_FILLED until `record_fills`
  finishes them (FILLS_RECORDED); DRY_RUN_FILLED, REJECTED and FAILED are terminal.

Crash safety of a portfolio change (paper fills or recorded fills): under the lock the record
is first written to `processing/` with its fills and `portfolio_revision_after = N` (the
revision the change will produce), then `Store.update_portfolio` writes revision N and audits
it with `details.ticket_id`, then the result is written and the processing file removed.
`recover` reads the audit: an entry with revision_after N for this ticket → applied; an entry
with revision_after N for something else → not applied; none → applied iff the global revision
reached N (the portfolio was written but the crash came before its audit line).

Errors are typed `TicketError`s carrying the HTTP status, a stable code and the field at fault.
`ModeRefused` is 409: the request is well-formed but conflicts with the server's execution mode.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from contracts.audit import AuditAction, AuditEntry
from contracts.common import KST, Contract, KstDatetime, now_kst
from contracts.plan import Side
from contracts.portfolio import Holding, Portfolio
from contracts.settings import ExecutionMode
from contracts.summary import Stage
from contracts.ticket import (
    TERMINAL_STATES,
    Fill,
    FillsRequest,
    Ticket,
    TicketEvent,
    TicketRecord,
    TicketState,
)
from oci_backend.store import (
    CorruptFile,
    Store,
    atomic_move,
    atomic_write_model,
    durable_unlink,
    read_model,
)
from strategy import rules
from strategy.ticketing import order_fees, ticket_problems

log = logging.getLogger(__name__)

# Test hook: `KRX_TEST_CRASH_AT=<point>` makes the process SIGKILL itself at that point.
CRASH_ENV = "KRX_TEST_CRASH_AT"
PROCESSOR = "processor"

_ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,99}$")
_MAX_KEY_LEN = 200
_OPEN_STATES = frozenset(TicketState) - TERMINAL_STATES - {TicketState.DRAFT}
_AWAITING = (TicketState.AWAITING_MANUAL_EXECUTION, TicketState.PARTIALLY_FILLED)
# Boxes in the direction tickets flow; a later box wins when an id shows up twice (a committed
# result over a leftover), and scanning in this order never misses a ticket moving forward.
_BOX_ORDER = ("submitted", "processing", "results")


# -- errors ------------------------------------------------------------------------------------
class TicketError(Exception):
    """A ticket request that cannot be honoured; `status_code` is the HTTP status to answer,
    `code` a stable machine-readable code, `field` the part of the request at fault."""

    status_code: int = 400
    code: str = "TICKET_ERROR"
    field: str | None = None

    def __init__(
        self, message: str, *, field: str | None = None, problems: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field
        self.problems = problems or []


class StaleTicket(TicketError):
    status_code, code, field = 409, "STALE_TICKET", "plan_id"


class EmergencyStopped(TicketError):
    status_code, code = 423, "EMERGENCY_STOP"


class TicketRejected(TicketError):
    status_code, code = 422, "TICKET_REJECTED"


class TicketNotFound(TicketError):
    status_code, code, field = 404, "TICKET_NOT_FOUND", "ticket_id"


class IdempotencyConflict(TicketError):
    status_code, code, field = 422, "IDEMPOTENCY_CONFLICT", "Idempotency-Key"


class ModeRefused(TicketError):
    """LIVE (no broker yet) or a ticket drafted for another mode: 409, re-draft or change mode."""

    status_code, code, field = 409, "MODE_REFUSED", "mode"


class TicketConflict(TicketError):
    """Another ticket for the same plan is still open (submitted, processing, awaiting fills)."""

    status_code, code = 409, "TICKET_OPEN"


class TicketStateError(TicketError):
    """The ticket is not in a state that allows this (e.g. fills for a DRY_RUN ticket)."""

    status_code, code, field = 409, "TICKET_STATE", "state"


class IdempotencyRecord(Contract):
    """`reports/tickets/keys/<sha256(key)>.json`: which ticket an Idempotency-Key created."""

    key_sha256: str
    ticket_id: str
    body_sha256: str
    at: KstDatetime


# -- small helpers -----------------------------------------------------------------------------
def _crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _body_sha256(ticket: Ticket) -> str:
    return _sha256(json.dumps(ticket.model_dump(mode="json"), sort_keys=True,
                              separators=(",", ":")))


def _check_id(ticket_id: str) -> str:
    if not _ID_RE.match(ticket_id):
        raise TicketNotFound(f"no ticket {ticket_id!r} (not a ticket id)")
    return ticket_id


def _transition(rec: TicketRecord, state: TicketState, message: str, at: datetime,
                **update: object) -> TicketRecord:
    return rec.model_copy(update={
        "state": state, "message": message,
        "events": [*rec.events, TicketEvent(at=at, state=state, message=message)], **update,
    })


def _read(store: Store, box: str, ticket_id: str) -> TicketRecord | None:
    return read_model(store.paths.ticket(box, ticket_id), TicketRecord)


def _find(store: Store, ticket_id: str) -> tuple[str, TicketRecord] | None:
    found = None
    for box in _BOX_ORDER:
        rec = _read(store, box, ticket_id)
        if rec is not None:
            found = box, rec
    return found


def _ids_in(store: Store, box: str) -> list[str]:
    return sorted(p.stem for p in store.paths.ticket_box(box).glob("*.json"))


def _all_records(store: Store) -> dict[str, TicketRecord]:
    out: dict[str, TicketRecord] = {}
    for box in _BOX_ORDER:  # later boxes overwrite: results win
        for tid in _ids_in(store, box):
            rec = _read(store, box, tid)
            if rec is not None:
                out[tid] = rec
    return out


def _audit(store: Store, rec: TicketRecord, before: TicketState | None, actor: str,
           reason: str, **details: object) -> None:
    store.append_audit(AuditEntry(
        actor=actor, action=AuditAction.TICKET_TRANSITION, target=rec.ticket.ticket_id,
        reason=reason,
        details={"from": before.value if before else None, "to": rec.state.value,
                 "plan_id": rec.ticket.plan_id, "mode": rec.ticket.mode.value, **details},
    ))


# Stages of a current plan that nothing has been done for yet: a stale ticket of an older plan
# may say so there; it never overwrites the progress of the current plan's own ticket.
_UNTOUCHED_STAGES = frozenset({Stage.PLAN_READY, Stage.TICKET_DRAFTED})


def _stage(store: Store, rec: TicketRecord, *stages: tuple[Stage, str]) -> None:
    """Move the summary's stage when the summary is about this ticket's plan (a STALE_TICKET
    also when the current plan has no progress of its own yet)."""
    from oci_backend.pipeline import set_stage

    plan_id = rec.ticket.plan_id
    summary = store.summary()
    if summary is None or summary.plan is None:
        return
    if summary.plan.plan_id != plan_id and not (
        stages[0][0] is Stage.STALE_TICKET and summary.stage in _UNTOUCHED_STAGES
    ):
        return
    for stage, message in stages:
        set_stage(store, stage, message)


# -- submit ------------------------------------------------------------------------------------
def submit_ticket(
    store: Store, ticket: Ticket, idempotency_key: str, *, actor: str
) -> tuple[TicketRecord, bool]:
    """Accept `ticket` for processing; returns (record, created).

    The same Idempotency-Key returns the record it created (created=False) however often it
    is replayed, even concurrently; the same key with another body → `IdempotencyConflict`.
    A ticket whose content-addressed id already exists returns that record (created=False).
    Otherwise, in this order: emergency stop → `EmergencyStopped` (423); LIVE mode →
    `ModeRefused`; not for the current plan, or the portfolio/settings changed since the plan →
    `StaleTicket` (409, re-draft); drafted for another mode → `ModeRefused`; not confirmed →
    `TicketRejected` naming `confirmed`; any `verify_ticket` problem → `TicketRejected` naming the
    first field; another open ticket for the plan → `TicketConflict`. An accepted ticket is
    written to `submitted/`, audited, and the summary stage becomes SUBMITTED.
    """
    key = idempotency_key.strip() if idempotency_key else ""
    if not key or len(key) > _MAX_KEY_LEN or not key.isprintable():
        raise TicketRejected(
            f"Idempotency-Key must be 1..{_MAX_KEY_LEN} printable characters "
            f"(e.g. a UUID generated once per submit)", field="Idempotency-Key")
    key_hash = _sha256(key)
    body_hash = _body_sha256(ticket)
    key_path = store.paths.idempotency_dir / f"{key_hash}.json"
    tid = ticket.ticket_id
    with store.lock():
        prior = read_model(key_path, IdempotencyRecord)
        if prior is not None:
            if prior.body_sha256 != body_hash:
                raise IdempotencyConflict(
                    f"Idempotency-Key was already used for ticket {prior.ticket_id} with a "
                    f"different body; use a new key for a new ticket")
            found = _find(store, prior.ticket_id)
            if found is not None:
                return found[1], False
        if _ID_RE.match(tid):
            found = _find(store, tid)
            if found is not None:
                _write_key(key_path, key_hash, tid, body_hash)
                return found[1], False
        _check_submittable(store, ticket)  # a refused submit writes nothing
        now = now_kst()
        msg = f"submitted by {actor}"
        rec = TicketRecord(
            ticket=ticket, state=TicketState.SUBMITTED, idempotency_key=key, submitted_at=now,
            events=[TicketEvent(at=now, state=TicketState.SUBMITTED, message=msg)], message=msg,
        )
        atomic_write_model(store.paths.ticket("submitted", tid), rec)
        _write_key(key_path, key_hash, tid, body_hash)
        _audit(store, rec, None, actor, msg, idempotency_key_sha256=key_hash)
        _stage(store, rec, (Stage.SUBMITTED,
                            f"ticket {tid} submitted ({len(ticket.orders)} orders, "
                            f"{ticket.mode.value})"))
        return rec, True


def _write_key(path: Path, key_hash: str, tid: str, body_hash: str) -> None:
    atomic_write_model(path, IdempotencyRecord(
        key_sha256=key_hash, ticket_id=tid, body_sha256=body_hash, at=now_kst()))


def _check_submittable(store: Store, ticket: Ticket) -> None:
    stop = store.emergency_stop()
    if stop.on:
        raise EmergencyStopped(
            f"emergency stop is on (since {stop.at:%Y-%m-%d %H:%M} by {stop.by}: {stop.reason}); "
            f"no ticket is accepted until it is turned off")
    settings = store.settings()
    if ExecutionMode.LIVE in (settings.execution_mode, ticket.mode):
        raise ModeRefused(
            "LIVE execution has no broker yet and is refused: switch execution_mode to DRY_RUN "
            "or MANUAL (PUSH settings), then re-draft the ticket", field="mode")
    plan = store.current_plan()
    if plan is None:
        raise StaleTicket("OCI has no current plan: run the daily cycle, then re-draft")
    problems = ticket_problems(ticket, plan, settings)
    stale = [p for p in problems if p.code == "STALE"]
    if stale:
        raise StaleTicket(stale[0].message, problems=[str(p) for p in problems])
    portfolio = store.portfolio()
    if (plan.portfolio_revision, plan.settings_revision) != (portfolio.revision,
                                                             settings.revision):
        raise StaleTicket(
            f"plan {plan.plan_id} was made for portfolio revision {plan.portfolio_revision} / "
            f"settings revision {plan.settings_revision}, OCI is now at {portfolio.revision} / "
            f"{settings.revision}: run the cycle again and re-draft")
    mode = [p for p in problems if p.code == "MODE_MISMATCH"]
    if mode:
        raise ModeRefused(mode[0].message, problems=[str(p) for p in problems])
    if not ticket.confirmed:
        raise TicketRejected(
            "the ticket is not confirmed: the operator must confirm the orders before submit",
            field="confirmed")
    if problems:
        raise TicketRejected(
            "ticket does not match the current plan: " + "; ".join(str(p) for p in problems),
            field=problems[0].field, problems=[str(p) for p in problems])
    for other in _all_records(store).values():
        if other.ticket.plan_id == plan.plan_id and other.state in _OPEN_STATES:
            raise TicketConflict(
                f"ticket {other.ticket.ticket_id} for plan {plan.plan_id} is still "
                f"{other.state.value}; finish it (record fills) before submitting another",
                field="plan_id")


# -- reads -------------------------------------------------------------------------------------
def list_tickets(
    store: Store, *, limit: int = 50, state: TicketState | None = None
) -> list[TicketRecord]:
    """Newest first (by submit time), optionally only those in `state`; at most `limit`."""
    recs = [r for r in _all_records(store).values() if state is None or r.state is state]
    recs.sort(key=lambda r: (r.submitted_at, r.ticket.ticket_id), reverse=True)
    return recs[:limit] if limit and limit > 0 else recs


def get_ticket(store: Store, ticket_id: str) -> TicketRecord:
    """The record of `ticket_id` wherever it is; `TicketNotFound` (404) when there is none."""
    found = _find(store, _check_id(ticket_id))
    if found is None:
        raise TicketNotFound(f"no ticket {ticket_id!r}")
    return found[1]


# -- fills → portfolio -------------------------------------------------------------------------
class _FillProblem(ValueError):
    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(message)
        self.index, self.field = index, field


def apply_fills(portfolio: Portfolio, fills: Iterable[Fill]) -> Portfolio:
    """`portfolio` after `fills` (commission and tax already resolved on each fill).

    Buy: cash −= qty × price + commission; the holding's avg price is the qty-weighted mean of
    fill prices (slippage included, commission excluded). Sell: cash += qty × price −
    commission − tax; a sell of the whole position removes the holding. Raises `ValueError`
    (naming the fill) for a sell above the held quantity or cash going negative.
    """
    cash = portfolio.cash
    holdings = {h.ticker: h for h in portfolio.holdings}
    order = [h.ticker for h in portfolio.holdings]
    for i, f in enumerate(fills):
        notional = f.qty * f.price
        fees = (f.commission or 0.0) + (f.tax or 0.0)
        h = holdings.get(f.ticker)
        if f.side is Side.BUY:
            cash -= notional + fees
            if h is None:
                holdings[f.ticker] = Holding(
                    ticker=f.ticker, qty=f.qty, avg_price=f.price,
                    entry_date=f.filled_at.astimezone(KST).date().isoformat())
                order.append(f.ticker)
            else:
                qty = h.qty + f.qty
                holdings[f.ticker] = h.model_copy(update={
                    "qty": qty, "avg_price": (h.qty * h.avg_price + notional) / qty})
        else:
            held = h.qty if h is not None else 0
            if f.qty > held:
                raise _FillProblem(i, "qty", f"sell of {f.qty} {f.ticker} but the portfolio "
                                             f"holds {held}")
            assert h is not None
            cash += notional - fees
            if f.qty == h.qty:
                del holdings[f.ticker]
                order.remove(f.ticker)
            else:
                holdings[f.ticker] = h.model_copy(update={"qty": h.qty - f.qty})
        if cash < -1e-6:
            raise _FillProblem(i, "qty", f"cash would go negative ({cash:,.0f} KRW) after "
                                         f"the {f.side.value} of {f.qty} {f.ticker}")
    return portfolio.model_copy(update={
        "cash": max(cash, 0.0), "holdings": [holdings[t] for t in order]})


def _fills_details(fills: list[Fill]) -> list[dict[str, object]]:
    return [f.model_dump(mode="json") for f in fills]


def _apply_with_intent(
    store: Store, rec: TicketRecord, fills: list[Fill], *, reason: str, actor: str,
    crash_prefix: str,
) -> tuple[TicketRecord, int]:
    """Write-ahead `rec` (with `fills`) to processing/, then change the portfolio; lock held.
    Returns the intent record (portfolio_revision_after set) and the new revision."""
    target = store.revision() + 1
    intent = rec.model_copy(update={"portfolio_revision_after": target})
    atomic_write_model(store.paths.ticket("processing", rec.ticket.ticket_id), intent)
    _crash_point(f"{crash_prefix}after_intent")
    new = store.update_portfolio(
        lambda p: apply_fills(p, fills), reason=reason, actor=actor,
        action=AuditAction.FILLS_RECORDED,
        details={"ticket_id": rec.ticket.ticket_id, "plan_id": rec.ticket.plan_id,
                 "mode": rec.ticket.mode.value, "fills": _fills_details(fills)},
    )
    if new.revision != target:  # the lock makes this impossible; refuse to guess if it happens
        raise RuntimeError(f"portfolio revision {new.revision}, expected {target}")
    _crash_point(f"{crash_prefix}after_portfolio_write")
    return intent, target


# -- processing --------------------------------------------------------------------------------
def process_pending(store: Store, *, now: datetime | None = None) -> list[TicketRecord]:
    """Process every submitted ticket once, oldest first; returns their records after.

    Leftovers of a crashed run are recovered first. With the emergency stop on nothing is
    processed (tickets wait in submitted/; they are re-checked for staleness when processed).
    Each ticket: claimed by atomic rename submitted→processing (a ticket another processor took
    is skipped), re-verified against the current plan (stale, other mode, LIVE → REJECTED), then
    DRY_RUN → paper fills at limit × (1 ± slippage), portfolio updated, DRY_RUN_FILLED;
    MANUAL → AWAITING_MANUAL_EXECUTION in results/ until `record_fills`.
    """
    now = now or now_kst()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    recover(store)
    if store.emergency_stop().on:
        log.warning("emergency stop is on: submitted tickets are not processed")
        return []
    pending: list[tuple[datetime, str]] = []
    for tid in _ids_in(store, "submitted"):
        try:
            rec = _read(store, "submitted", tid)
        except CorruptFile:
            log.exception("ticket %s is unreadable; left in submitted/", tid)
            continue
        if rec is not None:
            pending.append((rec.submitted_at, tid))
    out: list[TicketRecord] = []
    for _, tid in sorted(pending):
        with store.lock():
            if store.emergency_stop().on:  # turned on while this pass was running
                break
            try:
                rec = _process_one(store, tid, now)
            except Exception as exc:  # one broken ticket must not stall the others forever
                log.exception("ticket %s: processing failed", tid)
                rec = _fail_held(store, tid, f"{type(exc).__name__}: {exc}", now)
        if rec is not None:
            out.append(rec)
    return out


def _fail_held(store: Store, tid: str, error: str, now: datetime) -> TicketRecord | None:
    """After an unexpected error: FAILED in results/ unless its fills already reached the
    portfolio (then the next `recover` completes it). Lock held."""
    held = store.paths.ticket("processing", tid)
    try:
        rec = read_model(held, TicketRecord)
    except CorruptFile:
        return None
    if rec is None:
        return None
    target = rec.portfolio_revision_after if rec.fills else None
    if target is not None and _applied(store, tid, target):
        return None
    done = _transition(rec, TicketState.FAILED, f"processing failed: {error}; re-draft", now,
                       fills=[], portfolio_revision_after=None)
    _finish(store, done, rec.state)
    return done


def _process_one(store: Store, tid: str, now: datetime) -> TicketRecord | None:
    src, held = store.paths.ticket("submitted", tid), store.paths.ticket("processing", tid)
    try:
        atomic_move(src, held)
    except FileNotFoundError:
        return None  # another processor took it
    _crash_point("after_claim")
    claimed = read_model(held, TicketRecord)
    if claimed is None:
        return None
    rec = _transition(claimed, TicketState.PROCESSING, "claimed by the processor", now)
    atomic_write_model(held, rec)
    refusal = _refusal(store, rec)
    if refusal is not None:
        stage, message = refusal
        done = _transition(rec, TicketState.REJECTED, message, now)
        _finish(store, done, claimed.state)
        _stage(store, done, (stage, f"ticket {tid} rejected: {message}"))
        return done
    if rec.ticket.mode is ExecutionMode.MANUAL:
        msg = "waiting for the operator to trade by hand and record the fills"
        done = _transition(rec, TicketState.AWAITING_MANUAL_EXECUTION, msg, now)
        _finish(store, done, claimed.state)
        _stage(store, done, (Stage.AWAITING_MANUAL_EXECUTION,
                             f"ticket {tid}: trade {len(done.ticket.orders)} orders by hand, "
                             f"then record the fills"))
        return done
    return _paper_fill(store, rec, now)


def _finish(store: Store, rec: TicketRecord, before: TicketState, *, actor: str = PROCESSOR,
            **details: object) -> None:
    """Commit `rec` to results/ and drop its processing/ file (lock held)."""
    tid = rec.ticket.ticket_id
    atomic_write_model(store.paths.ticket("results", tid), rec)
    _crash_point("after_result_write")
    durable_unlink(store.paths.ticket("processing", tid))
    _audit(store, rec, before, actor, rec.message, **details)


def _refusal(store: Store, rec: TicketRecord) -> tuple[Stage, str] | None:
    settings = store.settings()
    t = rec.ticket
    if ExecutionMode.LIVE in (settings.execution_mode, t.mode):
        return Stage.BLOCKED, "LIVE execution has no broker yet; refused"
    if t.mode is not settings.execution_mode:
        return Stage.STALE_TICKET, (f"drafted for {t.mode.value} but OCI now runs in "
                                    f"{settings.execution_mode.value}: re-draft")
    plan = store.current_plan()
    if plan is None or plan.plan_id != t.plan_id:
        cur = plan.plan_id if plan else "none"
        return Stage.STALE_TICKET, f"plan {t.plan_id} is no longer current ({cur}): re-draft"
    portfolio = store.portfolio()
    if (plan.portfolio_revision, plan.settings_revision) != (portfolio.revision,
                                                             settings.revision):
        return Stage.STALE_TICKET, (
            f"portfolio/settings changed since plan {plan.plan_id} (now revision "
            f"{portfolio.revision}/{settings.revision}): re-run the cycle and re-draft")
    problems = ticket_problems(t, plan, settings)
    if problems:
        return Stage.STALE_TICKET, "; ".join(str(p) for p in problems)
    return None


def _paper_fill(store: Store, rec: TicketRecord, now: datetime) -> TicketRecord:
    """DRY_RUN: fill every order at its limit ± slippage (lock held)."""
    sp = store.settings().strategy
    portfolio = store.portfolio()
    year = now.astimezone(KST).year
    cash = portfolio.cash
    held = {h.ticker: h.qty for h in portfolio.holdings}
    fills: list[Fill] = []
    notes: list[str] = []
    ordered = sorted(rec.ticket.orders, key=lambda o: o.side is Side.BUY)  # sells first
    for o in ordered:
        if o.side is Side.SELL:
            price = o.limit_price * (1.0 - sp.slippage)
            qty = min(o.qty, held.get(o.ticker, 0))
            if qty < o.qty:
                notes.append(f"{o.ticker}: sell cut from {o.qty} to {qty} (held)")
        else:
            price = o.limit_price * (1.0 + sp.slippage)
            qty = rules.buy_qty_at_fill(cash, 0.0, price, sp.commission, o.qty)
            if qty < o.qty:
                notes.append(f"{o.ticker}: buy cut from {o.qty} to {max(qty, 0)} (cash)")
        if qty <= 0:
            continue
        notional = qty * price
        commission, tax = order_fees(o.side, o.kind, notional, sp.commission, year)
        cash += (notional - commission - tax) if o.side is Side.SELL else -(notional + commission)
        fills.append(Fill(ticker=o.ticker, side=o.side, qty=qty, price=price, filled_at=now,
                          commission=commission, tax=tax))
    tid = rec.ticket.ticket_id
    message = f"paper-filled {len(fills)} of {len(rec.ticket.orders)} orders at limit ± slippage"
    if notes:
        message += " (" + "; ".join(notes) + ")"
    with_fills = rec.model_copy(update={"fills": fills})
    revision = None
    if fills:
        with_fills, revision = _apply_with_intent(
            store, with_fills, fills, reason=f"DRY_RUN paper fills of ticket {tid}",
            actor=PROCESSOR, crash_prefix="")
    done = _transition(with_fills, TicketState.DRY_RUN_FILLED, message, now,
                       portfolio_revision_after=revision)
    _finish(store, done, TicketState.SUBMITTED, portfolio_revision_after=revision)
    _stage(store, done, (Stage.DRY_RUN_FILLED, f"ticket {tid}: {message}"),
           (Stage.DONE_TODAY, f"ticket {tid} paper-filled; portfolio at revision {revision}"))
    return done


# -- manual fills ------------------------------------------------------------------------------
def record_fills(
    store: Store, ticket_id: str, req: FillsRequest, *, actor: str
) -> TicketRecord:
    """Record fills of a MANUAL ticket and reconcile the portfolio for exactly these fills.

    Allowed while the emergency stop is on: the fills record trades that already happened.
    Commission defaults to notional × the settings' commission, tax to the stock sell tax of the
    fill's year (KST). More than the ordered quantity (over all fills so far), a ticker/side not
    in the ticket, a sell above the holding or cash going negative → `TicketRejected` naming
    `fills[i]....`. The ticket becomes PARTIALLY_FILLED, or FILLS_RECORDED when `final` or every
    order is filled. Only AWAITING_MANUAL_EXECUTION / PARTIALLY_FILLED tickets take fills
    (`TicketStateError` otherwise).
    """
    tid = _check_id(ticket_id)
    with store.lock():
        _recover_locked(store)
        rec = _read(store, "results", tid)
        if rec is None:
            found = _find(store, tid)
            if found is None:
                raise TicketNotFound(f"no ticket {ticket_id!r}")
            raise TicketStateError(
                f"ticket {tid} is {found[1].state.value}: the processor has not taken it yet; "
                f"fills can be recorded once it is AWAITING_MANUAL_EXECUTION")
        if rec.ticket.mode is not ExecutionMode.MANUAL or rec.state not in _AWAITING:
            raise TicketStateError(
                f"ticket {tid} is a {rec.ticket.mode.value} ticket in state {rec.state.value}: "
                f"fills can only be recorded for a MANUAL ticket awaiting execution")
        commission_rate = store.settings().strategy.commission
        ordered = {(o.side, o.ticker): o for o in rec.ticket.orders}
        filled: dict[tuple[Side, str], int] = {}
        for f in rec.fills:
            filled[(f.side, f.ticker)] = filled.get((f.side, f.ticker), 0) + f.qty
        resolved: list[Fill] = []
        for i, f in enumerate(req.fills):
            key = (f.side, f.ticker)
            o = ordered.get(key)
            if o is None:
                sides = [s.value for (s, t) in ordered if t == f.ticker]
                field = f"fills[{i}].side" if sides else f"fills[{i}].ticker"
                what = f"has a {sides[0]} of {f.ticker}" if sides else f"has no {f.ticker}"
                raise TicketRejected(f"fills[{i}]: ticket {tid} {what}", field=field)
            filled[key] = filled.get(key, 0) + f.qty
            if filled[key] > o.qty:
                raise TicketRejected(
                    f"fills[{i}]: over-fill — {filled[key]} {f.side.value} {f.ticker} recorded "
                    f"in total but the ticket ordered {o.qty}", field=f"fills[{i}].qty")
            notional = f.qty * f.price
            commission, tax = order_fees(f.side, o.kind, notional, commission_rate,
                                         f.filled_at.astimezone(KST).year)
            resolved.append(f.model_copy(update={
                "commission": commission if f.commission is None else f.commission,
                "tax": tax if f.tax is None else f.tax,
            }))
        try:
            apply_fills(store.portfolio(), resolved)
        except _FillProblem as exc:
            raise TicketRejected(f"fills[{exc.index}]: {exc}",
                                 field=f"fills[{exc.index}].{exc.field}") from None
        except ValidationError as exc:
            raise TicketRejected(f"fills do not fit the portfolio: {exc.errors()[0]['msg']}",
                                 field="fills") from None
        complete = all(filled.get(k, 0) == o.qty for k, o in ordered.items())
        now = now_kst()
        state = TicketState.FILLS_RECORDED if (req.final or complete) else (
            TicketState.PARTIALLY_FILLED)
        n_all = len(rec.fills) + len(resolved)
        message = (f"{len(resolved)} fill(s) recorded by {actor} ({n_all} in total)"
                   + (" — final" if state is TicketState.FILLS_RECORDED else "")
                   + (f": {req.note}" if req.note else ""))
        staged = _transition(rec, state, message, now, fills=[*rec.fills, *resolved])
        intent, revision = _apply_with_intent(
            store, staged, resolved, reason=f"manual fills of ticket {tid}", actor=actor,
            crash_prefix="fills_")
        _finish(store, intent, rec.state, actor=actor, portfolio_revision_after=revision,
                fills=_fills_details(resolved))
        if state is TicketState.FILLS_RECORDED:
            _stage(store, intent, (Stage.FILLS_RECORDED, f"ticket {tid}: {message}"),
                   (Stage.DONE_TODAY, f"ticket {tid} done; portfolio at revision {revision}"))
        else:
            _stage(store, intent, (Stage.AWAITING_MANUAL_EXECUTION,
                                   f"ticket {tid} partially filled; record the rest"))
        return intent


# -- recovery ----------------------------------------------------------------------------------
def recover(store: Store) -> list[str]:
    """Resolve what a crashed processor or fills request left in processing/.

    Returns one line per ticket touched (``<ticket_id>: <what happened>``). A ticket whose fills
    reached the portfolio is completed (its result written from the write-ahead record); one
    whose fills did not is returned to submitted/ (a paper-fill claim) or dropped (a manual-fills
    request: the ticket stays awaiting in results/, the operator records the fills again).
    """
    with store.lock():
        return _recover_locked(store)


def _recover_locked(store: Store) -> list[str]:
    out: list[str] = []
    for tid in _ids_in(store, "processing"):
        held = store.paths.ticket("processing", tid)
        try:
            rec = read_model(held, TicketRecord)
        except CorruptFile as exc:
            log.error("recover: %s", exc)
            out.append(f"{tid}: left in processing/ — unreadable: {exc.error}")
            continue
        if rec is None:
            continue
        result = _read(store, "results", tid)
        now = now_kst()
        target = rec.portfolio_revision_after if rec.fills else None
        if result is not None and (target is None or result.portfolio_revision_after == target):
            durable_unlink(held)
            out.append(f"{tid}: already completed ({result.state.value}); leftover removed")
            continue
        if target is not None and _applied(store, tid, target):
            if rec.state is TicketState.PROCESSING:  # a paper fill that reached the portfolio
                rec = _transition(rec, TicketState.DRY_RUN_FILLED,
                                  f"paper-filled (completed by recover at revision {target})",
                                  now)
            _finish(store, rec, TicketState.PROCESSING, actor="recover",
                    portfolio_revision_after=target)
            out.append(f"{tid}: completed — fills were applied at revision {target}")
            continue
        if result is not None:
            durable_unlink(held)
            out.append(f"{tid}: recorded fills were not applied; the ticket stays "
                       f"{result.state.value} — record them again")
            continue
        back = _transition(rec, TicketState.SUBMITTED, "returned to submitted by recover", now,
                           fills=[], portfolio_revision_after=None)
        atomic_write_model(held, back)
        atomic_move(held, store.paths.ticket("submitted", tid))
        _audit(store, back, rec.state, "recover", back.message)
        out.append(f"{tid}: returned to submitted (nothing was applied)")
    for line in out:
        log.warning("recover: %s", line)
    return out


def _applied(store: Store, tid: str, target: int) -> bool:
    """Did the portfolio change of ticket `tid` (meant to produce revision `target`) happen?"""
    at_target = [e for e in store.audit(limit=0) if e.revision_after == target]
    if at_target:
        return any(e.action is AuditAction.FILLS_RECORDED and e.details.get("ticket_id") == tid
                   for e in at_target)
    # No audit line for `target`: either nobody reached it (not applied), or our portfolio write
    # landed and the crash came before its audit line (applied).
    return store.revision() >= target
