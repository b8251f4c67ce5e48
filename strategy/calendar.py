"""XKRX trading calendar: session dates and KST close times.

Pure functions — the clock is always an argument. Session dates come from the
`exchange_calendars` XKRX calendar, never from `weekday()` (PITFALLS #7). The module
functions are XKRX alone; `SessionCalendar` (built from the settings by `for_settings`, and
passed in, never a global) adds the operator's overrides: ad-hoc closures and late opens.
Building the calendar costs seconds (exchange_calendars computes the lunar holidays),
so the session table is built once per machine and exchange_calendars version, kept in
a small cache file, and loaded once per process on first use.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from krx_common.defaults import KST

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd

    from contracts.settings import CalendarOverrides, Settings

# Fixed bounds keep the calendar independent of the wall clock (exchange_calendars
# would otherwise default its end to "today + 1 year").
CALENDAR_START = date(2000, 1, 1)
CALENDAR_END = date(2035, 12, 31)

# Bars of a session are treated as final a little after the close (closing auction
# prints and vendor publication lag).
DEFAULT_SETTLE = timedelta(minutes=10)

_DAY = np.timedelta64(1, "D")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class CalendarRangeError(ValueError):
    """A date lies outside the range the XKRX calendar was built for."""


class NotASession(ValueError):
    """A date that must be an XKRX session is not one (weekend or holiday)."""


@dataclass(frozen=True)
class _Xkrx:
    sessions: np.ndarray  # datetime64[D], sorted
    closes_utc: np.ndarray  # datetime64[ns], UTC, aligned with sessions
    # The sessions as date ordinals: `is_session` is a set lookup (asked on every /health).
    ordinals: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        days = self.sessions.astype("datetime64[D]").astype(np.int64)
        object.__setattr__(self, "ordinals", frozenset((days + _EPOCH_ORDINAL).tolist()))


def calendar_cache_path() -> Path:
    """Where the built XKRX session table is kept between processes.

    `KRX_CALENDAR_CACHE` names the directory (default `~/.cache/krx-alertor`); the file name
    carries the exchange_calendars version and the range, so an upgrade rebuilds it.
    """
    base = os.environ.get("KRX_CALENDAR_CACHE")
    directory = Path(base) if base else Path.home() / ".cache" / "krx-alertor"
    try:
        version = importlib.metadata.version("exchange-calendars")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return directory / f"xkrx-{version}-{CALENDAR_START:%Y%m%d}-{CALENDAR_END:%Y%m%d}.npz"


def _build_xkrx() -> _Xkrx:
    # Imported here: exchange_calendars pulls in heavy modules and `krx daily` must start fast.
    xcals = importlib.import_module("exchange_calendars")
    with warnings.catch_warnings():
        # exchange_calendars 4.x reads tz-aware Series.values, deprecated in pandas 3.1;
        # nothing to fix on our side until it is updated.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        cal = xcals.get_calendar(
            "XKRX", start=CALENDAR_START.isoformat(), end=CALENDAR_END.isoformat()
        )
    sessions = np.asarray(cal.sessions.values).astype("datetime64[D]")
    closes_utc = cal.closes.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
    return _Xkrx(sessions=sessions, closes_utc=closes_utc)


def _read_cache(path: Path) -> _Xkrx | None:
    try:
        with np.load(path) as data:
            sessions = data["sessions"].astype("datetime64[D]")
            closes = data["closes_utc"].astype("datetime64[ns]")
    except (OSError, KeyError, ValueError):
        return None
    if sessions.shape != closes.shape or sessions.size == 0:
        return None
    return _Xkrx(sessions=sessions, closes_utc=closes)


def _write_cache(path: Path, cal: _Xkrx) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, sessions=cal.sessions.astype(np.int64),
                     closes_utc=cal.closes_utc.astype(np.int64))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs the rebuild next time


@functools.lru_cache(maxsize=1)
def _xkrx() -> _Xkrx:
    # Building XKRX costs seconds (lunar holidays), so the session table is cached on disk.
    path = calendar_cache_path()
    cal = _read_cache(path)
    if cal is None:
        cal = _build_xkrx()
        _write_cache(path, cal)
    return cal


def load_calendar() -> None:
    """Build the XKRX calendar now (otherwise built lazily on first use)."""
    _xkrx()


def _d64(d: date) -> np.datetime64:
    _check_range(d)
    return np.datetime64(d, "D")


def _check_range(d: date) -> None:
    if isinstance(d, datetime):
        raise TypeError(f"expected a date, got a datetime {d!r}; pass d.date() or use KST")
    if not CALENDAR_START <= d <= CALENDAR_END:
        raise CalendarRangeError(
            f"{d} is outside the XKRX calendar range {CALENDAR_START}..{CALENDAR_END}: "
            "sessions cannot be checked, so nothing is planned; extend CALENDAR_END in "
            "strategy/calendar.py (and upgrade exchange_calendars for new holidays)"
        )


def _to_date(d64: np.datetime64) -> date:
    value = d64.astype("datetime64[D]").item()
    assert isinstance(value, date)
    return value


def is_session(d: date) -> bool:
    """True when `d` is an XKRX trading session."""
    _check_range(d)
    return d.toordinal() in _xkrx().ordinals


def next_session(d: date) -> date:
    """The first session strictly after `d`."""
    cal = _xkrx()
    i = int(np.searchsorted(cal.sessions, _d64(d), side="right"))
    if i >= len(cal.sessions):
        raise CalendarRangeError(f"no XKRX session after {d} within the calendar range")
    return _to_date(cal.sessions[i])


def previous_session(d: date) -> date:
    """The last session strictly before `d`."""
    cal = _xkrx()
    i = int(np.searchsorted(cal.sessions, _d64(d), side="left"))
    if i == 0:
        raise CalendarRangeError(f"no XKRX session before {d} within the calendar range")
    return _to_date(cal.sessions[i - 1])


def session_days(start: date, end: date) -> np.ndarray:
    """Sessions with start <= s <= end as a datetime64[D] array (the fast form of
    `sessions_in_range`, for vectorised checks)."""
    cal = _xkrx()
    lo = int(np.searchsorted(cal.sessions, _d64(start), side="left"))
    hi = int(np.searchsorted(cal.sessions, _d64(end), side="right"))
    return cal.sessions[lo:max(lo, hi)]


def sessions_in_range(start: date, end: date) -> list[date]:
    """All sessions `s` with start <= s <= end, ascending (empty when end < start)."""
    days = session_days(start, end)
    return days.astype(object).tolist() if days.size else []


def session_close_kst(d: date) -> datetime:
    """Close time of session `d` in KST (15:30 normally; later on exam days)."""
    cal = _xkrx()
    x = _d64(d)
    i = int(np.searchsorted(cal.sessions, x))
    if i >= len(cal.sessions) or cal.sessions[i] != x:
        raise NotASession(f"{d} is not an XKRX session")
    ns = int(cal.closes_utc[i].astype("datetime64[ns]").astype(np.int64))
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).astimezone(KST)


def last_completed_session(now: datetime, *, settle: timedelta = DEFAULT_SETTLE) -> date:
    """The latest session whose close (+ `settle`) is at or before `now`.

    `now` must be timezone-aware (any zone); a naive datetime raises ValueError.
    A run at 09:05 KST on a session day returns the previous session.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(
            f"now={now!r} is naive; pass a timezone-aware datetime, e.g. datetime.now(KST)"
        )
    today = now.astimezone(KST).date()
    if is_session(today) and now >= session_close_kst(today) + settle:
        return today
    return previous_session(today)


# -- the operator's overrides ------------------------------------------------------------------
REGULAR_OPEN = time(9, 0)


@dataclass(frozen=True)
class SessionCalendar:
    """XKRX with the operator's overrides (`settings.calendar`): dates closed ahead of
    exchange_calendars are never sessions, late opens move a session's open. Pure: built from
    the settings and passed to whoever needs it (`for_settings`); the module functions above
    are XKRX alone. The empty calendar (`SessionCalendar()`) equals XKRX."""

    closed: frozenset[date] = frozenset()
    late_opens: tuple[tuple[date, time], ...] = ()

    @classmethod
    def from_overrides(cls, overrides: CalendarOverrides) -> SessionCalendar:
        return cls(closed=frozenset(overrides.closed_dates),
                   late_opens=tuple(sorted(
                       (d, time.fromisoformat(hhmm)) for d, hhmm in overrides.late_opens.items())))

    def is_session(self, d: date) -> bool:
        return is_session(d) and d not in self.closed

    def is_closed_by_override(self, d: date) -> bool:
        """An XKRX session the operator closed."""
        return d in self.closed and is_session(d)

    def next_session(self, d: date) -> date:
        s = next_session(d)
        while s in self.closed:
            s = next_session(s)
        return s

    def previous_session(self, d: date) -> date:
        s = previous_session(d)
        while s in self.closed:
            s = previous_session(s)
        return s

    def session_days(self, start: date, end: date) -> np.ndarray:
        days = session_days(start, end)
        if not self.closed or not days.size:
            return days
        closed = np.array(sorted(self.closed), dtype="datetime64[D]")
        return days[~np.isin(days, closed)]

    def sessions_in_range(self, start: date, end: date) -> list[date]:
        days = self.session_days(start, end)
        return days.astype(object).tolist() if days.size else []

    def session_open_kst(self, d: date) -> datetime:
        """Open time of session `d` in KST: 09:00, or the operator's late open."""
        if not self.is_session(d):
            raise NotASession(f"{d} is not a session"
                              + (" (closed by settings.calendar.closed_dates)"
                                 if d in self.closed else ""))
        at = dict(self.late_opens).get(d, REGULAR_OPEN)
        return datetime.combine(d, at, tzinfo=KST)

    def session_close_kst(self, d: date) -> datetime:
        if d in self.closed:
            raise NotASession(f"{d} is closed by settings.calendar.closed_dates")
        return session_close_kst(d)

    def last_completed_session(self, now: datetime, *,
                               settle: timedelta = DEFAULT_SETTLE) -> date:
        """As `last_completed_session`, skipping the closed dates."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(
                f"now={now!r} is naive; pass a timezone-aware datetime, e.g. datetime.now(KST)"
            )
        today = now.astimezone(KST).date()
        if self.is_session(today) and now >= session_close_kst(today) + settle:
            return today
        return self.previous_session(today)


XKRX = SessionCalendar()


def for_settings(settings: Settings) -> SessionCalendar:
    """The calendar the settings describe (XKRX + `settings.calendar`)."""
    return SessionCalendar.from_overrides(settings.calendar)


def without_closed_days(bars: Mapping[str, pd.DataFrame], cal: SessionCalendar
                        ) -> dict[str, pd.DataFrame]:
    """`bars` without the rows of `cal`'s closed dates (a provider or the demo data may still
    have a bar on a day the operator closed): the cycle and the backtest both see the closed
    day as no session. Frames without such rows are passed through unchanged."""
    if not cal.closed:
        return dict(bars)
    import pandas as pd

    closed = pd.DatetimeIndex(sorted(pd.Timestamp(d) for d in cal.closed))
    out: dict[str, pd.DataFrame] = {}
    for ticker, df in bars.items():
        drop = pd.DatetimeIndex(df.index).normalize().isin(closed) if len(df) else None
        out[ticker] = df[~drop] if drop is not None and drop.any() else df
    return out
