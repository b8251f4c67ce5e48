"""Notifications through apprise to a local HTTP receiver (`json://127.0.0.1:PORT/`):
daily summary and incidents, at most once per kind per KST day."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from oci_server import ServerFactory, free_port

from contracts.settings import ExecutionMode
from contracts.summary import OpsSummary, OverallStatus, PlanSummary, Stage
from contracts.sync import EmergencyStop
from krx_common.atomic import read_model
from krx_common.defaults import KST
from oci_backend.notify import NotificationKind, Notifier, NotifyState
from oci_backend.paths import data_paths
from oci_backend.store import Store


def _summary(day: int, status: OverallStatus, stage: Stage) -> OpsSummary:
    plan = PlanSummary(plan_id=f"202512{day:02d}-abc", decision="BLOCKED", n_orders=0, n_buys=0,
                       n_sells=0, reasons=["DATA_STALE"])
    return OpsSummary(run_at=datetime(2025, 12, day, 9, 5, tzinfo=KST), asof=None,
                      is_session_today=True, execution_mode=ExecutionMode.DRY_RUN, stage=stage,
                      status=status, plan=plan, message=f"cycle of day {day}")


def test_notifier_sends_each_kind_once_per_day(tmp_path: Path, receiver) -> None:
    store = Store(data_paths(tmp_path))
    store.initialize()
    notifier = Notifier(store, [receiver.url])

    sent = notifier.on_cycle(_summary(29, OverallStatus.BLOCKED, Stage.BLOCKED))
    assert sent == [NotificationKind.PLAN_BLOCKED, NotificationKind.DAILY_SUMMARY]
    assert notifier.on_cycle(_summary(29, OverallStatus.BLOCKED, Stage.BLOCKED)) == []
    assert notifier.on_cycle(_summary(29, OverallStatus.FAILED, Stage.FAILED)) == [
        NotificationKind.CYCLE_FAILED]
    assert len(receiver.messages) == 3
    assert receiver.messages[0]["type"] == "failure" and "BLOCKED" in receiver.titles()[0]
    assert receiver.messages[1]["type"] == "info" and "DATA_STALE" in str(receiver.messages[0])

    # The next KST day sends again.
    assert notifier.on_cycle(_summary(30, OverallStatus.BLOCKED, Stage.BLOCKED)) == [
        NotificationKind.PLAN_BLOCKED, NotificationKind.DAILY_SUMMARY]
    state = read_model(store.paths.notify_state, NotifyState)
    assert state is not None and str(state.sent[NotificationKind.DAILY_SUMMARY]) == "2025-12-30"

    stop = EmergencyStop(on=True, reason="drill", by="qa")
    assert notifier.on_emergency_stop(stop) is True
    assert notifier.on_emergency_stop(stop) is False
    assert notifier.on_emergency_stop(stop.model_copy(update={"on": False})) is False
    assert len(receiver.messages) == 6 and "EMERGENCY STOP" in receiver.titles()[-1]


def test_notifier_is_off_without_urls_and_retries_a_failed_send(tmp_path: Path,
                                                                receiver) -> None:
    store = Store(data_paths(tmp_path))
    store.initialize()
    assert Notifier(store).on_cycle(_summary(29, OverallStatus.OK, Stage.PLAN_READY)) == []
    assert not store.paths.notify_state.exists()

    dead = Notifier(store, [f"json://127.0.0.1:{free_port()}/"])  # nobody listens there
    assert dead.on_cycle(_summary(29, OverallStatus.OK, Stage.PLAN_READY)) == []
    assert not store.paths.notify_state.exists()  # not marked: the next trigger retries

    # URLs from the settings (what the operator PUSHes) work the same way.
    settings = store.settings()
    prefs = settings.notifications.model_copy(update={"apprise_urls": [receiver.url],
                                                      "incidents": False})
    store.push(store.revision(), portfolio=None, reason="notify",
               settings=settings.model_copy(update={"notifications": prefs}), actor="t")
    sent = Notifier(store).on_cycle(_summary(29, OverallStatus.BLOCKED, Stage.BLOCKED))
    assert sent == [NotificationKind.DAILY_SUMMARY]  # incidents switched off in the settings


@pytest.mark.integration
def test_api_cycles_and_stop_notify_once_per_kind_per_day(
    oci_server_factory: ServerFactory, receiver,
) -> None:
    server = oci_server_factory(env={"KRX_OCI_NOTIFY_URLS": receiver.url,
                                     "KRX_OCI_NOW": "2026-01-06T10:00:00+09:00"})
    with server.client() as c:
        for _ in range(2):
            r = c.post("/api/v1/ops/cycle")  # stale data → BLOCKED
            assert r.status_code == 200 and r.json()["summary"]["status"] == "BLOCKED"
        assert len(receiver.messages) == 2, receiver.titles()
        assert "plan BLOCKED" in receiver.titles()[0]
        assert receiver.titles()[1].startswith("KRX Alertor 2026-01-05: BLOCKED")
        for on in (True, False, True):
            assert c.post("/api/v1/emergency-stop",
                          json={"on": on, "reason": "drill"}).status_code == 200
    assert len(receiver.messages) == 3 and "EMERGENCY STOP" in receiver.titles()[2]
    assert server.token not in json.dumps(receiver.messages)
