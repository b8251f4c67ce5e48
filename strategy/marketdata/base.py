"""The market-data interface and the bar-frame convention every provider follows.

A bar frame is a `pd.DataFrame` indexed by a tz-naive `DatetimeIndex` named `date`
(session dates, ascending) with exactly the float64 columns `open, high, low, close, volume`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

# pandas loads on first use, in the functions that need it: the OCI server imports this module
# at start and does not need pandas until a cycle runs (~0.6 s of CPU per server start).
if TYPE_CHECKING:
    import pandas as pd

BAR_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")


@runtime_checkable
class MarketDataProvider(Protocol):
    """Something that answers daily bars for tickers.

    `load` returns one bar frame per requested ticker with every bar dated <= `end`
    (and >= `start` when given). A ticker it cannot serve — including an empty answer —
    raises `MarketDataUnavailable`; unusable bars raise `BadMarketData`.
    """

    name: str
    synthetic: bool

    def load(
        self, tickers: Sequence[str], end: date, start: date | None = None
    ) -> dict[str, pd.DataFrame]: ...


def make_bar_frame(dates: np.ndarray | pd.DatetimeIndex, values: np.ndarray) -> pd.DataFrame:
    """A bar frame from session dates and an (n, 5) array in `BAR_COLUMNS` order."""
    import pandas as pd

    index = pd.DatetimeIndex(np.asarray(dates).astype("datetime64[ns]"), name="date")
    return pd.DataFrame(
        np.asarray(values, dtype=np.float64), index=index, columns=list(BAR_COLUMNS)
    )


def empty_bar_frame() -> pd.DataFrame:
    """A bar frame with no rows (for callers that need a typed placeholder)."""
    return make_bar_frame(np.array([], dtype="datetime64[D]"), np.empty((0, 5)))


def window(df: pd.DataFrame, end: date, start: date | None = None) -> pd.DataFrame:
    """Rows of a sorted bar frame with start <= date <= end."""
    idx = df.index.values
    hi = int(np.searchsorted(idx, np.datetime64(end, "D"), side="right"))
    lo = 0 if start is None else int(np.searchsorted(idx, np.datetime64(start, "D"), "left"))
    return df.iloc[lo:hi]


def last_bar_date(df: pd.DataFrame) -> date | None:
    """Date of the last bar, or None for an empty frame."""
    import pandas as pd

    if len(df) == 0:
        return None
    value = df.index[-1]
    return pd.Timestamp(value).date()
