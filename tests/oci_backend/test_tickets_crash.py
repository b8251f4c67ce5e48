"""Crash safety: a processor or fills request SIGKILLed at any point applies its fills once.

Each test runs the real code in a subprocess that kills itself (SIGKILL, no cleanup) at an
injected point (`KRX_TEST_CRASH_AT`), then runs `recover` + `process_pending` in this process
and checks that the portfolio changed exactly once (revision +1, cash to the won).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from ticket_fixtures import NOW, OPENS, drafted, install_plan, make_store

from contracts.audit import AuditAction, AuditEntry
from contracts.plan import Side
from contracts.settings import ExecutionMode
from contracts.ticket import Fill, FillsRequest, TicketState
from krx_common.atomic import atomic_write_model
from oci_backend.tickets import CRASH_ENV, process_pending, record_fills, recover, submit_ticket

pytestmark = pytest.mark.slow

C, S, TAX = 0.00015, 0.0005, 0.0015
SELL = 10 * 55_000 * (1 - S)
ONCE_CASH = (10_000_000.0 + SELL * (1 - C - TAX)
             - 198 * 10_080 * (1 + S) * (1 + C) - 50 * 35_015 * (1 + S) * (1 + C))

_PROCESSOR = """
import sys
from datetime import datetime
from krx_common.defaults import KST
from oci_backend.paths import data_paths
from oci_backend.store import Store
from oci_backend.tickets import process_pending
OPENS = {"005930": 55_000.0, "305720": 10_080.0, "069500": 35_015.0}
process_pending(Store(data_paths(sys.argv[1])), now=datetime(2025, 6, 16, 9, 0, tzinfo=KST),
                opens=lambda tickers, day: {t: OPENS[t] for t in tickers})
"""

# Dies between the portfolio file write and its audit line (inside Store.update_portfolio).
_PROCESSOR_DIES_BEFORE_AUDIT = """
import os, signal
from oci_backend.audit_log import AuditLog
_orig = AuditLog.append_line
def _append(self, line):
    if '"FILLS_RECORDED"' in line:
        os.kill(os.getpid(), signal.SIGKILL)
    return _orig(self, line)
AuditLog.append_line = _append
""" + _PROCESSOR

_FILLS = """
import sys
from oci_backend.paths import data_paths
from oci_backend.store import Store
from oci_backend.tickets import record_fills
from contracts.ticket import FillsRequest
record_fills(Store(data_paths(sys.argv[1])), sys.argv[2],
             FillsRequest.model_validate_json(sys.argv[3]), actor="operator")
"""


def _run(code: str, *args: str, crash_at: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if crash_at:
        env[CRASH_ENV] = crash_at
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stderr}")
    return proc.returncode


def _boxes(store):
    return {b: sorted(p.stem for p in store.paths.ticket_box(b).glob("*.json"))
            for b in ("submitted", "processing", "results")}


@pytest.fixture
def submitted(tmp_path):
    store = make_store(tmp_path / "data")
    install_plan(store)
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    return store, t


@pytest.mark.parametrize("point", [
    "after_claim", "after_intent", "after_portfolio_write", "after_result_write",
    "before_audit",
])
def test_dry_run_processor_killed_then_recovered_applies_once(submitted, point):
    store, t = submitted
    rev0 = store.revision()
    code = _PROCESSOR_DIES_BEFORE_AUDIT if point == "before_audit" else _PROCESSOR
    rc = _run(code, str(store.paths.root), crash_at=None if point == "before_audit" else point)
    assert rc == -signal.SIGKILL, "the processor was meant to die"
    assert _boxes(store)["processing"] == [t.ticket_id]
    lines = recover(store)
    assert len(lines) == 1 and lines[0].startswith(t.ticket_id)
    process_pending(store, now=NOW, opens=OPENS)
    p = store.portfolio()
    assert p.revision == rev0 + 1, lines
    assert p.cash == pytest.approx(ONCE_CASH, abs=1e-6)
    assert p.holding("305720").qty == 198 and p.holding("005930") is None
    boxes = _boxes(store)
    assert boxes == {"submitted": [], "processing": [], "results": [t.ticket_id]}
    rec = json.loads(store.paths.ticket("results", t.ticket_id).read_text(encoding="utf-8"))
    assert rec["state"] == "DRY_RUN_FILLED" and rec["portfolio_revision_after"] == rev0 + 1
    assert len(rec["fills"]) == 3
    # recover again and process again: still once
    assert recover(store) == [] and process_pending(store, now=NOW, opens=OPENS) == []
    assert store.portfolio() == p
    # the audit says so exactly once, whatever the crash point (after_result_write too)
    assert _transitions_to(store, t.ticket_id, "DRY_RUN_FILLED") == 1


def _transitions_to(store, tid, state):
    return sum(1 for e in store.audit_log.read(limit=0, action=AuditAction.TICKET_TRANSITION)
               if e.target == tid and e.details.get("to") == state)


def test_crash_before_the_portfolio_write_then_a_push_is_never_applied(submitted):
    store, t = submitted
    assert _run(_PROCESSOR, str(store.paths.root), crash_at="after_intent") == -signal.SIGKILL
    # someone pushes (revision N is now theirs) before the processor restarts
    p = store.portfolio()
    store.push(store.revision(), portfolio=p.model_copy(update={"cash": 12_000_000.0}),
               settings=None, reason="deposit", actor="operator")
    before = store.portfolio()
    [line] = recover(store)
    assert "returned to submitted" in line
    [rec] = process_pending(store, now=NOW, opens=OPENS)
    assert rec.state is TicketState.REJECTED  # the plan's portfolio changed: stale
    assert store.portfolio() == before


def test_crash_after_the_portfolio_write_then_a_push_completes_the_ticket(submitted):
    store, t = submitted
    rev0 = store.revision()
    assert _run(_PROCESSOR, str(store.paths.root),
                crash_at="after_portfolio_write") == -signal.SIGKILL
    p = store.portfolio()
    assert p.revision == rev0 + 1
    store.push(store.revision(), portfolio=p.model_copy(update={"cash": p.cash + 1_000.0}),
               settings=None, reason="interest", actor="operator")
    [line] = recover(store)
    assert "completed" in line
    assert store.portfolio().cash == pytest.approx(ONCE_CASH + 1_000.0, abs=1e-6)
    assert store.portfolio().revision == rev0 + 2


@pytest.mark.parametrize("point,applied", [
    ("fills_after_intent", False), ("fills_after_portfolio_write", True),
    ("after_result_write", True),
])
def test_manual_fills_request_killed_applies_once(tmp_path, point, applied):
    store = make_store(tmp_path / "data", mode=ExecutionMode.MANUAL)
    install_plan(store)
    t = drafted(store)
    submit_ticket(store, t, "k", actor="operator")
    process_pending(store, now=NOW, opens=OPENS)
    rev0 = store.revision()
    req = FillsRequest(fills=[Fill(ticker="005930", side=Side.SELL, qty=10, price=55_000,
                                   filled_at=NOW)])
    once = 10_000_000.0 + 550_000 * (1 - C - TAX)
    rc = _run(_FILLS, str(store.paths.root), t.ticket_id, req.model_dump_json(), crash_at=point)
    assert rc == -signal.SIGKILL
    recover(store)
    rec = json.loads(store.paths.ticket("results", t.ticket_id).read_text(encoding="utf-8"))
    assert _boxes(store)["processing"] == []
    if applied:
        assert rec["state"] == "PARTIALLY_FILLED" and len(rec["fills"]) == 1
        assert store.portfolio().revision == rev0 + 1
        # the operator retries the same request: it would over-fill, so it is refused
        with pytest.raises(Exception, match="over-fill"):
            record_fills(store, t.ticket_id, req, actor="operator")
    else:
        assert rec["state"] == "AWAITING_MANUAL_EXECUTION" and rec["fills"] == []
        assert store.portfolio().revision == rev0
        record_fills(store, t.ticket_id, req, actor="operator")  # recorded again: once
    p = store.portfolio()
    assert p.revision == rev0 + 1
    assert p.cash == pytest.approx(once, abs=1e-6) and p.holding("005930") is None
    assert _transitions_to(store, t.ticket_id, "PARTIALLY_FILLED") == 1


def _submit_in_child(args: tuple[str, str, int]) -> bool:
    root, ticket_json, start = args
    from contracts.ticket import Ticket
    from oci_backend.paths import data_paths
    from oci_backend.store import Store

    while time.time() < start:  # line the processes up so they really race
        time.sleep(0.001)
    _, created = submit_ticket(Store(data_paths(root)), Ticket.model_validate_json(ticket_json),
                               "one-key", actor="operator")
    return created


def test_submit_50_times_from_8_processes_creates_one_ticket(tmp_path):
    import multiprocessing

    store = make_store(tmp_path / "data")
    install_plan(store)
    t = drafted(store)
    start = time.time() + 1.0
    with multiprocessing.get_context("fork").Pool(8) as pool:
        created = pool.map(_submit_in_child,
                           [(str(store.paths.root), t.model_dump_json(), start)] * 50)
    assert sum(created) == 1 and len(created) == 50
    assert _boxes(store)["submitted"] == [t.ticket_id]
    assert len(store.audit_log.read(action=AuditAction.TICKET_TRANSITION)) == 1
    assert len(list(store.paths.idempotency_dir.glob("*.json"))) == 1


_WRITER = """
import sys
from pathlib import Path
from contracts.audit import AuditEntry
from krx_common.atomic import atomic_write_model
path = Path(sys.argv[1])
big = list(range(150_000))
versions = [AuditEntry(actor="w", action="PUSH", target=v, details={"v": v, "data": big})
            for v in ("A", "B")]
atomic_write_model(path, versions[0])
print("ready", flush=True)
i = 0
while True:
    atomic_write_model(path, versions[i % 2])
    i += 1
"""


def test_atomic_write_killed_mid_loop_leaves_old_or_new_never_torn(tmp_path):
    path = tmp_path / "big.json"
    atomic_write_model(path, AuditEntry(actor="w", action=AuditAction.PUSH, target="0",
                                        details={"v": "0", "data": []}))
    rng = random.Random(7)
    seen = set()
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_WRITER), str(path)],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.01, 0.4))
        finally:
            os.kill(proc.pid, signal.SIGKILL)  # this test's own child, by PID
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        entry = AuditEntry.model_validate_json(path.read_text(encoding="utf-8"))
        assert entry.details["v"] in ("A", "B") and len(entry.details["data"]) == 150_000
        seen.add(entry.details["v"])
    assert path.stat().st_size > 1_000_000
    assert seen  # parsed after every kill; the version depends on timing
