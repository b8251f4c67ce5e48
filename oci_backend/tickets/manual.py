"""MANUAL fills: the operator records what the broker executed; the portfolio follows."""

from __future__ import annotations

from collections.abc import Callable

from contracts.audit import AuditAction, AuditEntry
from contracts.common import now_kst
from contracts.plan import Side
from contracts.settings import ExecutionMode
from contracts.summary import Risk, Severity, Stage
from contracts.ticket import Fill, FillsRequest, TicketRecord, TicketState
from krx_common.atomic import atomic_write_model
from krx_common.defaults import KST
from oci_backend.store import Store
from oci_backend.tickets import boxes
from oci_backend.tickets.apply import apply_with_intent, fills_details
from oci_backend.tickets.boxes import TicketFiles
from oci_backend.tickets.errors import TicketNotFound, TicketRejected, TicketStateError
from oci_backend.tickets.processing import process_one
from oci_backend.tickets.recovery import recover_locked
from oci_backend.tickets.submit import check_ticket_id
from strategy import calendar
from strategy.fills import FillProblem, apply_fills, fees_of

AWAITING = (TicketState.AWAITING_MANUAL_EXECUTION, TicketState.PARTIALLY_FILLED)
RESERVE_INCIDENT = "GUARDRAIL_MIN_CASH_BREACHED"


def record_fills(
    store: Store, ticket_id: str, req: FillsRequest, *, actor: str,
    on_incident: Callable[[TicketRecord, str], object] | None = None,
) -> TicketRecord:
    """Record fills of a MANUAL ticket and reconcile the portfolio for exactly these fills.

    Allowed while the emergency stop is on: the fills record trades that already happened.
    Commission defaults to notional × the settings' commission, tax to the stock sell tax of the
    fill's year (KST) — `rules.fill_terms`, as every fill. A buy may fill up to the ticket's
    sized quantity (its cap; over all fills so far). A fill that leaves cash below the plan's
    reserve is accepted — it happened at the broker — and raised as a guardrail incident
    (`incidents` on the record, a CRITICAL risk on the summary, an audit line, and
    `on_incident(record, message)` — the API sends the operator a notification). Refused with
    `TicketRejected` naming `fills[i]....`: more than the ordered quantity, a ticker/side not in
    the ticket, a sell above the holding, cash going negative, and — in a live data root — a
    fill dated before the session after the plan (a replay root takes historical dates).
    The ticket becomes PARTIALLY_FILLED, or FILLS_RECORDED when `final` or every order is
    filled. Only AWAITING_MANUAL_EXECUTION / PARTIALLY_FILLED tickets take fills
    (`TicketStateError` otherwise); a MANUAL ticket still in submitted/ is admitted first (the
    processor's step, done now).
    """
    tid = check_ticket_id(ticket_id)
    with store.lock():
        recover_locked(store)
        rec = _awaiting_fills(store, tid)
        settings = store.settings()
        resolved = _resolved(rec, req, settings.strategy.commission,
                             calendar.for_settings(settings), replay=store.paths.is_replay)
        try:
            after = apply_fills(store.portfolio(), resolved)
        except FillProblem as exc:
            raise TicketRejected(f"fills[{exc.index}]: {exc}",
                                 field=f"fills[{exc.index}].{exc.field}") from None
        except ValueError as exc:
            raise TicketRejected(f"fills do not fit the portfolio: {exc}",
                                 field="fills") from None
        plan = store.plan(rec.ticket.plan_id)
        new_incident = None
        if plan is not None and any(f.side is Side.BUY for f in resolved) and (
                after.cash < plan.reserve - 1e-6):
            new_incident = (f"{RESERVE_INCIDENT}: cash {after.cash:,.0f} KRW after the fills is "
                            f"below the plan's reserve {plan.reserve:,.0f} KRW (accepted: the "
                            f"trade happened at the broker)")
        filled = _filled(rec.fills + resolved)
        complete = all(filled.get((o.side, o.ticker), 0) == o.qty for o in rec.ticket.orders)
        state = TicketState.FILLS_RECORDED if (req.final or complete) else (
            TicketState.PARTIALLY_FILLED)
        message = (f"{len(resolved)} fill(s) recorded by {actor} "
                   f"({len(rec.fills) + len(resolved)} in total)"
                   + (" — final" if state is TicketState.FILLS_RECORDED else "")
                   + (f": {req.note}" if req.note else ""))
        staged = boxes.transition(
            rec, state, message, now_kst(), code="fills_recorded",
            params={"n": len(resolved), "actor": actor,
                    "total": len(rec.fills) + len(resolved),
                    "final": int(state is TicketState.FILLS_RECORDED), "note": req.note or ""},
            fills=[*rec.fills, *resolved],
            incidents=[*rec.incidents, *([new_incident] if new_incident else [])])
        intent, revision = apply_with_intent(
            store, staged, resolved, reason=f"manual fills of ticket {tid}", actor=actor,
            crash_prefix="fills_",
            details={"incident": new_incident} if new_incident else None)
        TicketFiles(store).commit(intent, rec.state, actor=actor,
                                  portfolio_revision_after=revision,
                                  fills=fills_details(resolved))
        if new_incident:
            _raise_incident(store, intent, new_incident, actor,
                            {"cash": round(after.cash), "reserve": round(plan.reserve)}
                            if plan is not None else {})
            if on_incident is not None:
                on_incident(intent, new_incident)
        if state is TicketState.FILLS_RECORDED:
            boxes.stage(store, intent, (Stage.FILLS_RECORDED, f"ticket {tid}: {message}"),
                        (Stage.DONE_TODAY, f"ticket {tid} done; portfolio at revision "
                                           f"{revision}"))
        else:
            boxes.stage(store, intent, (Stage.AWAITING_MANUAL_EXECUTION,
                                        f"ticket {tid} partially filled; record the rest"))
        return intent


def _awaiting_fills(store: Store, tid: str) -> TicketRecord:
    """The MANUAL record of `tid` that takes fills now (lock held): in results/, or admitted
    now from submitted/ (the processor's step) when the emergency stop is off."""
    files = TicketFiles(store)
    rec = files.read("results", tid)
    if rec is None:
        found = files.find(tid)
        if found is None:
            raise TicketNotFound(f"no ticket {tid!r}")
        if found[1].ticket.mode is ExecutionMode.MANUAL and found[0] == "submitted" and (
                not store.stop_in_force().on):
            # The trade happened before the processor's next pass: admit it now.
            process_one(store, tid, now_kst())
            rec = files.read("results", tid)
        if rec is None or rec.state not in AWAITING:
            state = (rec or found[1]).state.value
            raise TicketStateError(
                f"ticket {tid} is {state}: fills can be recorded once it is "
                f"AWAITING_MANUAL_EXECUTION", problems=[rec.message] if rec else [])
    if rec.ticket.mode is not ExecutionMode.MANUAL or rec.state not in AWAITING:
        raise TicketStateError(
            f"ticket {tid} is a {rec.ticket.mode.value} ticket in state {rec.state.value}: "
            f"fills can only be recorded for a MANUAL ticket awaiting execution")
    return rec


def _filled(fills: list[Fill]) -> dict[tuple[Side, str], int]:
    out: dict[tuple[Side, str], int] = {}
    for f in fills:
        out[(f.side, f.ticker)] = out.get((f.side, f.ticker), 0) + f.qty
    return out


def _resolved(rec: TicketRecord, req: FillsRequest, commission_rate: float,
              cal: calendar.SessionCalendar, *,
              replay: bool) -> list[Fill]:
    """`req.fills` checked against the ticket (`TicketRejected` naming `fills[i]....`) and
    with their commission and tax filled in."""
    tid = rec.ticket.ticket_id
    first_session = cal.next_session(rec.ticket.asof)
    ordered = {(o.side, o.ticker): o for o in rec.ticket.orders}
    filled = _filled(rec.fills)
    resolved: list[Fill] = []
    for i, f in enumerate(req.fills):
        key = (f.side, f.ticker)
        o = ordered.get(key)
        if o is None:
            sides = [s.value for (s, t) in ordered if t == f.ticker]
            field = f"fills[{i}].side" if sides else f"fills[{i}].ticker"
            what = f"has a {sides[0]} of {f.ticker}" if sides else f"has no {f.ticker}"
            raise TicketRejected(f"fills[{i}]: ticket {tid} {what}", field=field)
        day = f.filled_at.astimezone(KST).date()
        if not replay and day < first_session:
            raise TicketRejected(
                f"fills[{i}]: filled_at {day} is before {first_session}, the first session "
                f"the plan of {rec.ticket.asof} can execute in (historical fill dates are "
                f"only taken by a replay data root)", field=f"fills[{i}].filled_at")
        filled[key] = filled.get(key, 0) + f.qty
        if filled[key] > o.qty:
            raise TicketRejected(
                f"fills[{i}]: over-fill — {filled[key]} {f.side.value} {f.ticker} recorded "
                f"in total but the ticket ordered {o.qty}", field=f"fills[{i}].qty")
        commission, tax = fees_of(f.side, o.kind, f.qty * f.price, commission_rate, day.year)
        resolved.append(f.model_copy(update={
            "commission": commission if f.commission is None else f.commission,
            "tax": tax if f.tax is None else f.tax,
        }))
    return resolved


def _raise_incident(store: Store, rec: TicketRecord, message: str, actor: str,
                    amounts: dict[str, int]) -> None:
    """A guardrail incident: an audit line, and a CRITICAL risk on the latest summary."""
    store.audit_log.append(AuditEntry(
        actor=actor, action=AuditAction.TICKET_TRANSITION, target=rec.ticket.ticket_id,
        reason=message, details={"incident": RESERVE_INCIDENT, "plan_id": rec.ticket.plan_id}))
    summary = store.summary()
    if summary is not None:
        risks = [*summary.risks, Risk(code=RESERVE_INCIDENT, severity=Severity.CRITICAL,
                                      message=f"ticket {rec.ticket.ticket_id}: {message}",
                                      params={"ticket": rec.ticket.ticket_id, **amounts})]
        atomic_write_model(store.paths.summary_latest, summary.model_copy(update={"risks": risks}))
