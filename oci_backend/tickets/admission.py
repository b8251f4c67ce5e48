"""The one admission check: may this ticket go ahead now? Used by submit (which raises the
refusal's error) and by the processor (which rejects the ticket with the refusal's stage and
message) — the same rules, stated once."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field

from contracts.settings import ExecutionMode
from contracts.summary import Stage
from contracts.ticket import TERMINAL_STATES, ProblemCode, Ticket, TicketState
from oci_backend.broker_link import BrokerLink
from oci_backend.store import Store
from oci_backend.tickets.boxes import TicketFiles
from oci_backend.tickets.errors import (
    EmergencyStopped,
    ModeRefused,
    StaleTicket,
    TicketConflict,
    TicketError,
    TicketRejected,
)
from strategy.ticketing import ticket_problems

OPEN_STATES = frozenset(TicketState) - TERMINAL_STATES - {TicketState.DRAFT}


@dataclass(frozen=True)
class Refusal:
    """Why a ticket may not go ahead: the error submit raises, the summary stage the
    processor shows, the message and the field at fault."""

    error: type[TicketError]
    stage: Stage
    message: str
    field: str | None = None
    problems: list[str] = dc_field(default_factory=list)

    @property
    def event_code(self) -> str:
        """The ticket event's code of this refusal: `refused.<error>` (EmergencyStopped,
        StaleTicket, ModeRefused, TicketRejected, ...)."""
        return f"refused.{self.error.__name__}"

    def exception(self) -> TicketError:
        return self.error(self.message, field=self.field, problems=self.problems)


def refusal(store: Store, ticket: Ticket, *, confirmed_required: bool = True,
            ignore_open: str | None = None, link: BrokerLink | None = None) -> Refusal | None:
    """None when `ticket` may go ahead, else the first rule it breaks, in this order:
    emergency stop; a broker mode `link` cannot run (no credentials, the wrong kind,
    BROKER_LIVE not acknowledged); no current plan; another plan or as-of (stale); portfolio or
    settings changed since the plan (stale); drafted for another mode; not confirmed; any other
    `ticket_problems`; another open ticket for the plan (other than `ignore_open`)."""
    stop = store.stop_in_force()
    if stop.on:
        return Refusal(EmergencyStopped, Stage.STOPPED,
                       f"emergency stop is on (since {stop.at:%Y-%m-%d %H:%M} by {stop.by}: "
                       f"{stop.reason}); no ticket is accepted until it is turned off")
    settings = store.settings()
    link = link or BrokerLink()
    for wanted in dict.fromkeys((settings.execution_mode, ticket.mode)):
        problem = link.mode_problem(wanted)
        if problem is None and wanted is ExecutionMode.BROKER_LIVE and (
                not settings.live_trading_acknowledged):
            problem = ("BROKER_LIVE is not acknowledged (settings.live_trading_acknowledged "
                       "is false)")
        if problem is not None:
            return Refusal(ModeRefused, Stage.BLOCKED, f"{problem}; the ticket is not sent",
                           field="mode")
    plan = store.current_plan()
    if plan is None:
        return Refusal(StaleTicket, Stage.STALE_TICKET,
                       "OCI has no current plan: run the daily cycle, then re-draft")
    problems = ticket_problems(ticket, plan, settings)
    lines = [str(p) for p in problems]
    stale = [p for p in problems if p.code is ProblemCode.STALE]
    if stale:
        return Refusal(StaleTicket, Stage.STALE_TICKET, stale[0].message, problems=lines)
    portfolio = store.portfolio()
    if (plan.portfolio_revision, plan.settings_revision) != (portfolio.revision,
                                                             settings.revision):
        return Refusal(
            StaleTicket, Stage.STALE_TICKET,
            f"plan {plan.plan_id} was made for portfolio revision {plan.portfolio_revision} / "
            f"settings revision {plan.settings_revision}, OCI is now at {portfolio.revision} / "
            f"{settings.revision}: run the cycle again and re-draft")
    mode = [p for p in problems if p.code is ProblemCode.MODE_MISMATCH]
    if mode:
        return Refusal(ModeRefused, Stage.STALE_TICKET, mode[0].message, field="mode",
                       problems=lines)
    if confirmed_required and not ticket.confirmed:
        return Refusal(TicketRejected, Stage.STALE_TICKET,
                       "the ticket is not confirmed: the operator must confirm the orders "
                       "before submit", field="confirmed")
    if problems:
        return Refusal(TicketRejected, Stage.STALE_TICKET,
                       "ticket does not match the current plan: " + "; ".join(lines),
                       field=problems[0].field, problems=lines)
    for tid, (plan_id, state) in TicketFiles(store).states().items():
        if tid != ignore_open and plan_id == plan.plan_id and state in OPEN_STATES:
            return Refusal(
                TicketConflict, Stage.STALE_TICKET,
                f"ticket {tid} for plan {plan.plan_id} is still {state.value}; finish "
                f"it (record fills) before submitting another", field="plan_id")
    return None
