"""Local cache in front of a provider: `<cache_dir>/<provider>/<code>.csv` (UTF-8 CSV)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from strategy import calendar
from strategy.marketdata.base import MarketDataProvider, last_bar_date, window
from strategy.marketdata.csv_provider import check_ticker_code, read_bars_csv, write_bars_csv
from strategy.marketdata.errors import MarketDataError, MarketDataUnavailable

# pandas loads on first use, in the functions that need it: the OCI server imports this module
# at start and does not need pandas until a cycle runs (~0.6 s of CPU per server start).
if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_ONE_DAY = timedelta(days=1)


def covers(bars: pd.DataFrame, end: date, start: date | None = None) -> bool:
    """True when `bars` leave no XKRX session in [start, end] uncovered at either edge."""
    last = last_bar_date(bars)
    if last is None:
        return False
    if last < end and calendar.sessions_in_range(last + _ONE_DAY, end):
        return False
    if start is not None:
        first = bars.index[0].date()
        if first > start and calendar.sessions_in_range(start, first - _ONE_DAY):
            return False
    return True


class CachedProvider:
    """Serves a ticker from its cache file when the file covers the request, otherwise asks
    `inner` for its full history up to `end` and replaces the file with it (atomic write).

    When `inner` fails and `stale_fallback` is true, an older cache file is served anyway: the
    pipeline decides staleness by comparing the last bar with the expected session. Use
    `stale_fallback=False` inside a chain so that the next provider gets a chance first.
    After `load`, `last_status[ticker]` is 'cache', 'fetched' or 'stale-cache'.
    """

    def __init__(
        self, inner: MarketDataProvider, cache_dir: Path | str, *, stale_fallback: bool = True
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.synthetic = inner.synthetic
        self.directory = Path(cache_dir) / inner.name
        self.stale_fallback = stale_fallback
        self.last_status: dict[str, str] = {}

    def cache_path(self, ticker: str) -> Path:
        """The cache file of `ticker`."""
        return self.directory / f"{ticker}.csv"

    def _read_cache(self, ticker: str) -> pd.DataFrame | None:
        path = self.cache_path(ticker)
        try:
            return read_bars_csv(path, ticker)
        except FileNotFoundError:
            return None
        except MarketDataError as exc:  # a damaged cache is refetched, not fatal
            log.warning("ignoring unusable cache file %s: %s", path, exc)
            return None

    def load(
        self, tickers: Sequence[str], end: date, start: date | None = None
    ) -> dict[str, pd.DataFrame]:
        """Bars per ticker, from cache when it covers [start, end]; see `MarketDataProvider`."""
        self.last_status = {}
        out: dict[str, pd.DataFrame] = {}
        for ticker in tickers:
            check_ticker_code(ticker, self.name)
            cached = self._read_cache(ticker)
            if cached is not None and covers(cached, end, start):
                out[ticker] = window(cached, end, start)
                self.last_status[ticker] = "cache"
                continue
            try:
                # Full history (the inner provider's default start): one request either way,
                # and the file then serves any later, shorter window.
                fresh = self.inner.load([ticker], end)[ticker]
            except MarketDataError:
                stale = window(cached, end, start) if cached is not None else None
                if not self.stale_fallback or stale is None or len(stale) == 0:
                    raise
                out[ticker] = stale
                self.last_status[ticker] = "stale-cache"
                continue
            if cached is not None and len(cached) and fresh.index[-1] < cached.index[-1]:
                # A lagging answer must not replace a file that already reaches further.
                fresh, status = cached, "cache"
            else:
                write_bars_csv(self.cache_path(ticker), fresh)
                status = "fetched"
            bars = window(fresh, end, start)
            if len(bars) == 0:
                raise MarketDataUnavailable(
                    ticker, self.name, f"no bars in [{start}, {end}] (history starts later)"
                )
            out[ticker] = bars
            self.last_status[ticker] = status
        return out
