"""Network providers: pykrx (KRX data portal) and FinanceDataReader.

Both libraries are imported lazily inside `load` — pykrx logs in to KRX at import time when
KRX_ID/KRX_PW are set, and neither is needed offline. Since late 2025 the KRX portal answers
bulk pulls from a banned IP with empty tables rather than errors (PITFALLS #16): an empty
answer is a failure here, requests are spaced by a rate limit, and only exceptions (not empty
answers) are retried, briefly.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from datetime import date
from types import ModuleType
from typing import TYPE_CHECKING, Any

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from krx_common.defaults import KST
from strategy.marketdata.base import BAR_COLUMNS, make_bar_frame
from strategy.marketdata.csv_provider import PerTickerProvider
from strategy.marketdata.errors import BadMarketData, MarketDataError, MarketDataUnavailable
from strategy.marketdata.master import BUILTIN_TICKERS, TickerInfo
from strategy.marketdata.validation import BarIssue, ensure_valid

# pandas loads on first use, in the functions that need it: the OCI server imports this module
# at start and does not need pandas until a cycle runs (~0.6 s of CPU per server start).
if TYPE_CHECKING:
    import pandas as pd

DEFAULT_LIVE_START = date(2015, 1, 1)
_INSTALL_HINT = "pip install 'krx-alertor[live-data]'"


class _TransientFetchError(Exception):
    """A request that raised; worth a short retry."""


class _LiveProvider(PerTickerProvider):
    """Shared plumbing: lazy import, rate limit, retries, column mapping, validation."""

    name = "live"
    synthetic = False
    module_name = ""
    columns: Mapping[str, str] = {}

    def __init__(
        self,
        *,
        min_interval: float = 0.5,
        retries: int = 3,
        retry_wait: float = 1.0,
        default_start: date = DEFAULT_LIVE_START,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        master: Mapping[str, TickerInfo] | None = None,
    ) -> None:
        self.min_interval = min_interval
        self.retries = max(1, retries)
        self.retry_wait = retry_wait
        self.default_start = default_start
        self._sleep = sleep
        self._clock = clock
        self._last_request: float | None = None
        self.master = dict(master) if master is not None else dict(BUILTIN_TICKERS)

    def _import(self, ticker: str) -> ModuleType:
        try:
            return importlib.import_module(self.module_name)
        except ImportError as exc:
            raise MarketDataUnavailable(
                ticker, self.name, f"{self.module_name} is not installed ({_INSTALL_HINT}): {exc}"
            ) from exc
        except Exception as exc:  # e.g. a KRX login failure raised at import time
            raise MarketDataUnavailable(
                ticker, self.name, f"importing {self.module_name} failed: {exc!r}"
            ) from exc

    def _throttle(self) -> None:
        now = self._clock()
        if self._last_request is not None:
            wait = self.min_interval - (now - self._last_request)
            if wait > 0:
                self._sleep(wait)
                now = self._clock()
        self._last_request = now

    def _request(self, ticker: str, call: Callable[[], Any]) -> Any:
        """One logical request: throttled, retried on exceptions, never on empty answers."""

        def attempt() -> Any:
            self._throttle()
            try:
                return call()
            except Exception as exc:  # library and network errors alike
                raise _TransientFetchError(f"{type(exc).__name__}: {exc}") from exc

        retrying = Retrying(
            stop=stop_after_attempt(self.retries),
            wait=wait_exponential(multiplier=self.retry_wait, max=8.0),
            retry=retry_if_exception_type(_TransientFetchError),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _TransientFetchError as exc:
            raise MarketDataUnavailable(
                ticker, self.name, f"request failed after {self.retries} attempt(s): {exc}"
            ) from exc

    def _fetch(self, module: ModuleType, ticker: str, start: date, end: date) -> pd.DataFrame:
        raise NotImplementedError

    def _normalize(self, ticker: str, raw: pd.DataFrame) -> pd.DataFrame:
        """Map the library's columns to ours and its index to tz-naive session dates."""
        import pandas as pd

        missing = [src for src in self.columns if src not in raw.columns]
        if missing:
            issue = BarIssue(
                ticker,
                None,
                "MISSING_COLUMN",
                "error",
                f"answer lacks column(s) {', '.join(missing)}",
                missing[0],
            )
            raise BadMarketData(ticker, [issue], self.name)
        index = pd.DatetimeIndex(pd.to_datetime(raw.index))
        if index.tz is not None:
            index = index.tz_convert(KST).tz_localize(None)
        renamed = raw.rename(columns=dict(self.columns))
        values = renamed.loc[:, list(BAR_COLUMNS)].apply(pd.to_numeric, errors="coerce")
        frame = make_bar_frame(index.normalize().values, values.to_numpy(dtype="float64"))
        # Row order is the library's business, not a property of the data; duplicates remain.
        return frame.sort_index(kind="stable")

    def history(self, ticker: str, end: date, start: date | None) -> pd.DataFrame:
        module = self._import(ticker)
        raw = self._fetch(module, ticker, start or self.default_start, end)
        frame = self._normalize(ticker, raw)
        ensure_valid(ticker, frame, source=self.name)
        return frame

    def no_bars(self, ticker: str, frame: pd.DataFrame, end: date, start: date | None) -> str:
        return f"no bars in [{start or self.default_start}, {end}]"


def _empty(frame: Any) -> bool:
    import pandas as pd

    return frame is None or not isinstance(frame, pd.DataFrame) or frame.empty


class PykrxProvider(_LiveProvider):
    """Daily OHLCV from the KRX data portal via pykrx (adjusted prices for stocks).

    ETFs are asked through `get_etf_ohlcv_by_date` first and stocks through
    `get_market_ohlcv_by_date(..., adjusted=True)` first; an empty answer falls through to the
    other function, and empty from both is `MarketDataUnavailable`.
    """

    name = "pykrx"
    module_name = "pykrx.stock"
    columns = {"시가": "open", "고가": "high", "저가": "low", "종가": "close", "거래량": "volume"}

    def _fetch(self, module: ModuleType, ticker: str, start: date, end: date) -> pd.DataFrame:
        fromdate, todate = start.strftime("%Y%m%d"), end.strftime("%Y%m%d")

        def market() -> Any:
            return module.get_market_ohlcv_by_date(fromdate, todate, ticker, adjusted=True)

        def etf() -> Any:
            return module.get_etf_ohlcv_by_date(fromdate, todate, ticker)

        info = self.master.get(ticker)
        order = [("etf", etf), ("market", market)]
        if info is None or info.kind == "stock":
            order.reverse()
        reasons = []
        for label, call in order:
            try:
                frame = self._request(ticker, call)
            except MarketDataError as exc:
                reasons.append(f"{label}: {exc}")
                continue
            if not _empty(frame):
                return frame  # type: ignore[no-any-return]
            reasons.append(f"{label}: empty answer")
        raise MarketDataUnavailable(
            ticker,
            self.name,
            "; ".join(reasons) + " (KRX may require a login (KRX_ID/KRX_PW) or have rate-limited"
            " this IP; the next provider or the cache is used)",
        )


class FdrProvider(_LiveProvider):
    """Daily OHLCV via FinanceDataReader (`DataReader(code, start, end)`)."""

    name = "fdr"
    module_name = "FinanceDataReader"
    columns = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Volume": "volume"}

    def _fetch(self, module: ModuleType, ticker: str, start: date, end: date) -> pd.DataFrame:
        frame = self._request(
            ticker, lambda: module.DataReader(ticker, start.isoformat(), end.isoformat())
        )
        if _empty(frame):
            raise MarketDataUnavailable(ticker, self.name, "empty answer from FinanceDataReader")
        return frame  # type: ignore[no-any-return]
