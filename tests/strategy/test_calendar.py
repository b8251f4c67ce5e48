from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from krx_common.defaults import KST
from strategy.calendar import (
    CalendarRangeError,
    NotASession,
    is_session,
    last_completed_session,
    next_session,
    previous_session,
    session_close_kst,
    sessions_in_range,
)

REPO = Path(__file__).resolve().parents[2]


def test_is_session_year_end_2025() -> None:
    assert is_session(date(2025, 12, 29))  # Monday
    assert is_session(date(2025, 12, 30))
    assert not is_session(date(2025, 12, 31))  # year-end market holiday
    assert not is_session(date(2026, 1, 1))
    assert is_session(date(2026, 1, 2))
    assert not is_session(date(2025, 12, 25))
    assert not is_session(date(2025, 12, 27))  # Saturday


def test_next_and_previous_session_are_strict() -> None:
    assert next_session(date(2025, 12, 29)) == date(2025, 12, 30)
    assert next_session(date(2025, 12, 30)) == date(2026, 1, 2)
    assert next_session(date(2025, 12, 31)) == date(2026, 1, 2)
    assert previous_session(date(2026, 1, 2)) == date(2025, 12, 30)
    assert previous_session(date(2025, 12, 29)) == date(2025, 12, 26)
    assert previous_session(date(2025, 12, 28)) == date(2025, 12, 26)


def test_sessions_in_range_inclusive() -> None:
    assert sessions_in_range(date(2025, 12, 24), date(2026, 1, 2)) == [
        date(2025, 12, 24),
        date(2025, 12, 26),
        date(2025, 12, 29),
        date(2025, 12, 30),
        date(2026, 1, 2),
    ]
    assert sessions_in_range(date(2025, 12, 31), date(2026, 1, 1)) == []
    assert sessions_in_range(date(2026, 1, 2), date(2025, 12, 1)) == []


def test_session_close_kst_is_aware_1530() -> None:
    close = session_close_kst(date(2025, 12, 29))
    assert close == datetime(2025, 12, 29, 15, 30, tzinfo=KST)
    assert close.utcoffset() == timedelta(hours=9)
    with pytest.raises(NotASession, match="2025-12-31"):
        session_close_kst(date(2025, 12, 31))


def test_session_close_kst_late_close_on_exam_day() -> None:
    # Exam days close an hour late (exchange_calendars only knows 2019 and 2020 ones).
    close = session_close_kst(date(2020, 12, 3))
    assert close.timetz() == time(16, 30, tzinfo=KST)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 1, 2, 9, 5, tzinfo=KST), date(2025, 12, 30)),
        (datetime(2025, 12, 29, 16, 0, tzinfo=KST), date(2025, 12, 29)),
        (datetime(2025, 12, 29, 0, 5, tzinfo=UTC), date(2025, 12, 26)),  # 09:05 KST
        (datetime(2025, 12, 29, 9, 5, tzinfo=KST), date(2025, 12, 26)),
        (datetime(2025, 12, 29, 15, 35, tzinfo=KST), date(2025, 12, 26)),  # before settle
        (datetime(2025, 12, 29, 15, 40, tzinfo=KST), date(2025, 12, 29)),
        (datetime(2025, 12, 31, 18, 0, tzinfo=KST), date(2025, 12, 30)),  # holiday
        (datetime(2025, 12, 25, 12, 0, tzinfo=KST), date(2025, 12, 24)),  # Christmas
        (datetime(2026, 1, 3, 12, 0, tzinfo=KST), date(2026, 1, 2)),  # Saturday → Friday
        (datetime(2025, 12, 29, 7, 0, tzinfo=UTC), date(2025, 12, 29)),  # 16:00 KST
    ],
)
def test_last_completed_session(now: datetime, expected: date) -> None:
    assert last_completed_session(now) == expected


def test_last_completed_session_honours_the_session_close_time() -> None:
    exam_day = date(2020, 12, 3)
    assert last_completed_session(datetime(2020, 12, 3, 16, 0, tzinfo=KST)) != exam_day
    assert last_completed_session(datetime(2020, 12, 3, 16, 45, tzinfo=KST)) == exam_day


def test_last_completed_session_rejects_naive_datetime() -> None:
    with pytest.raises(ValueError, match="naive"):
        last_completed_session(datetime(2026, 1, 2, 9, 5))  # noqa: DTZ001 - the point of the test


def test_calendar_rejects_datetime_and_out_of_range_dates() -> None:
    with pytest.raises(TypeError):
        is_session(datetime(2025, 12, 29, tzinfo=KST))
    with pytest.raises(CalendarRangeError):
        is_session(date(1990, 1, 2))


def test_calendar_import_is_lazy() -> None:
    # `krx daily` must start fast: importing the module must not build the XKRX calendar.
    code = (
        "import sys, time; t = time.perf_counter(); import strategy.calendar; "
        "assert 'exchange_calendars' not in sys.modules; "
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert float(out.stdout) < 2.0


def test_calendar_cache_roundtrip_and_corrupt_file_ignored(tmp_path, monkeypatch):
    from strategy import calendar as cal_mod

    monkeypatch.setenv("KRX_CALENDAR_CACHE", str(tmp_path))
    path = cal_mod.calendar_cache_path()
    assert path.parent == tmp_path and "xkrx-" in path.name
    built = cal_mod._xkrx()
    cal_mod._write_cache(path, built)
    again = cal_mod._read_cache(path)
    assert again is not None
    assert (again.sessions == built.sessions).all()
    assert (again.closes_utc == built.closes_utc).all()
    path.write_bytes(b"not a numpy archive")
    assert cal_mod._read_cache(path) is None


def test_is_session_agrees_with_the_session_table_on_every_day_of_the_range() -> None:
    # is_session asks a set of ordinals; the table of sessions is what it must agree with.
    from strategy import calendar as cal_mod

    sessions = set(cal_mod._xkrx().sessions.astype("datetime64[D]").tolist())
    day, n = cal_mod.CALENDAR_START, 0
    while day <= cal_mod.CALENDAR_END:
        assert is_session(day) == (day in sessions), day
        n += is_session(day)
        day += timedelta(days=1)
    assert n == len(sessions) > 8000
