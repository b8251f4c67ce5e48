"""A replay through the real OCI API (a client, as the PC is): the same steps as
`replay.InProcessBackend`, each one an HTTP request to a server on a replay data root."""

from __future__ import annotations

from datetime import date

import httpx

from contracts.plan import OrderPlan
from contracts.portfolio import Portfolio
from contracts.settings import Settings
from contracts.sync import SyncSnapshot
from contracts.ticket import FillsRequest, Ticket, TicketRecord

API = "/api/v1"


class ReplayHttpError(RuntimeError):
    """The server refused a replay step; the message carries its error body."""


def _ok(r: httpx.Response, what: str) -> httpx.Response:
    if r.status_code >= 400:
        raise ReplayHttpError(f"{what}: HTTP {r.status_code} {r.text[:500]}")
    return r


class HttpBackend:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def cycle(self, asof: date) -> OrderPlan | None:
        r = _ok(self.client.post(f"{API}/ops/cycle", json={"asof": asof.isoformat()}),
                f"cycle {asof}")
        plan_id = r.json().get("plan_id")
        if plan_id is None:
            return None
        return OrderPlan.model_validate_json(
            _ok(self.client.get(f"{API}/plans/{plan_id}"), f"plan {plan_id}").content)

    def state(self) -> tuple[Portfolio, Settings]:
        snap = SyncSnapshot.model_validate_json(
            _ok(self.client.get(f"{API}/sync/snapshot"), "snapshot").content)
        return snap.portfolio, snap.settings

    def submit(self, ticket: Ticket, key: str) -> TicketRecord:
        r = self.client.post(f"{API}/tickets", content=ticket.model_dump_json(),
                             headers={"Idempotency-Key": key,
                                      "Content-Type": "application/json"})
        return TicketRecord.model_validate_json(_ok(r, f"submit {ticket.ticket_id}").content)

    def record_fills(self, ticket_id: str, req: FillsRequest) -> TicketRecord:
        r = self.client.post(f"{API}/tickets/{ticket_id}/fills", content=req.model_dump_json(),
                             headers={"Content-Type": "application/json"})
        return TicketRecord.model_validate_json(_ok(r, f"fills {ticket_id}").content)

    def tickets(self) -> list[TicketRecord]:
        r = _ok(self.client.get(f"{API}/tickets", params={"limit": 500}), "tickets")
        return [TicketRecord.model_validate(x) for x in r.json()]
