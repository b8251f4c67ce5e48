"""Typed ticket errors: each carries the HTTP status `oci_backend.errors` answers with, a
stable code and the field at fault. `ModeRefused` is 409: the request is well-formed but
conflicts with the server's execution mode."""

from __future__ import annotations


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
