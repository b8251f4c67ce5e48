"""Ad-hoc market closures and late opens ahead of exchange_calendars (issue 15, "Also"): the
operator's `settings.calendar` overrides, applied by `strategy.calendar.SessionCalendar`
(pure, built from the settings and passed in; the module functions stay XKRX alone)."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from pydantic import ValidationError

from contracts.settings import CalendarOverrides, Settings
from krx_common.defaults import KST
from strategy import calendar

# Wednesday 2025-06-04 and Thursday 2025-11-13 are XKRX sessions in the installed
# exchange_calendars; Tuesday 2025-06-03 (the presidential election) may or may not be.
CLOSED = date(2025, 6, 4)
CSAT = date(2025, 11, 13)


def _cal(**overrides: object) -> calendar.SessionCalendar:
    settings = Settings.model_validate({"calendar": overrides})
    return calendar.for_settings(settings)


def test_calendar_closed_override_is_never_a_session() -> None:
    assert calendar.is_session(CLOSED)
    cal = _cal(closed_dates=[CLOSED.isoformat()])
    assert not cal.is_session(CLOSED) and cal.is_closed_by_override(CLOSED)
    before, after = calendar.previous_session(CLOSED), calendar.next_session(CLOSED)
    assert cal.next_session(before) == after  # the next-session / fill date skips it
    assert cal.previous_session(after) == before
    assert CLOSED not in cal.sessions_in_range(before, after)
    assert len(cal.sessions_in_range(before, after)) == len(
        calendar.sessions_in_range(before, after)) - 1
    # the day's close has passed: the last completed session is still the one before
    evening = datetime.combine(CLOSED, time(18, 0), tzinfo=KST)
    assert calendar.last_completed_session(evening) == CLOSED
    assert cal.last_completed_session(evening) == before
    with pytest.raises(calendar.NotASession, match="closed_dates"):
        cal.session_open_kst(CLOSED)
    with pytest.raises(calendar.NotASession, match="closed_dates"):
        cal.session_close_kst(CLOSED)
    # two closed days in a row are both skipped
    cal2 = _cal(closed_dates=[CLOSED.isoformat(), after.isoformat()])
    assert cal2.next_session(before) == calendar.next_session(after)
    # the module functions and the empty calendar are XKRX alone: no hidden global
    assert calendar.is_session(CLOSED) and calendar.XKRX.is_session(CLOSED)
    assert calendar.for_settings(Settings()) == calendar.XKRX


def test_calendar_late_open_moves_the_open() -> None:
    cal = _cal(late_opens={CSAT.isoformat(): "10:00"})
    assert cal.session_open_kst(CSAT) == datetime.combine(CSAT, time(10, 0), tzinfo=KST)
    assert cal.is_session(CSAT)
    nxt = calendar.next_session(CSAT)
    assert cal.session_open_kst(nxt) == datetime.combine(nxt, time(9, 0), tzinfo=KST)
    assert calendar.XKRX.session_open_kst(CSAT).time() == time(9, 0)


def test_calendar_overrides_contract_refuses_bad_entries() -> None:
    ok = CalendarOverrides.model_validate({"closed_dates": ["2025-06-03"],
                                           "late_opens": {"2025-11-13": "10:00"}})
    assert ok.late_opens == {CSAT: "10:00"}
    for bad, where in (
        ({"closed_dates": ["2025-06-03", "2025-06-03"]}, "appears twice"),
        ({"closed_dates": ["2025-06-03"], "late_opens": {"2025-06-03": "10:00"}},
         "also in closed_dates"),
        ({"late_opens": {"2025-11-13": "08:30"}}, "late_opens.2025-11-13"),
        ({"late_opens": {"2025-11-13": "15:30"}}, "late_opens.2025-11-13"),
        ({"late_opens": {"2025-11-13": "10"}}, "late_opens.2025-11-13"),
        ({"closed_dates": ["2025-13-01"]}, "closed_dates.0"),
    ):
        with pytest.raises(ValidationError, match=where):
            CalendarOverrides.model_validate(bad)


def test_calendar_closed_override_drops_its_bars_for_cycle_and_backtest() -> None:
    """A provider (or the demo data) may still have a bar on a day the operator closed: the
    cycle's and the backtest's bars (`strategy.research.load_bars`) both drop it."""
    import pandas as pd

    from strategy.research import load_bars

    days = pd.DatetimeIndex([pd.Timestamp(d) for d in calendar.sessions_in_range(
        date(2025, 6, 2), date(2025, 6, 5))])
    frame = pd.DataFrame({"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
                          "volume": 1.0}, index=days)
    cal = _cal(closed_dates=[CLOSED.isoformat()])
    kept = calendar.without_closed_days({"069500": frame}, cal)["069500"]
    assert pd.Timestamp(CLOSED) not in kept.index and len(kept) == len(frame) - 1
    assert calendar.without_closed_days({"069500": frame}, calendar.XKRX)["069500"] is frame

    settings = Settings.model_validate({"calendar": {"closed_dates": [CLOSED.isoformat()]}})
    bars = load_bars("demo", settings, date(2025, 6, 30))
    plain = load_bars("demo", Settings(), date(2025, 6, 30))
    for ticker, df in bars.items():
        assert pd.Timestamp(CLOSED) not in df.index
        assert len(plain[ticker]) == len(df) + 1
