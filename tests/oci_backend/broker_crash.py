"""SIGKILL the real OCI backend (BROKER_PAPER) at every point around a broker send and a fill
record, against the real KIS fake, and check after each ticket: no order placed twice at the
fake, no line lost, every fill recorded once (the reconciliation is clean), sells placed
before buys (the fake's order numbers).

Two tickets (`Scenario`): `SINGLE`, one buy from an empty book (the plan of `broker_stack.ASOF`),
and `MULTI`, one sell and two buys (the plan of 2024-07-17 for a book holding 069500 bought at
1.5x its close: a stop-loss sell, and two entries; the fake in open-fill mode, as that sell's
limit is above the next open). Each round starts from a copy of the scenario's prepared data
root (mode BROKER_PAPER, the ticket submitted) and a reset fake. OCI is started with
`KRX_TEST_CRASH_AT=<point>@<line>` for each point of the round's chain in turn (it kills itself
there with SIGKILL, `tickets.boxes.crash_point`): one send point (round n:
`send_points[n % len]`) at each line in turn, then both fill points; then once without, until
the ticket is done, and checked there.

Used by tests/oci_backend/test_broker_crash.py (a few kills) and
benchmarks/bench_broker_crash.py (>= 100 kills).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from broker_stack import (
    ASOF,
    SESSION,
    KisKeys,
    broker_env,
    broker_ticket,
    push_mode,
    register,
    replay_root,
    submit,
    wait_state,
    write_credentials,
)
from fake_kis_server import FakeKisHandle, running_fake_kis
from oci_server import (
    REPO_DAILY,
    new_token,
    serve_command,
    server_env,
    spawn_logged,
    start_server,
    stop_server,
    terminate,
)

from krx_common.procs import free_port
from oci_backend.paths import data_paths

SEND_POINTS = ("broker_before_intent", "broker_after_intent", "broker_after_send",
               "broker_after_odno")
FILL_POINTS = ("broker_fills_after_intent", "broker_fills_after_portfolio_write")
POINTS = SEND_POINTS + FILL_POINTS
DONE = {"FILLED", "CANCELLED", "BROKER_REJECTED", "REJECTED", "FAILED"}


@dataclass(frozen=True)
class Scenario:
    """A book (the same at OCI and at the fake) and the as-of whose plan makes the ticket."""

    name: str
    asof: str
    session: str
    cash: float
    holdings: dict[str, tuple[int, float]] = field(default_factory=dict)
    fill_mode: str = "limit"


SINGLE = Scenario("one buy", ASOF, SESSION, 10_000_000.0)
# 069500 closed at 38,223 on 2024-07-17: held at 57,335 it is a stop-loss sell that day, and
# the plan enters 305720 and 229200 (the sell's limit is above the 2024-07-18 open: open-fill).
MULTI = Scenario("one sell, two buys", "2024-07-17", "2024-07-18", 8_000_000.0,
                 {"069500": (10, 57_335.0)}, fill_mode="open")


@contextmanager
def scenario_fake(scenario: Scenario, tmp: Path) -> Iterator[FakeKisHandle]:
    """The KIS fake holding the scenario's book on its session (reset restores it)."""
    with running_fake_kis(tmp_dir=tmp, session_date=scenario.session, cash=scenario.cash,
                          holdings=scenario.holdings, fill_mode=scenario.fill_mode) as kis:
        yield kis


@dataclass
class BrokerCrashReport:
    rounds: int = 0
    kills: int = 0
    kills_by_point: Counter[str] = field(default_factory=Counter)
    kills_by_line: Counter[int] = field(default_factory=Counter)
    not_reached: int = 0
    lines: int = 0
    orders_at_fake: int = 0
    placed_twice: int = 0
    lines_lost: int = 0
    buys_before_a_sell: int = 0
    unclean_reconciliations: int = 0
    restart_s: list[float] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


def prepare_template(kis: FakeKisHandle, keys: KisKeys, tmp: Path,
                     scenario: Scenario = SINGLE) -> tuple[Path, dict]:
    """A data root in BROKER_PAPER holding the scenario's book, with the ticket of its as-of
    submitted (processor off)."""
    root = replay_root(tmp / "template")
    env = broker_env(kis, keys, KRX_OCI_TICKET_PROCESSOR="false")
    server = start_server(root, tmp / "template.log", token=new_token(),
                          data_spec=f"csv:{REPO_DAILY}", env=env, timeout=240)
    try:
        with httpx.Client(base_url=server.base_url, headers=server.auth, timeout=60,
                          trust_env=False) as c:
            r = push_mode(c, "BROKER_PAPER")
            assert r.status_code == 200, r.text
            if scenario.holdings:
                snap = c.get("/api/v1/sync/snapshot")
                book = {**snap.json()["portfolio"], "cash": scenario.cash, "holdings": [
                    {"ticker": t, "qty": q, "avg_price": a}
                    for t, (q, a) in scenario.holdings.items()]}
                r = c.post("/api/v1/sync/push", json={"portfolio": book, "reason": "drill book"},
                           headers={"If-Match": snap.headers["etag"]})
                assert r.status_code == 200, r.text
            ticket = broker_ticket(c, asof=scenario.asof)
            r = submit(c, ticket)
            assert r.status_code == 201, r.text
    finally:
        stop_server(server)
    data_paths(root).kis_token_cache.unlink(missing_ok=True)
    return root, ticket


def _run_once(root: Path, log: Path, env: dict[str, str], token: str, ticket_id: str,
              timeout: float) -> tuple[int | None, float]:
    """Start OCI on `root`; return (exit code or None when it ran to the ticket's end, the
    seconds until /health answered or it died)."""
    port = free_port()
    proc = spawn_logged(serve_command(port, root, f"csv:{REPO_DAILY}"),
                        server_env(token, env), log)
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    up: float | None = None
    deadline = started + timeout
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=5,
                      trust_env=False) as c:
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                return code, up if up is not None else time.monotonic() - started
            try:
                r = c.get(f"/api/v1/tickets/{ticket_id}")
                if up is None and r.status_code in (200, 404):
                    up = time.monotonic() - started
                if r.status_code == 200 and r.json()["state"] in DONE:
                    terminate(proc)
                    return None, up or 0.0
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    terminate(proc)
    raise Hung(f"OCI neither died nor finished the ticket within {timeout}s: "
               + log.read_text(encoding="utf-8", errors="replace")[-1500:])


class Hung(RuntimeError):
    """OCI neither reached the crash point nor finished the ticket in time."""


def run_broker_crash_drill(kis: FakeKisHandle, tmp: Path, kills: int, *,
                           scenario: Scenario = SINGLE,
                           send_points: tuple[str, ...] = SEND_POINTS,
                           mix_points: bool = False,
                           timeout: float = 240.0,
                           budget_s: float | None = None) -> BrokerCrashReport:
    """Rounds until `kills` SIGKILLs (or `budget_s`) on the scenario's ticket; `kis` is
    `scenario_fake(scenario)`. Round n kills at `send_points[n % len]` at every line in turn;
    with `mix_points`, at `send_points[(n + line) % len]` (more points in fewer rounds)."""
    keys = write_credentials(tmp)
    kis.control("reset")
    register(kis, keys)
    template, ticket = prepare_template(kis, keys, tmp, scenario)
    tid = ticket["ticket_id"]
    n_lines = len(ticket["orders"])
    report = BrokerCrashReport()
    token = new_token()
    n = 0
    started = time.monotonic()
    while report.kills < kills and (budget_s is None
                                    or time.monotonic() - started < budget_s):
        kis.control("reset")
        register(kis, keys)
        root = tmp / f"round{n}"
        shutil.copytree(template, root)
        env = broker_env(kis, keys, KRX_OCI_BROKER_SAFETY_WINDOW_S="1")
        sends = [send_points[(n + (i if mix_points else 0)) % len(send_points)]
                 for i in range(n_lines)]
        for point in (*(f"{send}@{i}" for i, send in enumerate(sends)), *FILL_POINTS):
            try:
                code, up = _run_once(root, tmp / f"round{n}-{point}.log",
                                     {**env, "KRX_TEST_CRASH_AT": point}, token, tid, timeout)
            except Hung as exc:
                state = kis.state()
                report.violations.append(f"round {n} at {point}: {exc}; fake: "
                                         f"{state['phase']} {state['orders']}")
                break
            report.restart_s.append(up)
            if code is None:
                report.not_reached += 1
                continue  # the ticket got past this point in an earlier run
            if code != -9:
                log = tmp / f"round{n}-{point}.log"
                tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
                report.violations.append(f"round {n}: OCI exited {code} at {point}: {tail}")
                break
            report.kills += 1
            name, _, line = point.partition("@")
            report.kills_by_point[name] += 1
            if line:
                report.kills_by_line[int(line)] += 1
        _check_round(kis, root, env, token, tid, ticket, n, report)
        shutil.rmtree(root, ignore_errors=True)
        report.rounds += 1
        n += 1
    return report


def _check_round(kis: FakeKisHandle, root: Path, env: dict[str, str], token: str, tid: str,
                 ticket: dict, n: int, report: BrokerCrashReport) -> None:
    """Run OCI without a crash point until the ticket is done, then check it there."""
    port = free_port()
    started = time.monotonic()
    proc: subprocess.Popen[bytes] = spawn_logged(
        serve_command(port, root, f"csv:{REPO_DAILY}"), server_env(token, env),
        root.parent / f"round{n}-final.log")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}",
                          headers={"Authorization": f"Bearer {token}"}, timeout=60,
                          trust_env=False) as c:
            deadline = time.monotonic() + 240
            while True:
                try:
                    if c.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the final server did not start")
                time.sleep(0.05)
            report.restart_s.append(time.monotonic() - started)
            try:
                rec = wait_state(c, tid, DONE, timeout=180)
            except AssertionError as exc:
                report.violations.append(f"round {n}: not done: {exc}; fake orders "
                                         f"{kis.state()['orders']}")
                return
            recon = c.post("/api/v1/broker/reconcile").json()
    finally:
        terminate(proc)
    orders = [o for o in kis.state()["orders"] if o["source"] != "hts" and not o["cancels"]]
    sides = [o["side"] for o in sorted(orders, key=lambda o: int(o["odno"]))]
    if sides != sorted(sides, key=lambda side: side != "SELL"):
        report.buys_before_a_sell += 1
        report.violations.append(f"round {n}: a buy was placed before a sell: {sides}")
    per_line = Counter((o["side"], o["ticker"]) for o in orders)
    report.orders_at_fake += len(orders)
    report.lines += len(ticket["orders"])
    twice = sum(c - 1 for c in per_line.values() if c > 1)
    report.placed_twice += twice
    if twice:
        report.violations.append(f"round {n}: placed twice: {dict(per_line)}")
    filled = {(ln["side"], ln["ticker"]) for ln in rec["broker_lines"]
              if ln["state"] == "FILLED"}
    lost = [f"{o['side']} {o['ticker']}" for o in ticket["orders"]
            if (o["side"], o["ticker"]) not in filled]
    report.lines_lost += len(lost)
    if lost or rec["state"] != "FILLED":
        report.violations.append(f"round {n}: {rec['state']} ({rec['message']}); lost {lost}")
    if not recon.get("clean"):
        report.unclean_reconciliations += 1
        report.violations.append(f"round {n}: reconciliation {recon.get('message')}")


__all__ = ["MULTI", "SINGLE", "BrokerCrashReport", "Scenario", "run_broker_crash_drill",
           "scenario_fake"]
