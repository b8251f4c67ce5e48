"""SIGKILL the real OCI backend at random moments while a client streams PUSHes of portfolio
and settings together, restart it, and check the invariants after every restart:

- every acknowledged PUSH is present exactly once (its revision has one audit entry with the
  acknowledged value), and the revision never goes back;
- portfolio and settings come from the same PUSH (all or nothing: both carry the same value);
- the PUSH audit entries are exactly revisions 2..current (one per change, none missing);
- every state file validates, and no journal is left after start-up.

Used by tests/reliability/test_crash_kill.py (20 kills in CI) and benchmarks/bench_crash.py.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from oci_server import REPO_DAILY, OciServer, new_token, start_server

from contracts import AuditAction, Portfolio, Settings
from oci_backend.paths import data_paths
from oci_backend.store import Store, read_model


@dataclass
class CrashReport:
    kills: int = 0
    acked: dict[int, float] = field(default_factory=dict)  # revision -> value
    attempts: int = 0
    errors: int = 0
    restart_s: list[float] = field(default_factory=list)
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
            except (httpx.TransportError, KeyError):
                time.sleep(0.01)  # the server is being killed or restarted


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
    entries = Store(paths).audit(limit=0, action=AuditAction.PUSH)
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
                    max_gap_s: float = 0.5) -> CrashReport:
    rng = random.Random(seed)
    token = new_token()
    report = CrashReport()
    seq = [0]
    last = 0
    root.mkdir(parents=True, exist_ok=True)
    server = start_server(root, log_dir / "crash-0.log", token=token,
                          data_spec=f"csv:{REPO_DAILY}")
    try:
        for n in range(kills):
            stop = threading.Event()
            worker = threading.Thread(target=_pusher, args=(server, report, stop, seq),
                                      daemon=True)
            worker.start()
            time.sleep(rng.uniform(0.05, max_gap_s))
            server.proc.kill()  # SIGKILL, by PID
            server.proc.wait(timeout=30)
            report.kills += 1
            stop.set()
            worker.join(timeout=30)
            t0 = time.monotonic()
            server = start_server(root, log_dir / f"crash-{n + 1}.log", token=token,
                                  data_spec=f"csv:{REPO_DAILY}")
            report.restart_s.append(time.monotonic() - t0)
            last = check_invariants(root, report, last)
    finally:
        if server.proc.poll() is None:
            server.proc.terminate()
            server.proc.wait(timeout=30)
    return report
