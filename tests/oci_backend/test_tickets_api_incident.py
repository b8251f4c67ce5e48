"""A MANUAL fill that leaves cash below the plan's reserve, over HTTP: accepted (it happened at
the broker), recorded on the ticket and the summary, and sent to the operator as an incident."""

from __future__ import annotations

import time
import uuid

import pytest
from oci_server import ServerFactory, wait_replanned
from ticket_fixtures import switch_to_manual

from contracts.common import now_kst
from contracts.plan import OrderPlan
from contracts.settings import Settings
from contracts.sync import SyncSnapshot
from strategy.ticketing import draft_ticket

pytestmark = pytest.mark.integration


def test_reserve_breaking_fill_is_accepted_and_notified(oci_server_factory: ServerFactory,
                                                        receiver) -> None:
    server = oci_server_factory(env={"KRX_OCI_NOW": "2025-12-30T10:00:00+09:00",
                                     "KRX_OCI_NOTIFY_URLS": receiver.url})
    with server.client() as c:
        assert c.post("/api/v1/ops/cycle").status_code == 200
        push = switch_to_manual(c)
        wait_replanned(c, push.json()["revision"])
        plan = OrderPlan.model_validate_json(c.get("/api/v1/plans/current").content)
        snap = SyncSnapshot.model_validate_json(c.get("/api/v1/sync/snapshot").content)
        ticket = draft_ticket(plan, Settings.model_validate(snap.settings.model_dump()),
                              cash=snap.portfolio.cash, created_at=now_kst())
        sub = c.post("/api/v1/tickets", content=ticket.model_copy(
            update={"confirmed": True}).model_dump_json(),
            headers={"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"})
        assert sub.status_code == 201, sub.text
        buy = next(o for o in ticket.orders if o.side.value == "BUY")
        # everything but half the reserve spent on this one buy
        price = round((plan.cash - plan.reserve / 2) / buy.qty / 1.00015, 2)
        before = len(receiver.messages)
        r = c.post(f"/api/v1/tickets/{ticket.ticket_id}/fills", json={"fills": [{
            "ticker": buy.ticker, "side": "BUY", "qty": buy.qty, "price": price,
            "filled_at": "2025-12-30T09:05:00+09:00"}]})
        assert r.status_code == 200, r.text
        rec = r.json()
        assert rec["incidents"] and rec["incidents"][0].startswith("GUARDRAIL_MIN_CASH_BREACHED")
        snap = SyncSnapshot.model_validate_json(c.get("/api/v1/sync/snapshot").content)
        assert 0 <= snap.portfolio.cash < plan.reserve
        assert any(x.code == "GUARDRAIL_MIN_CASH_BREACHED" for x in snap.summary.risks)
        deadline = time.monotonic() + 10
        while len(receiver.messages) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        titles = receiver.titles()[before:]
        assert any("guardrail incident" in t and ticket.ticket_id in t for t in titles), titles
