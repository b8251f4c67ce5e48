"""A replay through the real OCI API (a client, as the PC is): the same steps as
`replay.InProcessBackend`, each one an HTTP request to a server on a replay data root.

Error answers and parsing are `krx_common.oci_http`'s, as for the PC's `OciClient`: a refused
step raises `OciHttpError` with the server's error body."""

from __future__ import annotations

import time
from datetime import date

import httpx

from contracts.plan import OrderPlan
from contracts.portfolio import Portfolio
from contracts.settings import Settings
from contracts.sync import SyncSnapshot
from contracts.ticket import FillsRequest, Ticket, TicketRecord
from krx_common.oci_http import API, OciHttpError, parse_list, parse_model, raise_for_error

# How long a cycle request waits out another cycle (a background re-plan) before failing.
CYCLE_BUSY_WAIT_S = 120.0


class HttpBackend:
    """`client`: an httpx client of the server (`krx_common.oci_http.bearer_client`)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def cycle(self, asof: date) -> OrderPlan | None:
        # A background re-plan (after recorded fills, as after a PUSH) may hold the cycle
        # lock for a moment: 409 CYCLE_BUSY is waited out, as an operator would retry.
        deadline = time.monotonic() + CYCLE_BUSY_WAIT_S
        while True:
            try:
                r = raise_for_error(self.client.post(f"{API}/ops/cycle",
                                                     json={"asof": asof.isoformat()}))
                break
            except OciHttpError as exc:
                if exc.code != "CYCLE_BUSY" or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        plan_id = r.json().get("plan_id")
        if plan_id is None:
            return None
        return parse_model(OrderPlan, raise_for_error(self.client.get(f"{API}/plans/{plan_id}")))

    def state(self) -> tuple[Portfolio, Settings]:
        snap = parse_model(SyncSnapshot,
                           raise_for_error(self.client.get(f"{API}/sync/snapshot")))
        return snap.portfolio, snap.settings

    def submit(self, ticket: Ticket, key: str) -> TicketRecord:
        r = self.client.post(f"{API}/tickets", content=ticket.model_dump_json(),
                             headers={"Idempotency-Key": key,
                                      "Content-Type": "application/json"})
        return parse_model(TicketRecord, raise_for_error(r))

    def record_fills(self, ticket_id: str, req: FillsRequest) -> TicketRecord:
        r = self.client.post(f"{API}/tickets/{ticket_id}/fills", content=req.model_dump_json(),
                             headers={"Content-Type": "application/json"})
        return parse_model(TicketRecord, raise_for_error(r))

    def tickets(self) -> list[TicketRecord]:
        r = self.client.get(f"{API}/tickets", params={"limit": 500})
        return parse_list(TicketRecord, raise_for_error(r))
