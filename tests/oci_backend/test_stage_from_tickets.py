"""Stage and tickets agree (issue 16 item 12): a re-run of the day's cycle (a demo restart,
the cockpit's "run cycle", cron again) re-plans the same plan; the stage then comes from that
plan's tickets, never back to PLAN_READY "draft a ticket" while a ticket already waits."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from oci_server import REPO, OciServer, ServerFactory, wait_replanned
from ticket_fixtures import ready_ticket, snapshot_of, switch_to_manual

from contracts.summary import Stage

pytestmark = pytest.mark.integration

NOW = {"KRX_OCI_NOW": "2025-12-30T10:00:00+09:00"}  # plans 2025-12-29; no 12-30 open yet


def _process(server: OciServer) -> None:
    out = subprocess.run([sys.executable, "-m", "krx_cli.main", "oci", "process-tickets",
                          "--data-dir", str(server.data_dir)], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_stage_rerun_keeps_awaiting_next_open_ticket_stage(
    oci_server_factory: ServerFactory,
) -> None:
    server = oci_server_factory(env=NOW)
    with server.client() as c:
        ticket = ready_ticket(c)
        r = c.post("/api/v1/tickets", json=ticket.model_dump(mode="json"),
                   headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 201, r.text
        _process(server)
        assert c.get(f"/api/v1/tickets/{ticket.ticket_id}").json()["state"] == \
            "AWAITING_NEXT_OPEN"
        assert snapshot_of(c).summary.stage is Stage.SUBMITTED  # type: ignore[union-attr]

        again = c.post("/api/v1/ops/cycle")  # the restart's cycle: same session, same plan
        assert again.status_code == 200, again.text
        assert again.json()["plan_id"] == ticket.plan_id
        snap = snapshot_of(c)
        assert snap.summary.stage is Stage.SUBMITTED, snap.summary.message  # type: ignore
        assert ticket.ticket_id in snap.summary.message  # type: ignore[union-attr]
        health = c.get("/health").json()
        assert health["last_cycle"]["stage"] == "SUBMITTED"


def test_stage_rerun_keeps_manual_ticket_stage_until_done(
    oci_server_factory: ServerFactory,
) -> None:
    server = oci_server_factory(env=NOW)
    with server.client() as c:
        push = switch_to_manual(c)
        assert push.status_code == 200, push.text
        if push.json()["replan"] == "scheduled":
            wait_replanned(c, push.json()["revision"])
        ticket = ready_ticket(c)
        r = c.post("/api/v1/tickets", json=ticket.model_dump(mode="json"),
                   headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 201, r.text
        _process(server)
        assert c.post("/api/v1/ops/cycle").status_code == 200
        stage = snapshot_of(c).summary.stage  # type: ignore[union-attr]
        assert stage is Stage.AWAITING_MANUAL_EXECUTION

        order = ticket.orders[0]
        ok = c.post(f"/api/v1/tickets/{ticket.ticket_id}/fills", json={"final": True, "fills": [{
            "ticker": order.ticker, "side": order.side.value, "qty": order.qty,
            "price": float(order.limit_price)}]})
        assert ok.status_code == 200, ok.text
        assert snapshot_of(c).summary.stage is Stage.DONE_TODAY  # type: ignore[union-attr]
