"""A missed morning is loud (issue 15, "Also"): no daily cycle completed by 09:30 KST on a
session day raises MISSED_MORNING (an INCIDENT audit line, a notification, `/health`); the
backend speaks systemd's notify protocol (READY, WATCHDOG); the ticket processor keeps its pace
on the monotonic clock when the wall clock steps back."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from oci_server import ServerFactory

from contracts.audit import AuditAction
from contracts.settings import ExecutionMode, Settings
from contracts.summary import OpsSummary, OverallStatus, Stage
from krx_common.defaults import KST
from oci_backend.morning import MISSED_MORNING, missed_morning, morning_watch_job
from oci_backend.notify import INCIDENTS, NotificationKind, Notifier
from oci_backend.paths import data_paths
from oci_backend.replay_root import create_replay_root
from oci_backend.store import Store

# Tuesday 2025-12-30 is an XKRX session; Thursday 2025-12-25 (Christmas) and Saturday
# 2025-12-27 are not.
SESSION_1000 = datetime(2025, 12, 30, 10, 0, tzinfo=KST)


def _summary(run_at: datetime) -> OpsSummary:
    return OpsSummary(run_at=run_at, asof=None, is_session_today=True,
                      execution_mode=ExecutionMode.DRY_RUN, stage=Stage.BLOCKED,
                      status=OverallStatus.BLOCKED, message="a cycle")


def test_missed_morning_only_after_the_deadline_on_a_session_without_todays_cycle() -> None:
    yesterday = _summary(datetime(2025, 12, 29, 9, 5, tzinfo=KST))
    message = missed_morning(yesterday, SESSION_1000)
    assert message is not None and message.startswith(MISSED_MORNING)
    assert "2025-12-30" in message and "2025-12-29 09:05" in message
    assert missed_morning(None, SESSION_1000) is not None  # never ran at all
    # today's cycle ran (any status): nothing missed
    assert missed_morning(_summary(datetime(2025, 12, 30, 9, 6, tzinfo=KST)),
                          SESSION_1000) is None
    # before 09:30, or on a day without a session: not (yet) missed
    assert missed_morning(yesterday, SESSION_1000.replace(hour=9, minute=29)) is None
    assert missed_morning(yesterday, SESSION_1000.replace(minute=30)) is not None
    for closed in (datetime(2025, 12, 25, 11, 0, tzinfo=KST),
                   datetime(2025, 12, 27, 11, 0, tzinfo=KST)):
        assert missed_morning(yesterday, closed) is None
    # a UTC clock is read in KST: 01:00 UTC is 10:00 KST
    assert missed_morning(yesterday, SESSION_1000.astimezone(UTC)) is not None


def test_morning_watch_job_audits_once_and_notifies_once(tmp_path: Path, receiver) -> None:
    store = Store(data_paths(tmp_path))
    store.initialize()
    notifier = Notifier(store, [receiver.url])
    for _ in range(2):
        message = morning_watch_job(store, notifier, clock=lambda: SESSION_1000)
        assert message is not None and message.startswith(MISSED_MORNING)
    incidents = store.audit_log.read(limit=0, action=AuditAction.INCIDENT)
    assert len(incidents) == 1
    assert incidents[0].details == {"incident": MISSED_MORNING, "session": "2025-12-30"}
    assert incidents[0].actor == "scheduler" and incidents[0].target == "daily-cycle"
    assert receiver.titles() == ["KRX Alertor: no daily cycle by 09:30 KST"]
    # the next session day (2025-12-31 is KRX's year-end closure) is a new incident
    assert morning_watch_job(store, notifier,
                             clock=lambda: SESSION_1000 + timedelta(days=1)) is None
    morning_watch_job(store, notifier, clock=lambda: SESSION_1000 + timedelta(days=7))
    assert len(store.audit_log.read(limit=0, action=AuditAction.INCIDENT)) == 2
    assert receiver.titles() == ["KRX Alertor: no daily cycle by 09:30 KST"] * 2
    assert NotificationKind.MISSED_MORNING in INCIDENTS


def test_morning_watch_never_fires_on_a_replay_root(tmp_path: Path, receiver) -> None:
    store = create_replay_root(data_paths(tmp_path), label="t", data_spec="demo",
                               settings=Settings())
    assert morning_watch_job(store, Notifier(store, [receiver.url]),
                             clock=lambda: SESSION_1000) is None
    assert store.audit_log.read(limit=0, action=AuditAction.INCIDENT) == []
    assert receiver.messages == []


@pytest.mark.integration
def test_health_and_audit_say_the_morning_was_missed(oci_server_factory: ServerFactory) -> None:
    """A real server started at 10:00 KST on a session day with no cycle: the start-up watch
    writes the incident, `/health` names it, and a cycle clears it."""
    server = oci_server_factory(env={"KRX_OCI_NOW": SESSION_1000.isoformat(),
                                     "KRX_OCI_MORNING_WATCH": "true"})
    with server.client() as c:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lines = c.get("/api/v1/audit", params={"action": "INCIDENT"}).json()
            if lines:
                break
            time.sleep(0.2)
        assert [e["details"]["incident"] for e in lines] == [MISSED_MORNING]
        health = c.get("/health").json()
        assert health["status"] == "ok"
        assert health["missed_morning"].startswith(MISSED_MORNING)
        assert c.post("/api/v1/ops/cycle").status_code == 200
        assert c.get("/health").json()["missed_morning"] is None


@pytest.mark.integration
def test_health_has_no_missed_morning_when_the_watch_is_off(
    oci_server_factory: ServerFactory,
) -> None:
    server = oci_server_factory(env={"KRX_OCI_NOW": SESSION_1000.isoformat()})
    with server.client() as c:
        assert c.get("/health").json()["missed_morning"] is None
        assert c.get("/api/v1/audit", params={"action": "INCIDENT"}).json() == []


@pytest.mark.integration
def test_backend_speaks_sd_notify_ready_watchdog_and_stopping(
    oci_server_factory: ServerFactory, tmp_path: Path,
) -> None:
    """`Type=notify` + `WatchdogSec=`: READY=1 after start-up, WATCHDOG=1 every third of
    WATCHDOG_USEC while the loop answers, STOPPING=1 on SIGTERM (a real datagram socket)."""
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(10)
    try:
        server = oci_server_factory(env={"NOTIFY_SOCKET": str(sock_path),
                                         "WATCHDOG_USEC": "300000"})
        got: list[str] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and got.count("WATCHDOG=1") < 3:
            got.append(sock.recv(4096).decode("utf-8"))
        assert got[0].startswith("READY=1")
        assert got.count("WATCHDOG=1") >= 3
        server.proc.terminate()
        server.proc.wait(timeout=20)
        rest = []
        sock.settimeout(1)
        try:
            while True:
                rest.append(sock.recv(4096).decode("utf-8"))
        except TimeoutError:
            pass
        assert "STOPPING=1" in rest
    finally:
        sock.close()


def test_ticket_processor_keeps_its_pace_when_the_wall_clock_steps_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wall clock stepped back one hour (NTP, a resumed VM) must not stall the processor:
    it is scheduled on the monotonic clock. The step is simulated for the wall-clock readers
    of the scheduling code (APScheduler's, which the processor used to run on)."""
    import apscheduler.schedulers.base as aps_base
    import apscheduler.triggers.interval as aps_interval
    from fastapi.testclient import TestClient

    from oci_backend import scheduler
    from oci_backend.app import create_app
    from oci_backend.config import OciConfig

    step = {"back": timedelta(0)}

    class SteppedClock(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def,override]
            return datetime.now(tz) - step["back"]

    monkeypatch.setattr(aps_base, "datetime", SteppedClock)
    monkeypatch.setattr(aps_interval, "datetime", SteppedClock)
    passes: list[float] = []
    monkeypatch.setattr(scheduler, "process_tickets_job",
                        lambda *_a, **_k: passes.append(time.monotonic()))
    cfg = OciConfig(token="unit-test-token-0123456789abcdef", data_dir=tmp_path,
                    ticket_interval_s=0.05, morning_watch=False)
    with TestClient(create_app(cfg)):
        deadline = time.monotonic() + 10
        while len(passes) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(passes) >= 3
        step["back"] = timedelta(hours=1)
        before = len(passes)
        time.sleep(1.0)
        assert len(passes) - before >= 5, "the processor stalled after the clock stepped back"


