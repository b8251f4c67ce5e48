"""Manual execution tickets: submit (idempotent), list, read, record fills."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from contracts.ticket import FillsRequest, Ticket, TicketRecord, TicketState
from oci_backend import tickets as ticket_logic
from oci_backend.deps import BrokerLinkDep, NotifierDep, ReplannerDep, StoreDep
from oci_backend.errors import ApiError
from oci_backend.notify import NotificationKind

router = APIRouter(prefix="/tickets", tags=["tickets"])

ACTOR = "api"


def _require_key(key: str | None) -> str:
    # 400 for a missing key, as the IETF Idempotency-Key draft recommends; its format is
    # checked by `tickets.submit_ticket` (422 naming the header).
    if key is None or not key.strip():
        raise ApiError(400, "IDEMPOTENCY_KEY_REQUIRED",
                       "Idempotency-Key header required: one random value (e.g. a UUID) per "
                       "ticket draft, reused unchanged when the submit is retried",
                       field="Idempotency-Key")
    return key


@router.post("", response_model=TicketRecord, status_code=201,
             responses={200: {"description": "same Idempotency-Key replayed",
                              "model": TicketRecord},
                        409: {"description": "STALE_TICKET: the plan changed; re-draft"},
                        423: {"description": "emergency stop is on"}})
def submit(
    ticket: Ticket, response: Response, store: StoreDep, link: BrokerLinkDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> TicketRecord:
    """201 with the new record; 200 with the original record when the key was seen before."""
    key = _require_key(idempotency_key)
    record, created = ticket_logic.submit_ticket(store, ticket, key, actor=ACTOR,
                                                 link=link)
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/api/v1/tickets/{record.ticket.ticket_id}"
    return record


@router.get("", response_model=list[TicketRecord])
def list_tickets(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    state: TicketState | None = None,
) -> list[TicketRecord]:
    """The newest tickets first, optionally only those in `state`."""
    return ticket_logic.list_tickets(store, limit=limit, state=state)


@router.get("/{ticket_id}", response_model=TicketRecord,
            responses={404: {"description": "unknown ticket"}})
def get_ticket(ticket_id: str, store: StoreDep) -> TicketRecord:
    return ticket_logic.get_ticket(store, ticket_id)


@router.post("/{ticket_id}/fills", response_model=TicketRecord,
             responses={404: {"description": "unknown ticket"},
                        422: {"description": "fills that do not match the ticket"}})
def record_fills(ticket_id: str, body: FillsRequest, store: StoreDep,
                 notifier: NotifierDep, replanner: ReplannerDep) -> TicketRecord:
    """Record manual fills (MANUAL mode); the portfolio is reconciled on OCI and the current
    session is re-planned in the background, as after a PUSH. A fill that leaves cash below
    the plan's reserve is accepted and raised as a guardrail incident."""

    def incident(record: TicketRecord, message: str) -> None:
        notifier.send_once(NotificationKind.GUARDRAIL_INCIDENT,
                           f"KRX Alertor: guardrail incident, ticket {record.ticket.ticket_id}",
                           message)

    before = store.portfolio().revision
    # the fills are the operator's trades: the audit credits whoever the PC says recorded them
    record = ticket_logic.record_fills(store, ticket_id, body, actor=body.actor,
                                       on_incident=incident)
    if store.portfolio().revision != before:
        replanner.request(f"fills:{ticket_id}")
    return record
