"""Bar validation: bad data (errors), trading halts, and rounding artefacts (warnings).

Rules (SPEC §7): open = high = low = 0 with volume 0 is a trading halt, reported with
severity 'halt'; non-positive prices on a traded session, high < low, NaN, duplicate or
unsorted dates, and calendar sessions without a bar are errors; an open or close slightly
outside [low, high] (rounding in adjusted series) is a warning. Checks are vectorized.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Literal

import numpy as np

from strategy.marketdata.base import BAR_COLUMNS
from strategy.marketdata.errors import BadMarketData

# pandas loads on first use, in the functions that need it: the OCI server imports this module
# at start and does not need pandas until a cycle runs (~0.6 s of CPU per server start).
if TYPE_CHECKING:
    import pandas as pd

Severity = Literal["error", "warning", "halt"]

# Open/close beyond [low, high] by more than this fraction of the high is corruption, not
# rounding (the real adjusted data stays within 0.06%).
OUTSIDE_RANGE_TOLERANCE = 0.01


@dataclass(frozen=True)
class BarIssue:
    """One finding about one bar (or the whole series when `date` is None)."""

    ticker: str
    date: date | None
    code: str
    severity: Severity
    message: str
    column: str | None = None


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def day_array(dates: Sequence[date] | np.ndarray | pd.DatetimeIndex) -> np.ndarray:
    """Dates as a datetime64[D] array (fast path for lists of `datetime.date`)."""
    import pandas as pd

    if isinstance(dates, pd.DatetimeIndex):
        return np.asarray(dates.values).astype("datetime64[D]")
    if isinstance(dates, np.ndarray):
        return dates.astype("datetime64[D]")
    # numpy converts date objects one by one through a slow path; ordinals are ~25x faster.
    ordinals = np.fromiter((d.toordinal() for d in dates), dtype=np.int64, count=len(dates))
    return (ordinals - _EPOCH_ORDINAL).astype("datetime64[D]")


def bar_values(df: pd.DataFrame) -> np.ndarray:
    """The (n, 5) float64 array of a frame's bar columns in `BAR_COLUMNS` order."""
    if tuple(df.columns) == BAR_COLUMNS:
        return df.to_numpy(dtype=np.float64)
    return np.column_stack([df[c].to_numpy(dtype=np.float64) for c in BAR_COLUMNS])


def validate_bars(
    ticker: str,
    df: pd.DataFrame,
    sessions: Sequence[date] | np.ndarray | pd.DatetimeIndex | None = None,
) -> list[BarIssue]:
    """Every issue in a bar frame, ordered by date (series-level issues first).

    When `sessions` (XKRX session dates) is given, sessions inside [first bar, last bar]
    without a bar are `MISSING_SESSION` errors and bars on non-session dates are
    `NON_SESSION_DATE` warnings. Whether the last bar is recent enough is not judged here.
    """
    import pandas as pd

    missing_cols = [c for c in BAR_COLUMNS if c not in df.columns]
    if missing_cols:
        return [
            BarIssue(ticker, None, "MISSING_COLUMN", "error", f"missing column {c!r}", c)
            for c in missing_cols
        ]
    if not isinstance(df.index, pd.DatetimeIndex):
        return [
            BarIssue(ticker, None, "BAD_INDEX", "error", "index is not a DatetimeIndex of dates")
        ]
    if len(df) == 0:
        return [BarIssue(ticker, None, "EMPTY", "error", "no bars")]
    try:
        values = bar_values(df)
    except (TypeError, ValueError) as exc:
        return [BarIssue(ticker, None, "NON_NUMERIC", "error", f"non-numeric bar values: {exc}")]

    dates = df.index.values.astype("datetime64[D]")
    if np.isnat(dates).any():
        first_bad = int(np.flatnonzero(np.isnat(dates))[0])
        return [
            BarIssue(ticker, None, "MISSING_DATE", "error", f"row {first_bad} has no date", "date")
        ]
    o, h, lo, c, v = values.T
    # (day number, insertion order, issue) so the result can be ordered by date cheaply.
    issues: list[tuple[int, int, BarIssue]] = []

    def row(i: int) -> dict[str, float]:
        return {"open": o[i], "high": h[i], "low": lo[i], "close": c[i], "volume": v[i]}

    def add(mask: np.ndarray, code: str, severity: Severity, message: str, col: str | None) -> None:
        for i in np.flatnonzero(mask).tolist():
            d = dates[i]
            text = message.format(**row(i))
            issue = BarIssue(ticker, d.item(), code, severity, text, col)
            issues.append((int(d.astype(np.int64)), len(issues), issue))

    step = np.diff(dates)
    dup = np.zeros(len(dates), dtype=bool)
    dup[1:] = step == np.timedelta64(0, "D")
    unsorted = np.zeros(len(dates), dtype=bool)
    unsorted[1:] = step < np.timedelta64(0, "D")
    add(dup, "DUPLICATE_DATE", "error", "date appears more than once", "date")
    add(unsorted, "UNSORTED_DATES", "error", "date is earlier than the previous bar's", "date")

    nan = np.isnan(values)
    for j, col in enumerate(BAR_COLUMNS):
        add(nan[:, j], "NAN_VALUE", "error", f"{col} is missing (NaN)", col)
    any_nan = nan.any(axis=1)

    halt = (o == 0) & (h == 0) & (lo == 0) & (v == 0)
    add(halt, "TRADING_HALT", "halt", "trading halt (open=high=low=0, volume 0)", None)
    # A halt row carries the last close; a halt without one cannot be marked to market.
    add(
        halt & ~(c > 0),
        "NON_POSITIVE_PRICE",
        "error",
        "halt row has close {close:g}; it must carry the last close",
        "close",
    )

    traded = ~halt & ~any_nan
    nonpos = traded & (values[:, :4] <= 0).any(axis=1)
    for j, col in enumerate(BAR_COLUMNS[:4]):
        add(
            nonpos & (values[:, j] <= 0),
            "NON_POSITIVE_PRICE",
            "error",
            f"{col} is {{{col}:g}} on a traded session",
            col,
        )
    add(~any_nan & (v < 0), "NEGATIVE_VOLUME", "error", "volume is {volume:g}", "volume")

    sane = traded & ~nonpos
    high_low = sane & (h < lo)
    add(high_low, "HIGH_BELOW_LOW", "error", "high {high:g} < low {low:g}", "high")

    ranged = sane & ~high_low
    dev = np.maximum(lo - np.minimum(o, c), np.maximum(o, c) - h)
    outside = ranged & (dev > 0)
    far = outside & (dev > OUTSIDE_RANGE_TOLERANCE * h)
    range_msg = "open {open:g} / close {close:g} outside [low {low:g}, high {high:g}]"
    add(far, "PRICE_FAR_OUTSIDE_RANGE", "error", range_msg, None)
    add(outside & ~far, "PRICE_OUTSIDE_RANGE", "warning", range_msg + " (rounding)", None)

    if sessions is not None and len(sessions) > 0:
        sess = day_array(sessions)
        if len(sess) > 1 and not (np.diff(sess) > np.timedelta64(0, "D")).all():
            sess = np.unique(sess)
        first, last = dates.min(), dates.max()
        inside = sess[(sess >= first) & (sess <= last)]
        for d in np.setdiff1d(inside, np.unique(dates), assume_unique=True):
            issue = BarIssue(
                ticker, d.item(), "MISSING_SESSION", "error", "XKRX session has no bar"
            )
            issues.append((int(d.astype(np.int64)), len(issues), issue))
        covered = (dates >= sess[0]) & (dates <= sess[-1])
        pos = np.minimum(np.searchsorted(sess, dates), len(sess) - 1)
        off = covered & (sess[pos] != dates)
        add(off, "NON_SESSION_DATE", "warning", "bar on a date that is not an XKRX session", "date")

    issues.sort(key=lambda t: (t[0], t[1]))
    return [t[2] for t in issues]


def ensure_valid(
    ticker: str,
    df: pd.DataFrame,
    sessions: Sequence[date] | np.ndarray | pd.DatetimeIndex | None = None,
    *,
    source: str | None = None,
) -> list[BarIssue]:
    """Validate and raise `BadMarketData` (naming ticker, source and first bad date) on any
    error; otherwise return the non-error issues (halts and warnings)."""
    issues = validate_bars(ticker, df, sessions)
    if any(i.severity == "error" for i in issues):
        raise BadMarketData(ticker, issues, source)
    return issues
