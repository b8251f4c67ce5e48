"""SIGKILL the real OCI backend at random moments while one client streams PUSHes of portfolio
and settings together and another submits tickets drafted from the current plan (each with its
own Idempotency-Key, sent twice as a retrying client does); restart it, and check the
invariants after every restart:

- every acknowledged PUSH is present exactly once (its revision has one audit entry with the
  acknowledged value), and the revision never goes back;
- portfolio and settings come from the same PUSH (all or nothing: both carry the same value);
- the PUSH audit entries are exactly revisions 2..current (one per change, none missing);
- every state file validates, and no journal is left after start-up;
- every acknowledged ticket exists exactly once (one file across the boxes), a key always
  names the same ticket, and no ticket is left in PROCESSING.

Used by tests/reliability/test_crash_kill.py (20 kills in CI) and benchmarks/bench_crash.py.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from oci_server import REPO_DAILY, OciServer, new_token, start_server

from contracts import AuditAction, Portfolio, Settings
from contracts.common import now_kst
from contracts.plan import OrderPlan
from contracts.ticket import TicketRecord
from krx_common.atomic import read_model
from oci_backend.paths import data_paths
from oci_backend.store import Store


@dataclass
class CrashReport:
    kills: int = 0
    acked: dict[int, float] = field(default_factory=dict)  # revision -> value
    attempts: int = 0
    errors: int = 0
    restart_s: list[float] = field(default_factory=list)
    tickets: dict[str, str] = field(default_factory=dict)  # idempotency key -> ticket id
    submits: int = 0
    violations: list[str] = field(default_factory=list)


def _pusher(server: OciServer, report: CrashReport, stop: threading.Event, seq: list[int]):
    with httpx.Client(base_url=server.base_url, headers=server.auth, timeout=5,
                      trust_env=False) as c:
        while not stop.is_set():
            try:
                etag = c.get("/api/v1/sync/snapshot").headers["ETag"]
                seq[0] += 1
                value = 1_000_000.0 + seq[0]
                report.attempts += 1
                r = c.post("/api/v1/sync/push", headers={"If-Match": etag}, json={
                    "reason": f"crash drill {seq[0]}", "portfolio": {"cash": value},
                    "settings": {"strategy": {"initial_capital": value}}})
                if r.status_code == 200:
                    report.acked[r.json()["revision"]] = value
                elif r.status_code != 409:
                    report.errors += 1
                # Every PUSH re-plans under a new plan id; a pause leaves tickets a window.
                time.sleep(0.15)
            except (httpx.TransportError, KeyError):
                time.sleep(0.01)  # the server is being killed or restarted


def _submitter(server: OciServer, report: CrashReport, stop: threading.Event) -> None:
    from strategy.ticketing import draft_ticket

    with httpx.Client(base_url=server.base_url, headers=server.auth, timeout=5,
                      trust_env=False) as c:
        while not stop.is_set():
            try:
                r = c.get("/api/v1/plans/current")
                snap = c.get("/api/v1/sync/snapshot").json()
                if r.status_code != 200:
                    time.sleep(0.05)
                    continue
                plan = OrderPlan.model_validate_json(r.content)
                if plan.decision.value != "READY":
                    time.sleep(0.05)
                    continue
                ticket = draft_ticket(plan, Settings.model_validate(snap["settings"]),
                                      cash=snap["portfolio"]["cash"], created_at=now_kst())
                body = ticket.model_copy(update={"confirmed": True}).model_dump(mode="json")
                key = str(uuid.uuid4())
                for _ in range(2):  # a client that retries with the same key
                    report.submits += 1
                    s = c.post("/api/v1/tickets", json=body, headers={"Idempotency-Key": key})
                    if s.status_code in (200, 201):
                        tid = s.json()["ticket"]["ticket_id"]
                        if report.tickets.setdefault(key, tid) != tid:
                            report.violations.append(f"key {key} named {tid} and "
                                                     f"{report.tickets[key]}")
                    elif s.status_code >= 500:
                        report.errors += 1
                time.sleep(0.02)
            except (httpx.TransportError, KeyError, ValueError):
                time.sleep(0.01)


def check_tickets(root: Path, report: CrashReport) -> None:
    paths = data_paths(root)
    seen: dict[str, list[str]] = {}
    for box in ("submitted", "processing", "results"):
        for f in paths.ticket_box(box).glob("*.json"):
            try:
                record = TicketRecord.model_validate_json(f.read_text(encoding="utf-8"))
            except Exception as exc:
                report.violations.append(f"{f}: does not validate: {exc}")
                continue
            seen.setdefault(record.ticket.ticket_id, []).append(box)
            if record.state.value == "PROCESSING":
                report.violations.append(f"{record.ticket.ticket_id} stuck in PROCESSING")
    for key, tid in report.tickets.items():
        boxes = seen.get(tid, [])
        if len(boxes) != 1:
            report.violations.append(f"acknowledged ticket {tid} (key {key}) in {boxes}")


def check_invariants(root: Path, report: CrashReport, last_revision: int) -> int:
    """Violations are appended to `report.violations`; returns the current revision."""
    paths = data_paths(root)
    bad = report.violations
    try:
        p = read_model(paths.portfolio, Portfolio)
        s = read_model(paths.settings, Settings)
    except Exception as exc:  # a file that does not validate
        bad.append(f"unreadable state: {exc}")
        return last_revision
    if p is None or s is None:
        bad.append("a state file is missing")
        return last_revision
    if paths.journal.exists():
        bad.append("journal left after start-up")
    if p.cash != s.strategy.initial_capital:
        bad.append(f"torn PUSH: portfolio {p.cash} vs settings {s.strategy.initial_capital}")
    current = max(p.revision, s.revision)
    if current < last_revision:
        bad.append(f"revision went back: {last_revision} -> {current}")
    entries = Store(paths).audit_log.read(limit=0, action=AuditAction.PUSH)
    revs = [e.revision_after for e in entries]
    if sorted(revs) != list(range(2, current + 1)):
        bad.append(f"audit PUSH revisions {revs[-5:]}... != 2..{current}")
    by_rev = {e.revision_after: e for e in entries}
    for rev, value in report.acked.items():
        entry = by_rev.get(rev)
        if entry is None:
            bad.append(f"acknowledged revision {rev} has no audit entry")
            continue
        after = {c.path: c.after for c in entry.changes}
        if after.get("portfolio.cash") != value:
            bad.append(f"revision {rev}: audit says {after.get('portfolio.cash')}, acked {value}")
    return current


def run_crash_drill(root: Path, log_dir: Path, kills: int, *, seed: int = 11,
                    max_gap_s: float = 1.0) -> CrashReport:
    rng = random.Random(seed)
    token = new_token()
    report = CrashReport()
    seq = [0]
    last = 0
    root.mkdir(parents=True, exist_ok=True)
    env = {"KRX_OCI_NOW": "2025-12-30T10:00:00+09:00"}  # plans the data's last session
    server = start_server(root, log_dir / "crash-0.log", token=token,
                          data_spec=f"csv:{REPO_DAILY}", env=env)
    try:
        for n in range(kills):
            stop = threading.Event()
            workers = [threading.Thread(target=_pusher, args=(server, report, stop, seq),
                                        daemon=True),
                       threading.Thread(target=_submitter, args=(server, report, stop),
                                        daemon=True)]
            for w in workers:
                w.start()
            time.sleep(rng.uniform(0.05, max_gap_s))
            server.proc.kill()  # SIGKILL, by PID
            server.proc.wait(timeout=30)
            report.kills += 1
            stop.set()
            for w in workers:
                w.join(timeout=30)
            t0 = time.monotonic()
            server = start_server(root, log_dir / f"crash-{n + 1}.log", token=token,
                                  data_spec=f"csv:{REPO_DAILY}", env=env)
            report.restart_s.append(time.monotonic() - t0)
            last = check_invariants(root, report, last)
            check_tickets(root, report)
    finally:
        if server.proc.poll() is None:
            server.proc.terminate()
            server.proc.wait(timeout=30)
    return report
