"""Beyond the XKRX calendar's range the cycle fails closed with a message that says what to do
(issue 11, defect 9: it used to answer 500, and even the failure summary failed)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from contracts.summary import OverallStatus, Stage
from krx_common.defaults import KST
from oci_backend.paths import data_paths
from oci_backend.pipeline import EXIT_FAILURE, run_cycle
from oci_backend.store import Store
from strategy import calendar


def test_calendar_beyond_its_end_raises_a_range_error_that_says_what_to_do():
    with pytest.raises(calendar.CalendarRangeError, match="extend CALENDAR_END"):
        calendar.is_session(date(2036, 1, 2))
    assert calendar.is_session(calendar.CALENDAR_END) in (True, False)  # the last day works


def test_cycle_beyond_the_calendar_fails_closed_with_a_summary(tmp_path, krx_data_dir):
    store = Store(data_paths(tmp_path))
    store.initialize()
    now = datetime(2036, 3, 4, 9, 5, tzinfo=KST)
    result = run_cycle(store, data_spec=f"csv:{krx_data_dir}", now=now)
    assert result.exit_code == EXIT_FAILURE and result.plan is None
    summary = store.summary()
    assert summary is not None and summary.run_at == now
    assert (summary.status, summary.stage) == (OverallStatus.FAILED, Stage.FAILED)
    assert "outside the XKRX calendar range" in summary.message
    assert summary.is_session_today is False
