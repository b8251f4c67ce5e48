"""Submit (idempotent) and read tickets."""

from __future__ import annotations

from contracts.common import now_kst
from contracts.summary import Stage
from contracts.ticket import IdempotencyRecord, Ticket, TicketEvent, TicketRecord, TicketState
from oci_backend.broker_link import BrokerLink
from oci_backend.paths import InvalidId, check_id
from oci_backend.store import Store
from oci_backend.tickets import boxes
from oci_backend.tickets.admission import refusal
from oci_backend.tickets.boxes import TicketFiles
from oci_backend.tickets.errors import (
    IdempotencyConflict,
    TicketNotFound,
    TicketRejected,
)
from strategy.ticketing import ticket_id_of

MAX_KEY_LEN = 200
# A record in one of these states may be replaced by a new submission of the same id (a
# re-draft after a new plan gives the same content-addressed id back).
RESUBMITTABLE = frozenset({TicketState.REJECTED, TicketState.FAILED})


def submit_ticket(
    store: Store, ticket: Ticket, idempotency_key: str, *, actor: str,
    link: BrokerLink | None = None,
) -> tuple[TicketRecord, bool]:
    """Accept `ticket` for processing; returns (record, created).

    The same Idempotency-Key returns the record it created (created=False) however often it
    is replayed, even concurrently; the same key with another body → `IdempotencyConflict`.
    A ticket whose content-addressed id already exists returns that record (created=False),
    unless that record was REJECTED or FAILED: then a submit with a new key is a new attempt
    (the old record is archived). Otherwise the admission check (`admission.refusal`) decides;
    a refused submit raises its typed error and writes nothing. An accepted ticket is written
    to `submitted/`, audited, and the summary stage becomes SUBMITTED.
    """
    key = idempotency_key.strip() if idempotency_key else ""
    if not key or len(key) > MAX_KEY_LEN or not key.isprintable():
        raise TicketRejected(
            f"Idempotency-Key must be 1..{MAX_KEY_LEN} printable characters "
            f"(e.g. a UUID generated once per submit)", field="Idempotency-Key")
    key_hash = boxes.sha256(key)
    body_hash = boxes.body_sha256(ticket)
    tid = ticket.ticket_id
    files = TicketFiles(store)
    with store.lock():
        prior = files.key(key_hash)
        if prior is not None:
            if prior.body_sha256 != body_hash:
                raise IdempotencyConflict(
                    f"Idempotency-Key was already used for ticket {prior.ticket_id} with a "
                    f"different body; use a new key for a new ticket")
            found = _find_valid(files, prior.ticket_id)
            if found is not None:
                return found[1], False
        existing = _find_valid(files, tid)
        key_record = IdempotencyRecord(key_sha256=key_hash, ticket_id=tid,
                                       body_sha256=body_hash, at=now_kst())
        if existing is not None and existing[1].state not in RESUBMITTABLE:
            expected = ticket_id_of(ticket)
            if expected != tid:  # another body under a stored id: never its record back
                raise TicketRejected(
                    f"ticket_id {tid} is already stored for other orders, and this body's "
                    f"content gives {expected}: re-draft the ticket from the current plan",
                    field="ticket_id")
            files.remember_key(key_record)
            return existing[1], False
        denied = refusal(store, ticket, link=link)
        if denied is not None:
            raise denied.exception()  # a refused submit writes nothing
        now = now_kst()
        msg = f"submitted by {actor}"
        said: dict[str, str | int | float] = {"actor": actor}
        if existing is not None:
            msg += f" (again, after {existing[1].state.value}: {existing[1].message})"
            said["before"] = existing[1].state.value
        event = TicketEvent(at=now, state=TicketState.SUBMITTED, message=msg,
                            code="resubmitted" if existing is not None else "submitted",
                            params=said)
        rec = TicketRecord(
            ticket=ticket, state=TicketState.SUBMITTED, idempotency_key=key, submitted_at=now,
            events=[event], message=msg,
            replay=store.paths.is_replay,
        )
        files.create(rec, key_record, actor=actor, replacing=existing)
        boxes.stage(store, rec, (Stage.SUBMITTED,
                                 f"ticket {tid} submitted ({len(ticket.orders)} orders, "
                                 f"{ticket.mode.value})"))
        return rec, True


def _find_valid(files: TicketFiles, tid: str) -> tuple[str, TicketRecord] | None:
    try:
        return files.find(tid)
    except InvalidId:
        return None  # not a storable id: the admission check names the problem


def list_tickets(
    store: Store, *, limit: int = 50, state: TicketState | None = None
) -> list[TicketRecord]:
    """Newest first (by submit time), optionally only those in `state`; at most `limit`."""
    recs = [r for r in TicketFiles(store).all_records().values()
            if state is None or r.state is state]
    recs.sort(key=lambda r: (r.submitted_at, r.ticket.ticket_id), reverse=True)
    return recs[:limit] if limit and limit > 0 else recs


def check_ticket_id(ticket_id: str) -> str:
    try:
        return check_id(ticket_id, "ticket_id")
    except InvalidId:
        raise TicketNotFound(f"no ticket {ticket_id!r} (not a ticket id)") from None


def get_ticket(store: Store, ticket_id: str) -> TicketRecord:
    """The record of `ticket_id` wherever it is; `TicketNotFound` (404) when there is none."""
    found = TicketFiles(store).find(check_ticket_id(ticket_id))
    if found is None:
        raise TicketNotFound(f"no ticket {ticket_id!r}")
    return found[1]
