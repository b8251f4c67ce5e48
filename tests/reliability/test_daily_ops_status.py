"""A skipped day is visible (issue 11, defect 9): daily_ops.sh exit 2 for a busy lock or a
blocked/stale cycle leaves `state/daily_ops.json`, an audit line and an incident, and the
systemd unit counts it as a failure; a holiday is exit 0."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from contracts.common import now_kst
from contracts.summary import OpsSummary, OverallStatus, Stage
from oci_backend.daily_ops import classify, last_status
from oci_backend.paths import data_paths
from oci_backend.store import Store

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "daily_ops.sh"


def _venv(tmp_path: Path, daily_rc: int) -> Path:
    """A venv with the real python (the status recorder) and a `krx` that exits `daily_rc`."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    python.chmod(0o755)
    krx = venv / "bin" / "krx"
    krx.write_text(f'#!/usr/bin/env bash\nif [ "$1" = daily ]; then exit {daily_rc}; fi\nexit 0\n',
                   encoding="utf-8")
    krx.chmod(0o755)
    return venv


def _run(data: Path, venv: Path, urls: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRX_")}
    env |= {"KRX_HOME": str(REPO), "KRX_VENV": str(venv), "KRX_DATA_DIR": str(data),
            "KRX_OCI_NOTIFY_URLS": urls}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=120)


def _summary(store: Store, *, holiday: bool) -> None:
    now = now_kst()
    store.write_summary(OpsSummary(
        run_at=now, asof=None if holiday else (now - timedelta(days=1)).date(),
        is_session_today=not holiday, holiday=holiday, execution_mode="DRY_RUN",
        stage=Stage.NO_ACTION_TODAY if holiday else Stage.BLOCKED,
        status=OverallStatus.WARN if holiday else OverallStatus.BLOCKED,
        portfolio_revision=1, settings_revision=1,
        message="holiday: no plan" if holiday else "stale: expected bars for yesterday"))


@pytest.mark.slow
def test_daily_ops_busy_run_is_recorded_audited_and_notified(tmp_path, receiver):
    data = tmp_path / "data"
    Store(data_paths(data)).initialize()
    lock = data / "state" / ".daily_ops.lock"
    with open(lock, "a", encoding="utf-8") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc = _run(data, _venv(tmp_path, 0), receiver.url)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    store = Store(data_paths(data))
    status = last_status(store)
    assert status is not None and (status.outcome, status.exit_code) == ("BUSY", 2)
    assert status.log and status.log.endswith(".log")
    assert [e.target for e in store.audit_log.read()][-1] == "daily_ops"
    assert receiver.titles() == ["KRX Alertor: daily ops BUSY"]


@pytest.mark.slow
def test_daily_ops_blocked_day_exits_2_with_status_and_incident(tmp_path, receiver):
    data = tmp_path / "data"
    store = Store(data_paths(data))
    store.initialize()
    _summary(store, holiday=False)
    proc = _run(data, _venv(tmp_path, 2), receiver.url)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "done: exit 2 (blocked-or-warn)" in proc.stdout
    status = last_status(store)
    assert status is not None and status.outcome == "BLOCKED"
    assert "stale: expected bars" in status.message
    assert receiver.titles() == ["KRX Alertor: daily ops BLOCKED"]


def test_daily_ops_holiday_is_exit_0_and_no_incident(tmp_path, receiver):
    data = tmp_path / "data"
    store = Store(data_paths(data))
    store.initialize()
    _summary(store, holiday=True)
    proc = _run(data, _venv(tmp_path, 2), receiver.url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(store.paths.daily_ops.read_text(encoding="utf-8"))["outcome"] == "HOLIDAY"
    assert receiver.titles() == []


@pytest.mark.parametrize(("daily_rc", "tickets_rc", "outcome", "code"), [
    (0, 0, "OK", 0), (1, 0, "FAILED", 1), (0, 1, "FAILED", 1), (2, 1, "FAILED", 1),
    (2, 0, "BLOCKED", 2),
])
def test_daily_ops_classify_exit_codes(tmp_path, daily_rc, tickets_rc, outcome, code):
    store = Store(data_paths(tmp_path))
    status = classify(store, daily_rc=daily_rc, tickets_rc=tickets_rc, busy=False)
    assert (status.outcome, status.exit_code) == (outcome, code)


@pytest.mark.integration
def test_health_shows_the_last_daily_ops_run(tmp_path, start_oci):
    data = tmp_path / "data"
    store = Store(data_paths(data))
    store.initialize()
    _summary(store, holiday=False)
    assert _run(data, _venv(tmp_path, 2)).returncode == 2
    server = start_oci(data_dir=data)
    with server.client() as c:
        health = c.get("/health").json()
    assert health["status"] == "ok"
    assert health["daily_ops"]["outcome"] == "BLOCKED" and health["daily_ops"]["exit_code"] == 2
