"""Typed ticket errors: what went wrong and the field at fault. They know nothing of HTTP: the
OCI API's one table (`oci_backend.errors.ERROR_ANSWERS`) gives each its status and code."""

from __future__ import annotations


class TicketError(Exception):
    """A ticket request that cannot be honoured; `field` is the part of the request at fault,
    `problems` every mismatch with the plan when there are several."""

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
    """Drafted from a plan that is no longer current (or no plan at all): re-draft."""

    field = "plan_id"


class EmergencyStopped(TicketError):
    """The emergency stop is on: no ticket goes ahead."""


class TicketRejected(TicketError):
    """The ticket (or its fills) breaks a rule; `field` names it."""


class TicketNotFound(TicketError):
    field = "ticket_id"


class IdempotencyConflict(TicketError):
    """The Idempotency-Key was used for another body."""

    field = "Idempotency-Key"


class ModeRefused(TicketError):
    """LIVE (no broker yet) or a ticket drafted for another mode: the request is well-formed
    but conflicts with the server's execution mode; re-draft or change mode."""

    field = "mode"


class TicketConflict(TicketError):
    """Another ticket for the same plan is still open (submitted, processing, awaiting fills)."""


class TicketStateError(TicketError):
    """The ticket is not in a state that allows this (e.g. fills for a DRY_RUN ticket)."""

    field = "state"
