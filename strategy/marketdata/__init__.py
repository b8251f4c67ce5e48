"""Market data: providers behind one small interface, a local cache, and bar validation.

This is the only part of `strategy/` that does I/O. Every provider returns bar frames
(see `strategy.marketdata.base`) and raises typed errors (`strategy.marketdata.errors`).
"""

from strategy.marketdata.base import BAR_COLUMNS, MarketDataProvider, make_bar_frame, window
from strategy.marketdata.cache import CachedProvider
from strategy.marketdata.chain import ChainProvider
from strategy.marketdata.csv_provider import CsvProvider, read_bars_csv, write_bars_csv
from strategy.marketdata.demo import DEFAULT_UNIVERSE, DEMO_START, DemoProvider
from strategy.marketdata.errors import BadMarketData, MarketDataError, MarketDataUnavailable
from strategy.marketdata.factory import make_provider
from strategy.marketdata.live import FdrProvider, PykrxProvider
from strategy.marketdata.master import BUILTIN_TICKERS, TickerInfo, load_ticker_master
from strategy.marketdata.validation import BarIssue, ensure_valid, validate_bars

__all__ = [
    "BAR_COLUMNS",
    "BUILTIN_TICKERS",
    "DEFAULT_UNIVERSE",
    "DEMO_START",
    "BadMarketData",
    "BarIssue",
    "CachedProvider",
    "ChainProvider",
    "CsvProvider",
    "DemoProvider",
    "FdrProvider",
    "MarketDataError",
    "MarketDataProvider",
    "MarketDataUnavailable",
    "PykrxProvider",
    "TickerInfo",
    "ensure_valid",
    "load_ticker_master",
    "make_bar_frame",
    "make_provider",
    "read_bars_csv",
    "validate_bars",
    "window",
    "write_bars_csv",
]
