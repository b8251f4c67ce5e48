"""Ticket draft (local), submit (idempotent), and the proxied list, read and fills."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response

from contracts.pc import DraftRequest, StoredDraft, SubmitRequest
from contracts.ticket import FillsRequest, TicketRecord, TicketState, is_valid_id
from pc_backend.deps import ServiceDep
from pc_backend.workspace import InvalidInput

router = APIRouter(prefix="/tickets", tags=["tickets"])


@router.post("/draft", response_model=StoredDraft)
def draft(service: ServiceDep, body: Annotated[DraftRequest | None, Body()] = None
          ) -> StoredDraft:
    """Draft from the pulled plan (`strategy.ticketing`); stored with its idempotency key."""
    return service.draft()


@router.get("/draft", response_model=StoredDraft, responses={404: {"description": "NO_DRAFT"}})
def get_draft(service: ServiceDep) -> StoredDraft:
    return service.get_draft()


@router.delete("/draft", status_code=204, responses={404: {"description": "NO_DRAFT"}})
def discard_draft(service: ServiceDep) -> Response:
    service.discard_draft()
    return Response(status_code=204)


@router.post("/submit", response_model=TicketRecord, status_code=201,
             responses={200: {"model": TicketRecord,
                              "description": "replayed: the same key's ticket"}})
def submit(body: SubmitRequest, service: ServiceDep, response: Response) -> TicketRecord:
    record, status = service.submit(body.confirm)
    response.status_code = status
    return record


@router.get("", response_model=list[TicketRecord])
def list_tickets(service: ServiceDep, request: Request,
                 limit: Annotated[int, Query(ge=1, le=500)] = 50,
                 state: TicketState | None = None) -> list[TicketRecord]:
    params = {"limit": limit, **({"state": state.value} if state else {})}
    return service.tickets(params)


def _check_id(ticket_id: str) -> str:
    if not is_valid_id(ticket_id):
        raise InvalidInput(f"ticket_id: {ticket_id[:40]!r} is not a ticket id",
                           field="ticket_id")
    return ticket_id


@router.get("/{ticket_id}", response_model=TicketRecord)
def get_ticket(ticket_id: str, service: ServiceDep) -> TicketRecord:
    return service.ticket(_check_id(ticket_id))


@router.post("/{ticket_id}/fills", response_model=TicketRecord)
def record_fills(ticket_id: str, body: FillsRequest, service: ServiceDep) -> TicketRecord:
    return service.record_fills(_check_id(ticket_id), body)
