"""OCI in a broker mode against the KIS fake, both real processes: a replay data root, a 0600
credentials file registered at the fake, and helpers to drive a ticket through the API.
Shared by tests/oci_backend/test_broker_mode.py and benchmarks/bench_broker*.py."""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests" / "broker")]

from fake_kis_server import FakeKisHandle  # noqa: E402

from contracts.settings import Settings  # noqa: E402
from oci_backend.paths import data_paths  # noqa: E402
from oci_backend.replay_root import create_replay_root  # noqa: E402

ASOF = "2025-06-13"  # a READY plan with buys from an empty 10,000,000 KRW book
SESSION = "2025-06-16"  # the session after it: the orders go out in it


@dataclass(frozen=True)
class KisKeys:
    app_key: str
    app_secret: str
    path: Path
    kind: str = "paper"


def write_credentials(directory: Path, *, kind: str = "paper", mode: int = 0o600) -> KisKeys:
    """A credentials file as OCI reads it (KRX_KIS_CREDENTIALS_FILE), mode `mode`."""
    keys = KisKeys(app_key="PS" + secrets.token_hex(16), app_secret=secrets.token_urlsafe(48),
                   path=directory / f"kis-{kind}.json", kind=kind)
    body = {"app_key": keys.app_key, "app_secret": keys.app_secret, "cano": "50000000",
            "acnt_prdt_cd": "01", "kind": kind}
    fd = os.open(keys.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(body, f)
    os.chmod(keys.path, mode)
    return keys


def register(kis: FakeKisHandle, keys: KisKeys) -> None:
    kis.control("apps", app_key=keys.app_key, app_secret=keys.app_secret, kind=keys.kind)


def broker_env(kis: FakeKisHandle, keys: KisKeys, **extra: str) -> dict[str, str]:
    return {"KRX_KIS_CREDENTIALS_FILE": str(keys.path), "KRX_KIS_BASE_URL": kis.base_url,
            "KRX_OCI_TICKET_PROCESSOR": "true", "KRX_OCI_TICKET_INTERVAL_S": "0.2",
            "KRX_OCI_BROKER_POLL_S": "0.2", **extra}


def replay_root(root: Path) -> Path:
    create_replay_root(data_paths(root), label="broker test", data_spec="csv",
                       settings=Settings())
    return root


def push_mode(c: httpx.Client, mode: str, **fields: object) -> httpx.Response:
    r = c.get("/api/v1/sync/snapshot")
    settings = r.json()["settings"]
    settings["execution_mode"] = mode
    settings.update(fields)
    return c.post("/api/v1/sync/push", json={"settings": settings, "reason": f"mode {mode}"},
                  headers={"If-Match": r.headers["etag"]})


def wait_state(c: httpx.Client, ticket_id: str, states: set[str], timeout: float = 60.0
               ) -> dict:
    deadline = time.monotonic() + timeout
    rec: dict = {}
    while time.monotonic() < deadline:
        r = c.get(f"/api/v1/tickets/{ticket_id}")
        if r.status_code == 200:
            rec = r.json()
            if rec["state"] in states:
                return rec
        time.sleep(0.1)
    raise AssertionError(f"ticket {ticket_id} not in {states} within {timeout}s: "
                         f"{rec.get('state')} {rec.get('message')}")


def session_after(asof: str) -> date:
    from strategy import calendar

    return calendar.next_session(date.fromisoformat(asof))


def broker_ticket(c: httpx.Client, asof: str = ASOF) -> dict:
    """Run the replay cycle of `asof` and draft a confirmed ticket from its READY plan in the
    server's mode (as the cockpit does); the ticket as JSON."""
    from contracts.common import now_kst
    from contracts.plan import OrderPlan
    from contracts.sync import SyncSnapshot
    from strategy.ticketing import draft_ticket

    deadline = time.monotonic() + 60
    while True:  # a PUSH's background re-plan may hold the cycle lock for a moment
        r = c.post("/api/v1/ops/cycle", json={"asof": asof})
        if r.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 200, r.text
    plan = OrderPlan.model_validate_json(c.get("/api/v1/plans/current").content)
    assert plan.decision.value == "READY" and plan.orders, plan.reasons
    snap = SyncSnapshot.model_validate_json(c.get("/api/v1/sync/snapshot").content)
    ticket = draft_ticket(plan, snap.settings, cash=snap.portfolio.cash, created_at=now_kst())
    return ticket.model_copy(update={"confirmed": True}).model_dump(mode="json")


def submit(c: httpx.Client, ticket: dict, key: str | None = None) -> httpx.Response:
    return c.post("/api/v1/tickets", json=ticket,
                  headers={"Idempotency-Key": key or secrets.token_hex(8)})


class FakeBrokerSession:
    """`replay.BrokerSession` on the KIS fake: steps the fake to a session at its open,
    waits until OCI is done with the ticket at the broker, then reconciles through the API.
    `acks` collects submit → order placed (ms) of every ticket, by the record's events."""

    def __init__(self, kis: FakeKisHandle, client: httpx.Client) -> None:
        self.kis, self.client = kis, client
        self.acks_ms: list[float] = []

    def open_session(self, session: date) -> None:
        self.kis.control("session", date=session.isoformat(), phase="open")

    def settle(self, record):  # type: ignore[no-untyped-def]
        from contracts.ticket import TicketRecord

        tid = record.ticket.ticket_id
        t0 = time.perf_counter()
        done = wait_state(self.client, tid, {"FILLED", "CANCELLED", "BROKER_REJECTED",
                                             "REJECTED", "FAILED"}, timeout=120)
        rec = TicketRecord.model_validate(done)
        sent = next((e.at for e in rec.events if e.state.value == "SENT"), None)
        if sent is not None:
            self.acks_ms.append((sent - rec.submitted_at).total_seconds() * 1000)
        del t0
        return rec, self.reconcile()

    def reconcile(self) -> bool:
        r = self.client.post("/api/v1/broker/reconcile")
        assert r.status_code == 200, r.text
        return bool(r.json()["clean"])


def explain_differences(records, bars, slippage: float) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    """Why a broker-mode replay can differ from `run_backtest`, line by line: the backtest
    fills every order at the open ± slippage; a limit order at the broker does not fill when
    the open is beyond its limit (a buy's open above it, a sell's below), and fills at its
    limit when the slipped open is beyond it. (explained, unexplained) lines."""
    from strategy import calendar

    explained: list[str] = []
    unexplained: list[str] = []
    for rec in records:
        session = calendar.next_session(rec.ticket.asof)
        for ln in rec.broker_lines:
            bar = bars[ln.ticker].loc[str(session)]
            open_ = float(bar["open"])
            buy = ln.side.value == "BUY"
            what = f"{session} {ln.side.value} {ln.qty} {ln.ticker} limit {ln.limit_price}"
            if ln.state.value == "FILLED":
                price = ln.filled_value / ln.filled_qty
                slipped = open_ * (1 + slippage) if buy else open_ * (1 - slippage)
                if abs(price - slipped) < 1e-6:
                    continue
                (explained if price == ln.limit_price else unexplained).append(
                    f"{what}: filled at {price:,.2f}, the backtest at {slipped:,.2f} (the "
                    f"slipped open is beyond the limit: the broker caps it)")
            elif ln.state.value == "CANCELLED" and ln.filled_qty == 0 and (
                    open_ > ln.limit_price if buy else open_ < ln.limit_price):
                explained.append(f"{what}: open {open_:,.0f} beyond the limit: not filled at "
                                 "the broker, cancelled at the close; the backtest filled it")
            else:
                unexplained.append(f"{what}: {ln.state.value} {ln.message}")
    return explained, unexplained
