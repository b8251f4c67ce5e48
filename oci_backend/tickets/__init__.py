"""Manual execution tickets on OCI: submit, process (DRY_RUN / MANUAL), record fills, recover.

By concern: `errors` (typed errors; the API's table gives their HTTP status), `boxes` (the
maildir boxes: `TicketFiles`, the one owner of the ticket files, moving a ticket to the box
`contracts.ticket.STATE_BOX` gives its state, along `contracts.ticket.ALLOWED_TRANSITIONS`;
audit), `admission` (the one check submit and the processor share), `submit` (submit and
reads), `processing` (claim, DRY_RUN paper fills at the next open, waiting), `manual` (MANUAL
fills), `recovery` (crash leftovers), `market` (where the next open comes from). The fill
arithmetic itself is `strategy.fills`."""

from __future__ import annotations

from contracts.ticket import IdempotencyRecord
from oci_backend.tickets.admission import Refusal, refusal
from oci_backend.tickets.boxes import CRASH_ENV, PROCESSOR
from oci_backend.tickets.errors import (
    EmergencyStopped,
    IdempotencyConflict,
    ModeRefused,
    StaleTicket,
    TicketConflict,
    TicketError,
    TicketNotFound,
    TicketRejected,
    TicketStateError,
)
from oci_backend.tickets.manual import RESERVE_INCIDENT, record_fills
from oci_backend.tickets.market import OpenSource, opens_from_bars, opens_from_spec
from oci_backend.tickets.processing import fill_waiting, process_one, process_pending
from oci_backend.tickets.recovery import recover
from oci_backend.tickets.submit import get_ticket, list_tickets, submit_ticket
from strategy.fills import apply_fills

__all__ = [
    "CRASH_ENV",
    "PROCESSOR",
    "RESERVE_INCIDENT",
    "EmergencyStopped",
    "IdempotencyConflict",
    "IdempotencyRecord",
    "ModeRefused",
    "OpenSource",
    "Refusal",
    "StaleTicket",
    "TicketConflict",
    "TicketError",
    "TicketNotFound",
    "TicketRejected",
    "TicketStateError",
    "apply_fills",
    "fill_waiting",
    "get_ticket",
    "list_tickets",
    "opens_from_bars",
    "opens_from_spec",
    "process_one",
    "process_pending",
    "record_fills",
    "recover",
    "refusal",
    "submit_ticket",
]
