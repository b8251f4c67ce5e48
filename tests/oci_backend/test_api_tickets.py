"""Tickets over HTTP: idempotent submit (201/200), 409 stale, 423 stop, 422 naming the field,
50 concurrent submits with one key, processing, manual fills, stage in the snapshot."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest
from oci_server import REPO, OciServer, ServerFactory, error_of, hash_tree, wait_replanned
from ticket_fixtures import ready_ticket, snapshot_of, switch_to_manual

from contracts.summary import Stage
from contracts.ticket import Ticket, TicketRecord, TicketState

pytestmark = pytest.mark.integration

# Tuesday 2025-12-30 10:00 KST: the cycle plans 2025-12-29, the real data's last session.
NOW = {"KRX_OCI_NOW": "2025-12-30T10:00:00+09:00"}




def _submit(c: httpx.Client, ticket: Ticket | dict, key: str | None) -> httpx.Response:
    body = ticket if isinstance(ticket, dict) else ticket.model_dump(mode="json")
    headers = {"Idempotency-Key": key} if key is not None else {}
    return c.post("/api/v1/tickets", json=body, headers=headers)


def _ticket_files(server: OciServer) -> list[str]:
    return sorted(str(p.relative_to(server.paths.tickets_dir))
                  for box in ("submitted", "processing", "results")
                  for p in server.paths.ticket_box(box).glob("*.json"))


def _process(server: OciServer) -> str:
    out = subprocess.run([sys.executable, "-m", "krx_cli.main", "oci", "process-tickets",
                          "--data-dir", str(server.data_dir)], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_submit_replay_errors_and_dry_run_processing(oci_server_factory: ServerFactory) -> None:
    server = oci_server_factory(env=NOW)
    with server.client() as c:
        ticket = ready_ticket(c)
        key = str(uuid.uuid4())

        missing = _submit(c, ticket, None)
        assert missing.status_code == 400
        assert error_of(missing)["field"] == "Idempotency-Key"

        first = _submit(c, ticket, key)
        assert first.status_code == 201, first.text
        rec = TicketRecord.model_validate_json(first.content)
        assert rec.state is TicketState.SUBMITTED and rec.ticket.ticket_id == ticket.ticket_id
        assert first.headers["location"] == f"/api/v1/tickets/{ticket.ticket_id}"
        snap = snapshot_of(c)
        assert snap.summary.stage is Stage.SUBMITTED  # type: ignore[union-attr]
        assert [t.ticket.ticket_id for t in snap.tickets] == [ticket.ticket_id]

        before = hash_tree(server.data_dir)
        replay = _submit(c, ticket, key)
        assert replay.status_code == 200
        assert replay.json()["ticket"]["ticket_id"] == ticket.ticket_id
        conflict = _submit(c, ticket.model_copy(update={"copy_text": "edited"}), key)
        assert conflict.status_code == 422
        assert error_of(conflict)["error"] == "IDEMPOTENCY_CONFLICT"
        assert error_of(conflict)["field"] == "Idempotency-Key"

        body = ticket.model_dump(mode="json")
        body["orders"][0]["ticker"] = "999999"
        unknown = _submit(c, body, str(uuid.uuid4()))
        assert unknown.status_code == 422 and error_of(unknown)["field"] == "orders.0.ticker"
        body = ticket.model_dump(mode="json")
        body["orders"][0]["qty"] = -3
        negative = _submit(c, body, str(uuid.uuid4()))
        assert negative.status_code == 422 and error_of(negative)["field"] == "orders.0.qty"
        assert hash_tree(server.data_dir) == before

        got = c.get(f"/api/v1/tickets/{ticket.ticket_id}")
        assert got.status_code == 200 and got.json()["state"] == "SUBMITTED"
        nope = c.get("/api/v1/tickets/no-such-ticket")
        assert nope.status_code == 404 and error_of(nope)["error"] == "TICKET_NOT_FOUND"
        listed = c.get("/api/v1/tickets", params={"state": "SUBMITTED"}).json()
        assert [t["ticket"]["ticket_id"] for t in listed] == [ticket.ticket_id]

        revision = snapshot_of(c).revision
        assert "processed 1 ticket(s)" in _process(server)
        # DRY_RUN fills at the open of the session after the plan (2025-12-30), which the
        # data does not have yet: the ticket waits, visibly, and nothing is applied.
        got = c.get(f"/api/v1/tickets/{ticket.ticket_id}")
        done = TicketRecord.model_validate_json(got.content)
        assert done.state is TicketState.AWAITING_NEXT_OPEN and not done.fills
        assert "2025-12-30" in done.message
        snap = snapshot_of(c)
        assert snap.revision == revision and not snap.portfolio.holdings
        assert [t.state for t in snap.tickets] == [TicketState.AWAITING_NEXT_OPEN]

        fills = c.post(f"/api/v1/tickets/{ticket.ticket_id}/fills", json={"fills": [{
            "ticker": ticket.orders[0].ticker, "side": "BUY", "qty": 1, "price": 100.0}]})
        assert fills.status_code == 409 and error_of(fills)["error"] == "TICKET_STATE"


def test_submit_after_the_inputs_changed_is_409_stale_ticket(
    oci_server_factory: ServerFactory,
) -> None:
    server = oci_server_factory(env=NOW)
    with server.client() as c:
        ticket = ready_ticket(c)
        r = c.get("/api/v1/sync/snapshot")
        portfolio = r.json()["portfolio"]
        portfolio["cash"] = 12_345_678
        push = c.post("/api/v1/sync/push", json={"portfolio": portfolio, "reason": "deposit"},
                      headers={"If-Match": r.headers["etag"]})
        assert push.status_code == 200 and push.json()["replan"] == "scheduled"
        wait_replanned(c, push.json()["revision"])
        before = hash_tree(server.data_dir)
        stale = _submit(c, ticket, str(uuid.uuid4()))
        assert stale.status_code == 409, stale.text
        assert error_of(stale)["error"] == "STALE_TICKET"
        assert hash_tree(server.data_dir) == before


def test_submit_during_emergency_stop_is_423(oci_server_factory: ServerFactory) -> None:
    server = oci_server_factory(env=NOW)
    with server.client() as c:
        ticket = ready_ticket(c)
        stop = c.post("/api/v1/emergency-stop", json={"on": True, "reason": "broker outage"})
        assert stop.status_code == 200
        before = hash_tree(server.data_dir)
        r = _submit(c, ticket, str(uuid.uuid4()))
        assert r.status_code == 423
        err = error_of(r)
        assert err["error"] == "EMERGENCY_STOP" and "broker outage" in err["message"]
        assert hash_tree(server.data_dir) == before
        assert _ticket_files(server) == []


def test_50_concurrent_submits_with_one_key_make_one_ticket(
    oci_server_factory: ServerFactory,
) -> None:
    server = oci_server_factory(env=NOW)
    with server.client() as c:
        ticket = ready_ticket(c)
    key = str(uuid.uuid4())
    n = 50
    barrier = threading.Barrier(n)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def submit() -> None:
        with server.client() as client:
            barrier.wait()
            r = _submit(client, ticket, key)
            with lock:
                answers.append((r.status_code, r.json()["ticket"]["ticket_id"]))

    threads = [threading.Thread(target=submit) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(answers) == n
    assert sorted(code for code, _ in answers) == [200] * (n - 1) + [201]
    assert {tid for _, tid in answers} == {ticket.ticket_id}
    assert _ticket_files(server) == [f"submitted/{ticket.ticket_id}.json"]
    with server.client() as c:
        audit = c.get("/api/v1/audit", params={"action": "TICKET_TRANSITION"}).json()
    assert len(audit) == 1


def test_manual_ticket_waits_for_fills_then_records_them(
    oci_server_factory: ServerFactory,
) -> None:
    server = oci_server_factory(env=NOW)
    with server.client() as c:
        assert c.post("/api/v1/ops/cycle").status_code == 200
        push = switch_to_manual(c)
        assert push.status_code == 200 and push.json()["replan"] == "scheduled"
        wait_replanned(c, push.json()["revision"])
        ticket = ready_ticket(c)
        assert ticket.mode.value == "MANUAL"
        assert _submit(c, ticket, str(uuid.uuid4())).status_code == 201
        _process(server)
        waiting = c.get(f"/api/v1/tickets/{ticket.ticket_id}").json()
        assert waiting["state"] == "AWAITING_MANUAL_EXECUTION"
        assert snapshot_of(c).summary.stage is Stage.AWAITING_MANUAL_EXECUTION  # type: ignore

        order = ticket.orders[0]
        bad = c.post(f"/api/v1/tickets/{ticket.ticket_id}/fills", json={"fills": [{
            "ticker": order.ticker, "side": order.side.value, "qty": order.qty + 1,
            "price": float(order.limit_price)}]})
        assert bad.status_code == 422 and error_of(bad)["field"] == "fills[0].qty"
        ok = c.post(f"/api/v1/tickets/{ticket.ticket_id}/fills", json={"final": True, "fills": [{
            "ticker": order.ticker, "side": order.side.value, "qty": order.qty,
            "price": float(order.limit_price)}]})
        assert ok.status_code == 200, ok.text
        assert ok.json()["state"] == "FILLS_RECORDED"
        snap = snapshot_of(c)
        assert snap.summary.stage is Stage.DONE_TODAY  # type: ignore[union-attr]
        assert snap.portfolio.holding(order.ticker) is not None


def test_in_process_ticket_processor_job_fills_a_submitted_ticket(
    oci_server_factory: ServerFactory,
) -> None:
    server = oci_server_factory(env={**NOW, "KRX_OCI_TICKET_PROCESSOR": "true",
                                     "KRX_OCI_TICKET_INTERVAL_S": "0.5"})
    with server.client() as c:
        ticket = ready_ticket(c)
        assert _submit(c, ticket, str(uuid.uuid4())).status_code == 201
        deadline = time.monotonic() + 60
        state = None
        while time.monotonic() < deadline:
            state = c.get(f"/api/v1/tickets/{ticket.ticket_id}").json()["state"]
            if state not in ("SUBMITTED", "PROCESSING"):
                break
            time.sleep(0.2)
        assert state == "AWAITING_NEXT_OPEN"  # the data has no 2025-12-30 open yet
