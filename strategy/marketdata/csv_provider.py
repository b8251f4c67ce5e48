"""Local CSV bars: one `<code>.csv` per ticker with columns date,open,high,low,close,volume."""

from __future__ import annotations

import csv
import os
import re
import tempfile
import threading
import warnings
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from strategy.marketdata.base import BAR_COLUMNS, make_bar_frame, window
from strategy.marketdata.errors import BadMarketData, MarketDataUnavailable
from strategy.marketdata.validation import BarIssue, ensure_valid

# pandas loads on first use, in the functions that need it: the OCI server imports this module
# at start and does not need pandas until a cycle runs (~0.6 s of CPU per server start).
if TYPE_CHECKING:
    import pandas as pd

CSV_HEADER = "date," + ",".join(BAR_COLUMNS)
_NUMERIC_DTYPES = {c: "float64" for c in BAR_COLUMNS}
_TICKER_RE = re.compile(r"^[0-9A-Za-z]{1,12}$")

# Parsed, validated frames keyed by resolved path; reused while (mtime_ns, size) is unchanged.
_FRAME_CACHE: OrderedDict[str, tuple[tuple[int, int], pd.DataFrame]] = OrderedDict()
_FRAME_CACHE_MAX = 512
_FRAME_CACHE_LOCK = threading.Lock()


def check_ticker_code(ticker: str, provider: str) -> None:
    """Reject codes that cannot be a KRX code (and could escape a directory as a file name)."""
    if not _TICKER_RE.match(ticker):
        raise MarketDataUnavailable(
            ticker, provider, "invalid ticker code (expected letters/digits, e.g. 069500)"
        )


def _bad(
    path: Path,
    ticker: str,
    code: str,
    message: str,
    when: date | None = None,
    column: str | None = None,
) -> BadMarketData:
    return BadMarketData(
        ticker, [BarIssue(ticker, when, code, "error", message, column)], str(path)
    )


def _parse_date(raw: object) -> date | None:
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        return None


def _diagnose(path: Path, ticker: str, cause: Exception) -> BadMarketData:
    """Re-read the file as text to name the line, date and column that failed to parse."""
    import pandas as pd

    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, index_col=False, encoding="utf-8")
    except UnicodeDecodeError:
        return _bad(path, ticker, "ENCODING", "file is not UTF-8 text")
    except (ValueError, pd.errors.ParserError) as exc:
        return _bad(path, ticker, "PARSE_ERROR", f"unreadable CSV: {exc}")
    for col in BAR_COLUMNS:
        if col not in raw.columns:
            continue
        text = raw[col].str.strip()
        bad = pd.to_numeric(text, errors="coerce").isna() & (text != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            when = _parse_date(raw["date"].iloc[i]) if "date" in raw.columns else None
            return _bad(
                path,
                ticker,
                "PARSE_ERROR",
                f"line {i + 2}: {col} value {raw[col].iloc[i]!r} is not a number",
                when,
                col,
            )
    return _bad(path, ticker, "PARSE_ERROR", f"unreadable CSV: {cause}")


def _field_count_error(path: Path, ticker: str) -> BadMarketData:
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    width = len(rows[0]) if rows else 0
    for line, row in enumerate(rows[1:], start=2):
        if row and len(row) != width:
            when = _parse_date(row[0])
            return _bad(
                path,
                ticker,
                "PARSE_ERROR",
                f"line {line}: {len(row)} fields, the header has {width}",
                when,
            )
    return _bad(path, ticker, "PARSE_ERROR", "rows do not match the header")


def _parse_dates(path: Path, ticker: str, column: pd.Series) -> np.ndarray:
    text = column.to_numpy(dtype=object)
    try:
        # numpy accepts partial ISO dates ("2020"), so insist on YYYY-MM-DD first.
        if bool((column.str.len() == 10).all()):
            return np.asarray(text.astype("datetime64[D]"))
    except (AttributeError, TypeError, ValueError):  # non-string column, unparseable date
        pass
    for i, s in enumerate(text):
        if not isinstance(s, str) or len(s) != 10 or _parse_date(s) is None:
            raise _bad(
                path,
                ticker,
                "PARSE_ERROR",
                f"line {i + 2}: date {s!r} is not YYYY-MM-DD",
                None,
                "date",
            )
    raise _bad(path, ticker, "PARSE_ERROR", "unparseable dates", None, "date")


def parse_bars_csv(path: Path, ticker: str) -> pd.DataFrame:
    """Parse and validate one bars CSV into a bar frame (uncached).

    Raises `BadMarketData` naming the file and, where it applies, the line, date and column.
    """
    import pandas as pd

    try:
        with warnings.catch_warnings():
            # With index_col=False pandas only warns about (and drops) surplus fields.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            raw = pd.read_csv(path, dtype=_NUMERIC_DTYPES, index_col=False, encoding="utf-8")
    except pd.errors.ParserWarning:
        raise _field_count_error(path, ticker) from None
    except pd.errors.EmptyDataError:
        raise _bad(path, ticker, "EMPTY", f"file is empty (expected header {CSV_HEADER})") from None
    except (ValueError, pd.errors.ParserError) as exc:  # UnicodeDecodeError is a ValueError
        raise _diagnose(path, ticker, exc) from exc
    names = [str(c).lstrip("\ufeff").strip() for c in raw.columns]
    if names != list(raw.columns):  # renaming costs more than the check
        raw.columns = names
    missing = [c for c in ("date", *BAR_COLUMNS) if c not in raw.columns]
    if missing:
        raise _bad(
            path,
            ticker,
            "MISSING_COLUMN",
            f"missing column(s) {', '.join(missing)}; expected header {CSV_HEADER}",
            None,
            missing[0],
        )
    dates = _parse_dates(path, ticker, raw["date"])
    values = np.column_stack([raw[c].to_numpy(dtype=np.float64) for c in BAR_COLUMNS])
    frame = make_bar_frame(dates, values)
    ensure_valid(ticker, frame, source=str(path))
    return frame


def read_bars_csv(path: Path | str, ticker: str | None = None) -> pd.DataFrame:
    """A validated bar frame for `path`, parsed once per (path, mtime, size) per process.

    Raises FileNotFoundError when the file is missing and `BadMarketData` when it is corrupt.
    """
    path = Path(path)
    ticker = ticker or path.stem
    st = path.stat()
    key = str(path.resolve())
    stamp = (st.st_mtime_ns, st.st_size)
    with _FRAME_CACHE_LOCK:
        hit = _FRAME_CACHE.get(key)
        if hit is not None and hit[0] == stamp:
            _FRAME_CACHE.move_to_end(key)
            # A shallow copy shares the arrays (copy-on-write) but keeps the cached frame
            # safe from callers that add or assign columns.
            return hit[1].copy(deep=False)
    frame = parse_bars_csv(path, ticker)
    with _FRAME_CACHE_LOCK:
        _FRAME_CACHE[key] = (stamp, frame)
        while len(_FRAME_CACHE) > _FRAME_CACHE_MAX:
            _FRAME_CACHE.popitem(last=False)
    return frame.copy(deep=False)


def clear_csv_cache() -> None:
    """Forget every parsed frame (tests and benchmarks measuring cold loads)."""
    with _FRAME_CACHE_LOCK:
        _FRAME_CACHE.clear()


def write_bars_csv(path: Path, df: pd.DataFrame) -> None:
    """Write a bar frame as UTF-8 CSV atomically (temp file, fsync, rename)."""
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    out = df.loc[:, list(BAR_COLUMNS)].copy()
    out.index = pd.DatetimeIndex(out.index).strftime("%Y-%m-%d")
    out.index.name = "date"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with open(fd, "w", encoding="utf-8", newline="") as fh:
            # %.15g keeps integer won and volumes free of a trailing ".0" and loses nothing.
            out.to_csv(fh, float_format="%.15g", lineterminator="\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # A rewrite within one mtime tick with the same size would otherwise look unchanged.
    with _FRAME_CACHE_LOCK:
        _FRAME_CACHE.pop(str(path.resolve()), None)


class PerTickerProvider(ABC):
    """A provider that reads each ticker's history and keeps the window asked for: the one
    `load` of the CSV and the live providers."""

    name: str

    @abstractmethod
    def history(self, ticker: str, end: date, start: date | None) -> pd.DataFrame:
        """The validated bars of `ticker` (at least [start, end] when it has them)."""

    @abstractmethod
    def no_bars(self, ticker: str, frame: pd.DataFrame, end: date, start: date | None) -> str:
        """Why `frame` has no bars in [start, end] (the `MarketDataUnavailable` message)."""

    def load(
        self, tickers: Sequence[str], end: date, start: date | None = None
    ) -> dict[str, pd.DataFrame]:
        """Validated bars per ticker within [start, end]; see `MarketDataProvider.load`."""
        out: dict[str, pd.DataFrame] = {}
        for ticker in tickers:
            check_ticker_code(ticker, self.name)
            frame = self.history(ticker, end, start)
            bars = window(frame, end, start)
            if len(bars) == 0:
                raise MarketDataUnavailable(ticker, self.name,
                                            self.no_bars(ticker, frame, end, start))
            out[ticker] = bars
        return out


class CsvProvider(PerTickerProvider):
    """Bars from a directory of `<code>.csv` files (the format of the shared KRX data)."""

    synthetic = False

    def __init__(self, directory: Path | str, *, name: str = "csv") -> None:
        self.directory = Path(directory)
        self.name = name

    def path_for(self, ticker: str) -> Path:
        """Where the bars of `ticker` are expected."""
        return self.directory / f"{ticker}.csv"

    def history(self, ticker: str, end: date, start: date | None) -> pd.DataFrame:
        path = self.path_for(ticker)
        try:
            return read_bars_csv(path, ticker)
        except FileNotFoundError:
            raise MarketDataUnavailable(
                ticker,
                self.name,
                f"file {path} not found (one <code>.csv per ticker, header {CSV_HEADER})",
            ) from None

    def no_bars(self, ticker: str, frame: pd.DataFrame, end: date, start: date | None) -> str:
        first, last = frame.index[0].date(), frame.index[-1].date()
        return (f"{self.path_for(ticker)} has no bars in [{start or '…'}, {end}] (file covers "
                f"{first}..{last})")
