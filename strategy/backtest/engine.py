"""Backtest engine: bars → aligned market → indicators → compiled kernel → result tables.

`run_backtest` is the one-settings entry point; `prepare_market`, `compute_indicators` and
`run_batch` are the pieces a parameter sweep reuses (indicators once per indicator-period
group, then many parameter vectors per compiled call). The decisions come from
`strategy.rules` compiled by `strategy.backtest.jit`; numba is imported only when a kernel
runs, and not for a small first backtest of a process (plain Python, the same values: see
`_compiled_for`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any, NamedTuple, cast, overload

import numpy as np
import pandas as pd

from contracts.instruments import instrument
from contracts.settings import Settings
from strategy import indicators, rules
from strategy.backtest import kernel
from strategy.backtest.metrics import METRIC_COLUMNS, N_METRICS
from strategy.params import param_vector

__all__ = [
    "METRIC_COLUMNS",
    "BacktestInputError",
    "BacktestResult",
    "DecisionLog",
    "DecisionRecord",
    "DetailedRun",
    "IndicatorCache",
    "IndicatorSet",
    "PreparedMarket",
    "compute_indicators",
    "prepare_market",
    "run_backtest",
    "run_batch",
    "run_detailed",
]

class BacktestInputError(ValueError):
    """The bars or the window cannot support a backtest; the message names ticker and date."""


@dataclass(frozen=True)
class PreparedMarket:
    """Bars aligned on the benchmark's sessions up to `end`, warm-up history included.

    Price arrays are [T, N] in universe order (NaN where a ticker has no bar, only possible
    before the window); `start_idx`/`end_idx` index the decision window (inclusive).
    """

    dates: np.ndarray
    tickers: list[str]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    bench_close: np.ndarray
    bench_high: np.ndarray
    bench_low: np.ndarray
    is_stock: np.ndarray
    years: np.ndarray
    start_idx: int
    end_idx: int
    benchmark: str = ""
    notes: tuple[str, ...] = ()

    @property
    def calendar_days(self) -> float:
        """Calendar days from start to end (the CAGR exponent's denominator)."""
        span = self.dates[self.end_idx] - self.dates[self.start_idx]
        return float(span.astype("timedelta64[D]").astype(np.int64))

    @property
    def window_dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(
            self.dates[self.start_idx : self.end_idx + 1].astype("datetime64[ns]"), name="date"
        )


@dataclass(frozen=True)
class IndicatorSet:
    """Indicators over the whole prepared history: RSI per ticker [T, N], benchmark series [T]."""

    rsi: np.ndarray
    sma_long: np.ndarray
    sma_short: np.ndarray
    adx: np.ndarray


class DecisionRecord(NamedTuple):
    """What the rules decided at the close of one session, and the state they saw.

    Tuples are in universe order: `held_qty`/`entry_price`/`cash` are the portfolio at the
    close before this decision's orders; codes are `strategy.rules` ints.
    """

    date: date
    regime: int
    held_qty: tuple[int, ...]
    entry_price: tuple[float, ...]
    cash: float
    exit_code: tuple[int, ...]
    rank: tuple[int, ...]
    buy_qty: tuple[int, ...]
    block: int
    guard: int
    equity: float
    reserve: float
    executed: bool


class DecisionLog(Sequence[DecisionRecord]):
    """The per-session `DecisionRecord`s of a run, built from the kernel's arrays on access
    (a list of them costs more than the backtest itself). Compares equal to a list of the
    same records."""

    def __init__(self, dates: list[date], run: DetailedRun) -> None:
        self._dates = dates
        self._run = run

    def __len__(self) -> int:
        return len(self._dates)

    @overload
    def __getitem__(self, k: int) -> DecisionRecord: ...
    @overload
    def __getitem__(self, k: slice) -> list[DecisionRecord]: ...
    def __getitem__(self, k: int | slice) -> DecisionRecord | list[DecisionRecord]:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        n = len(self)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"decision index {k} out of range for {n} sessions")
        r = self._run
        day = r.day[k]
        return DecisionRecord(
            date=self._dates[k],
            regime=int(day["regime"]),
            held_qty=tuple(r.qty[k].tolist()),
            entry_price=tuple(r.entry[k].tolist()),
            cash=float(day["cash"]),
            exit_code=tuple(r.exit_code[k].tolist()),
            rank=tuple(r.rank[k].tolist()),
            buy_qty=tuple(r.buy_qty[k].tolist()),
            block=int(day["block"]),
            guard=int(day["guard"]),
            equity=float(day["equity"]),
            reserve=float(day["reserve"]),
            executed=k < n - 1,
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DecisionLog | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


@dataclass
class DetailedRun:
    """Raw arrays of one detailed kernel run (first axis of the records = window session;
    `day` is the `kernel.DAY_DT` record of each session)."""

    metrics: np.ndarray
    regime: np.ndarray
    bear_days: np.ndarray
    equity: np.ndarray
    acc: np.ndarray
    day: np.ndarray
    qty: np.ndarray
    entry: np.ndarray
    exit_code: np.ndarray
    rank: np.ndarray
    buy_qty: np.ndarray
    fill_qty: np.ndarray
    fill_price: np.ndarray
    fill_commission: np.ndarray
    fill_tax: np.ndarray
    fill_slippage: np.ndarray
    note: np.ndarray


class BacktestResult:
    """One backtest. Series are indexed by the window's sessions (close-marked); `metrics` in
    `METRIC_COLUMNS` order; `trades` are closed round trips, `open_positions` those open at the
    end (marked at the close); `decisions` one record per session; `meta` holds the window,
    MDD peak/trough dates, buy-and-hold benchmark metrics and warm-up/data notes;
    `order_events` the orders that did not fill as sized (HALT_DROPPED, CASH_SKIPPED, CASH_CUT,
    GUARD_SKIPPED).

    Each attribute is built from the kernel's arrays on first access and kept: a result costs
    little more than the kernel run until its tables are read.
    """

    def __init__(
        self, market: PreparedMarket, ind: IndicatorSet, run: DetailedRun, settings: Settings
    ) -> None:
        self._m = market
        self._ind = ind
        self._run = run
        self._settings = settings

    @cached_property
    def _index(self) -> pd.DatetimeIndex:
        return self._m.window_dates

    @cached_property
    def _dates(self) -> list[date]:
        return [d.date() for d in self._index.to_pydatetime()]

    @cached_property
    def _capital(self) -> float:
        return float(self._settings.strategy.initial_capital)

    @cached_property
    def metrics(self) -> dict[str, float]:
        return {c: float(v) for c, v in zip(METRIC_COLUMNS, self._run.metrics, strict=True)}

    @cached_property
    def equity(self) -> pd.Series:
        return pd.Series(self._run.equity, index=self._index, name="equity")

    @cached_property
    def cash(self) -> pd.Series:
        return pd.Series(self._run.day["cash"], index=self._index, name="cash")

    @cached_property
    def exposure(self) -> pd.Series:
        run = self._run
        return pd.Series((run.equity - run.day["cash"]) / run.equity, index=self._index,
                         name="exposure")

    @cached_property
    def positions(self) -> pd.DataFrame:
        return pd.DataFrame(self._run.qty, index=self._index, columns=self._m.tickers)

    @cached_property
    def _fill_tables(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        return _fill_tables(self._m, self._run, self._dates)

    @cached_property
    def fills(self) -> pd.DataFrame:
        return self._fill_tables[0]

    @cached_property
    def trades(self) -> pd.DataFrame:
        return self._fill_tables[1]

    @cached_property
    def open_positions(self) -> pd.DataFrame:
        return self._fill_tables[2]

    @cached_property
    def regime(self) -> pd.Series:
        s, e = self._m.start_idx, self._m.end_idx
        names = np.array([rules.REGIME_NAMES[c] for c in sorted(rules.REGIME_NAMES)],
                         dtype=object)
        return pd.Series(names[self._run.regime[s : e + 1]], index=self._index, name="regime")

    @cached_property
    def chop(self) -> pd.Series:
        s, e = self._m.start_idx, self._m.end_idx
        adx_w = self._ind.adx[s : e + 1]
        threshold = self._settings.strategy.adx_threshold
        values = np.where(np.isnan(adx_w), np.nan, (adx_w < threshold).astype(object))
        return pd.Series(values.astype(object), index=self._index, name="chop", dtype=object)

    @cached_property
    def per_year(self) -> pd.DataFrame:
        return _per_year(self._run.equity, self._index, self._capital,
                         _metric_functions().max_drawdown)

    @cached_property
    def benchmark(self) -> pd.Series:
        m = self._m
        s, e = m.start_idx, m.end_idx
        return pd.Series(self._capital * m.bench_close[s : e + 1] / m.bench_close[s],
                         index=self._index, name="benchmark")

    @cached_property
    def decisions(self) -> DecisionLog:
        return DecisionLog(self._dates, self._run)

    @cached_property
    def params(self) -> dict[str, Any]:
        settings = self._settings
        return {
            "benchmark": settings.benchmark,
            "universe": list(settings.universe),
            **settings.strategy.model_dump(mode="json"),
            "guardrails": settings.guardrails.model_dump(mode="json"),
        }

    @cached_property
    def meta(self) -> dict[str, Any]:
        return _meta(self._m, self._ind, self._run, self._dates, self._capital)

    @cached_property
    def order_events(self) -> pd.DataFrame:
        return _order_events(self._m, self._run, self._dates)


# --- market ---------------------------------------------------------------------------------


def _session_dates(df: pd.DataFrame) -> np.ndarray:
    return np.asarray(df.index.values).astype("datetime64[D]")


def _session_index(dates: np.ndarray, day: date, benchmark: str, what: str) -> int:
    target = np.datetime64(day, "D")
    i = int(np.searchsorted(dates, target))
    if i < dates.shape[0] and dates[i] == target:
        return i
    after = f"next session: {dates[i]}" if i < dates.shape[0] else "no later session"
    raise BacktestInputError(
        f"{what} {day} is not a session in the {benchmark} bars ({after}); "
        f"pick a trading day between {dates[0] if dates.size else '-'} and "
        f"{dates[-1] if dates.size else '-'}"
    )


def _contiguous(a: np.ndarray, dtype: Any) -> np.ndarray:
    out = np.ascontiguousarray(a, dtype=dtype)
    return out if out.flags.writeable else out.copy()


# Column positions per columns Index (immutable; the entry holds it, so its id is not reused):
# pandas' `get_loc` on string columns costs ~2 us a column, per ticker per backtest.
_POSITIONS: dict[tuple[int, tuple[str, ...]], tuple[pd.Index, list[int]]] = {}


def _positions(columns: pd.Index, cols: tuple[str, ...]) -> list[int]:
    key = (id(columns), cols)
    hit = _POSITIONS.get(key)
    if hit is not None and hit[0] is columns:
        return hit[1]
    where = [cast(int, columns.get_loc(c)) for c in cols]  # KeyError for a missing column
    if len(_POSITIONS) >= 1024:
        _POSITIONS.clear()
    _POSITIONS[key] = (columns, where)
    return where


def _ohlc(df: pd.DataFrame, cols: tuple[str, ...]) -> np.ndarray:
    """The float64 values of `cols` of a bar frame, one row per column: [len(cols), rows]
    (KeyError for a missing column)."""
    # A float frame's values are column-major: the transpose is a view with contiguous rows.
    return df.to_numpy(dtype=np.float64).T[_positions(df.columns, cols)]


def _aligned_on(
    raws: list[np.ndarray], bench_raw: np.ndarray, end_day: np.datetime64
) -> np.ndarray:
    """Which tickers' timestamps (`raws`) are the benchmark's own up to `end` (`bench_raw`,
    n rows), row for row, with nothing else up to `end`: one comparison for all of them."""
    n = bench_raw.shape[0]
    same = [
        i for i, raw in enumerate(raws)
        if raw.dtype == bench_raw.dtype and raw.shape[0] >= n
        and (raw.shape[0] == n or raw[n:n + 1].astype("datetime64[D]")[0] > end_day)
    ]
    aligned = np.zeros(len(raws), dtype=np.bool_)
    if same:
        equal = (np.stack([raws[i][:n] for i in same]) == bench_raw).all(axis=1)
        aligned[np.asarray(same)[equal]] = True
    return aligned


def prepare_market(
    bars: dict[str, pd.DataFrame], universe: list[str], benchmark: str, start: date, end: date
) -> PreparedMarket:
    """Align the universe on the benchmark's sessions up to `end` (history before `start`
    is kept as warm-up).

    Raises ValueError if `end` is before `start`; `BacktestInputError` (a ValueError) for a
    ticker without bars or not in the ticker master, a `start`/`end` that is not a benchmark
    session, or a universe ticker without a usable bar on a session of the window.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    tickers = list(universe)
    if not tickers:
        raise BacktestInputError("the universe is empty")
    seen: set[str] = set()
    for code in tickers:
        if code in seen:
            raise BacktestInputError(f"{code}: appears twice in the universe")
        seen.add(code)
    for code in [benchmark, *tickers]:
        if code not in bars:
            raise BacktestInputError(
                f"{code}: no bars loaded (unknown ticker or missing data file for it)"
            )
    is_stock = np.zeros(len(tickers), dtype=np.bool_)
    for i, code in enumerate(tickers):
        try:
            is_stock[i] = instrument(code).kind == "stock"
        except KeyError:
            raise BacktestInputError(
                f"{code}: not in the ticker master (tickers.csv); add it there or drop it "
                "from the universe"
            ) from None

    bench = bars[benchmark]
    all_dates = _session_dates(bench)
    start_idx = _session_index(all_dates, start, benchmark, "start")
    end_idx = _session_index(all_dates, end, benchmark, "end")
    n = end_idx + 1
    dates = all_dates[:n]
    b_values = _ohlc(bench, ("close", "high", "low"))[:, :n]
    b_close = _contiguous(b_values[0], np.float64)
    b_high = _contiguous(b_values[1], np.float64)
    b_low = _contiguous(b_values[2], np.float64)
    if not np.all(np.isfinite(b_close[start_idx : end_idx + 1])):
        bad = dates[start_idx + int(np.argmin(np.isfinite(b_close[start_idx : end_idx + 1])))]
        raise BacktestInputError(f"{benchmark}: close missing on {bad} inside the window")

    cols = ("open", "high", "low", "close")
    # [ticker, column, session]: each ticker's rows are copied whole; one transposing copy at
    # the end gives the kernel's [session, ticker] arrays.
    per = np.full((len(tickers), len(cols), n), np.nan)
    notes: list[str] = []
    frames = [bars[code] for code in tickers]
    raws = [np.asarray(df.index.values) for df in frames]
    end_day = np.datetime64(end, "D")
    aligned = _aligned_on(raws, np.asarray(bench.index.values)[:n], end_day)
    for i, code in enumerate(tickers):
        values = _ohlc(frames[i], cols)
        if aligned[i]:
            per[i] = values[:, :n]
            continue
        t_dates = raws[i].astype("datetime64[D]")
        t_n = int(np.searchsorted(t_dates, end_day, side="right"))
        t_dates = t_dates[:t_n]
        if t_n == n and np.array_equal(t_dates, dates):
            per[i] = values[:, :n]
        elif t_n:
            pos = np.searchsorted(t_dates, dates)
            safe = np.minimum(pos, t_n - 1)
            matched = (pos < t_n) & (t_dates[safe] == dates)
            per[i][:, matched] = values[:, safe[matched]]
            if int(matched.sum()) < t_n:
                notes.append(
                    f"{code}: {t_n - int(matched.sum())} bar(s) on days that are not "
                    f"{benchmark} sessions were ignored"
                )
    window = slice(start_idx, end_idx + 1)
    o, c = per[:, 0, window], per[:, 3, window]
    usable = np.isfinite(o) & (o >= 0.0) & np.isfinite(c) & (c > 0.0)
    unusable = ~usable.all(axis=1)
    if unusable.any():
        i = int(np.argmax(unusable))
        bad = dates[start_idx + int(np.argmin(usable[i]))]
        raise BacktestInputError(
            f"{tickers[i]}: no usable bar for session {bad} inside the window "
            f"[{start}, {end}]; start later or drop {tickers[i]} from the universe"
        )
    stacked = np.ascontiguousarray(per.transpose(1, 2, 0))  # [column, session, ticker]

    years = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    return PreparedMarket(
        dates=dates,
        tickers=tickers,
        open=_contiguous(stacked[0], np.float64),
        high=_contiguous(stacked[1], np.float64),
        low=_contiguous(stacked[2], np.float64),
        close=_contiguous(stacked[3], np.float64),
        bench_close=b_close,
        bench_high=b_high,
        bench_low=b_low,
        is_stock=is_stock,
        years=_contiguous(years, np.int64),
        start_idx=start_idx,
        end_idx=end_idx,
        benchmark=benchmark,
        notes=tuple(notes),
    )


def _plain_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


class IndicatorCache:
    """The indicators of one prepared market, each computed once per period and shared: a
    sweep asks for many (rsi, sma, adx) period sets, and two sets that share a period share
    its array (RSI per ticker on the ticker's own bars; the SMAs and ADX on the benchmark).

    `compiled` RSI runs `kernel.rsi_columns_kernel` (numba) on the gap-free columns and ADX
    `kernel.adx_kernel` on a gap-free benchmark: bit for bit `strategy.indicators`, the daily
    cycle's functions; columns with gaps or a late listing (and periods above 128 for ADX) take
    those functions themselves.
    """

    def __init__(self, m: PreparedMarket, *, compiled: bool = True) -> None:
        self.m = m
        self.compiled = compiled
        self._rsi: dict[int, np.ndarray] = {}
        self._sma: dict[int, np.ndarray] = {}
        self._adx: dict[int, np.ndarray] = {}

    def rsi(self, period: int) -> np.ndarray:
        if period not in self._rsi:
            self._rsi[period] = _contiguous(self._rsi_of(period), np.float64)
        return self._rsi[period]

    def _rsi_of(self, period: int) -> np.ndarray:
        close = self.m.close
        ok = np.isfinite(close)
        complete = ok.all(axis=0)
        rsi = np.full(close.shape, np.nan)
        if complete.all():
            self._rsi_complete(close, period, rsi)
        elif complete.any():
            part = np.full((close.shape[0], int(complete.sum())), np.nan)
            self._rsi_complete(np.ascontiguousarray(close[:, complete]), period, part)
            rsi[:, complete] = part
        for i in np.flatnonzero(~complete & ok.any(axis=0)):
            # Rows before a late listing are not gaps in the ticker's own series.
            rsi[ok[:, i], i] = indicators.rsi(close[ok[:, i], i], period)
        return rsi

    def _rsi_complete(self, close: np.ndarray, period: int, out: np.ndarray) -> None:
        if not self.compiled or not _plain_int(period) or period < 2:
            out[:] = indicators.rsi_columns(close, period)  # (raises for a bad period)
            return
        from strategy.backtest import jit

        jit.rsi_columns_kernel(close, period, out)

    def sma(self, period: int) -> np.ndarray:
        if period not in self._sma:
            self._sma[period] = _contiguous(indicators.sma(self.m.bench_close, period),
                                            np.float64)
        return self._sma[period]

    def adx(self, period: int) -> np.ndarray:
        if period not in self._adx:
            m = self.m
            hlc = (m.bench_high, m.bench_low, m.bench_close)
            if (self.compiled and _plain_int(period) and 2 <= period <= 128
                    and all(np.isfinite(a).all() for a in hlc)):
                from strategy.backtest import jit

                out = np.full(m.bench_close.shape, np.nan)
                jit.adx_kernel(*hlc, period, out)
            else:
                out = indicators.adx(*hlc, period)
            self._adx[period] = _contiguous(out, np.float64)
        return self._adx[period]

    def get(
        self, *, rsi_period: int, regime_ma_long: int, ma_short_period: int, adx_period: int
    ) -> IndicatorSet:
        return IndicatorSet(
            rsi=self.rsi(rsi_period),
            sma_long=self.sma(regime_ma_long),
            sma_short=self.sma(ma_short_period),
            adx=self.adx(adx_period),
        )


def compute_indicators(
    m: PreparedMarket, *, rsi_period: int, regime_ma_long: int, ma_short_period: int,
    adx_period: int, compiled: bool = True,
) -> IndicatorSet:
    """RSI per ticker (on the ticker's own bars) and the benchmark's SMAs and ADX, over the
    whole prepared history (`IndicatorCache` shares them between period sets)."""
    return IndicatorCache(m, compiled=compiled).get(
        rsi_period=rsi_period, regime_ma_long=regime_ma_long, ma_short_period=ma_short_period,
        adx_period=adx_period,
    )


def kernel_market(m: PreparedMarket, ind: IndicatorSet) -> kernel.Market:
    """The market arrays every kernel reads, bundled."""
    return kernel.Market(
        open=m.open, close=m.close, rsi=ind.rsi, adx=ind.adx, bench_close=m.bench_close,
        sma_long=ind.sma_long, sma_short=ind.sma_short, years=m.years, is_stock=m.is_stock,
    )


# --- running --------------------------------------------------------------------------------


def run_batch(
    m: PreparedMarket, ind: IndicatorSet, params: np.ndarray, initial_capital: float,
    *, compiled: bool = True,
) -> np.ndarray:
    """Metrics [K, len(METRIC_COLUMNS)] of K parameter vectors ([K, rules.N_PARAMS]) in one
    kernel call. `compiled=False` runs the same loop as plain Python (reference/baseline)."""
    p = _contiguous(np.atleast_2d(np.asarray(params, dtype=np.float64)), np.float64)
    if p.ndim != 2 or p.shape[1] != rules.N_PARAMS:
        raise ValueError(f"params must have shape [K, {rules.N_PARAMS}], got {p.shape}")
    out = np.full((p.shape[0], N_METRICS), np.nan)
    if p.shape[0] == 0:
        return out
    fn = _kernels(compiled)["run_batch_kernel"]
    fn(kernel_market(m, ind), int(m.start_idx), int(m.end_idx), p, float(initial_capital),
       m.calendar_days, out)
    return out


def run_detailed(
    m: PreparedMarket, ind: IndicatorSet, p: np.ndarray, initial_capital: float,
    *, compiled: bool = True,
) -> DetailedRun:
    """One parameter vector with every day-level record."""
    pv = _contiguous(np.asarray(p, dtype=np.float64).reshape(-1), np.float64)
    if pv.shape[0] != rules.N_PARAMS:
        raise ValueError(f"p must have {rules.N_PARAMS} entries, got {pv.shape[0]}")
    n_window = m.end_idx - m.start_idx + 1
    bufs = kernel.detailed_buffers(m.dates.shape[0], n_window, len(m.tickers))
    out = np.full(N_METRICS, np.nan)
    fn = _kernels(compiled)["run_detailed_kernel"]
    fn(kernel_market(m, ind), int(m.start_idx), int(m.end_idx), pv, float(initial_capital),
       m.calendar_days, out, *bufs)
    return DetailedRun(out, bufs.regime, bufs.bear_days, bufs.equity, bufs.acc,
                       **bufs.rec._asdict())


def _kernels(compiled: bool) -> dict[str, Any]:
    if not compiled:
        return {
            "run_batch_kernel": kernel.run_batch_kernel,
            "run_detailed_kernel": kernel.run_detailed_kernel,
        }
    from strategy.backtest import jit

    return jit.KERNELS


# A first backtest no bigger than this (sessions x tickers) runs as plain Python when numba is
# not loaded yet: about 5 us a cell (14 tickers x 6 years: ~0.1 s), against ~0.75 s to import
# numba and load the cached kernels (LLVM's start). Past ~150,000 cells the load is cheaper.
PLAIN_FIRST_RUN_CELLS = 100_000

_first_backtest_done = False


def _jit_loaded() -> bool:
    return "strategy.backtest.jit" in sys.modules


def _compiled_for(m: PreparedMarket) -> bool:
    """The first backtest of a process, if small, runs the kernel and the indicators as plain
    Python (the same functions, bit for bit the compiled values) instead of loading numba; every
    later one, and any once numba is loaded (a sweep, `compile_kernels`), runs compiled. A
    process that backtests once (`krx backtest`) never loads numba."""
    global _first_backtest_done
    first = not _first_backtest_done
    _first_backtest_done = True
    return not (first and not _jit_loaded()
                and m.dates.shape[0] * len(m.tickers) <= PLAIN_FIRST_RUN_CELLS)


def run_backtest(
    bars: dict[str, pd.DataFrame], settings: Settings, start: date, end: date,
    *, compiled: bool | None = None,
) -> BacktestResult:
    """Backtest `settings` on the decision window [start, end] (both benchmark sessions).

    History before `start` in `bars` is warm-up for the indicators and the regime machine; too
    little of it is allowed (no entries until the rules have values) and reported in
    `meta["warmup_notes"]`. `compiled` None: compiled except a small first backtest of the
    process while numba is not loaded (`_compiled_for`); the result is the same either way.
    `compiled=False` always runs plain Python (the Overview chart's series: tens of
    milliseconds for a year, less than loading the compiled code).
    """
    sp = settings.strategy
    m = prepare_market(bars, settings.universe, settings.benchmark, start, end)
    use_jit = _compiled_for(m) if compiled is None else compiled
    ind = compute_indicators(
        m, rsi_period=sp.rsi_period, regime_ma_long=sp.regime_ma_long,
        ma_short_period=sp.ma_short_period, adx_period=sp.adx_period, compiled=use_jit,
    )
    p = param_vector(sp, settings.guardrails)
    run = run_detailed(m, ind, p, sp.initial_capital, compiled=use_jit)
    return build_result(m, ind, run, settings)


# --- result tables --------------------------------------------------------------------------


def build_result(
    m: PreparedMarket, ind: IndicatorSet, run: DetailedRun, settings: Settings
) -> BacktestResult:
    """Tables and series of a detailed run (each built on first access)."""
    return BacktestResult(m, ind, run, settings)


def _metric_functions() -> Any:
    """The metrics module compiled once numba is loaded, else the plain one (same values)."""
    if not _jit_loaded():
        from strategy.backtest import metrics

        return metrics
    from strategy.backtest import jit

    return jit


def _meta(
    m: PreparedMarket, ind: IndicatorSet, run: DetailedRun, dates: list[date], capital: float
) -> dict[str, Any]:
    fns = _metric_functions()
    s, e = m.start_idx, m.end_idx
    mdd, peak_k, trough_k = fns.max_drawdown(run.equity)
    bench = capital * m.bench_close[s : e + 1] / m.bench_close[s]
    bench_metrics = np.full(N_METRICS, np.nan)
    fns.summary_metrics(bench, capital, m.calendar_days, np.zeros(kernel.N_ACC), bench_metrics)
    keep = ("final_equity", "total_return", "cagr", "mdd", "sharpe", "sortino", "calmar",
            "volatility")
    meta: dict[str, Any] = {
        "start": dates[0],
        "end": dates[-1],
        "benchmark": m.benchmark,
        "universe": list(m.tickers),
        "sessions": len(dates),
        "warmup_sessions": int(s),
        "mdd_peak_date": dates[peak_k] if mdd < 0 else None,
        "mdd_trough_date": dates[trough_k] if mdd < 0 else None,
        "benchmark_metrics": {
            k: float(bench_metrics[METRIC_COLUMNS.index(k)]) for k in keep
        },
        "warmup_notes": _warmup_notes(m, ind, run),
        "data_notes": list(m.notes),
        "guard_blocked_sessions": int(np.count_nonzero(run.day["guard"][:-1])),
        "halted_orders": int(np.count_nonzero(run.note == kernel.NOTE_HALT_DROPPED)),
    }
    meta["warmup_ok"] = not meta["warmup_notes"]
    return meta


def _order_events(m: PreparedMarket, run: DetailedRun, dates: list[date]) -> pd.DataFrame:
    rows = []
    for k, i in zip(*np.nonzero(run.note), strict=True):
        selling = run.qty[k - 1, i] > 0 and run.exit_code[k - 1, i] != rules.EXIT_NONE
        rows.append({
            "date": dates[k], "ticker": m.tickers[i], "side": "SELL" if selling else "BUY",
            "sized_qty": int(run.qty[k - 1, i] if selling else run.buy_qty[k - 1, i]),
            "filled_qty": abs(int(run.fill_qty[k, i])),
            "event": kernel.NOTE_NAMES[int(run.note[k, i])],
        })
    return _frame(rows, ["date", "ticker", "side", "sized_qty", "filled_qty", "event"])


_FILL_COLUMNS = ["date", "ticker", "side", "qty", "price", "notional", "commission", "tax",
                 "slippage_cost", "reason"]
_TRADE_COLUMNS = ["ticker", "entry_date", "exit_date", "entry_price", "exit_price", "qty", "pnl",
                  "return", "costs", "holding_days", "entry_reason", "exit_reason"]
_OPEN_COLUMNS = ["ticker", "entry_date", "entry_price", "qty", "close", "market_value",
                 "unrealized_pnl", "holding_days"]


def _fill_tables(
    m: PreparedMarket, run: DetailedRun, dates: list[date]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    tickers = m.tickers
    ks, iis = np.nonzero(run.fill_qty)
    order = sorted(
        zip(ks.tolist(), iis.tolist(), strict=True),
        key=lambda ki: (ki[0], run.fill_qty[ki] > 0, run.rank[ki[0] - 1, ki[1]]),
    )
    fills: list[dict[str, Any]] = []
    trades: list[dict[str, Any]] = []
    open_buy: dict[int, tuple[int, dict[str, Any]]] = {}
    for k, i in order:
        q = int(run.fill_qty[k, i])
        price = float(run.fill_price[k, i])
        comm = float(run.fill_commission[k, i])
        tax = float(run.fill_tax[k, i])
        if q > 0:
            reason = rules.ENTRY_NAME
        else:
            reason = rules.EXIT_NAMES[int(run.exit_code[k - 1, i])]
        row: dict[str, Any] = {
            "date": dates[k], "ticker": tickers[i], "side": "BUY" if q > 0 else "SELL",
            "qty": abs(q), "price": price, "notional": abs(q) * price, "commission": comm,
            "tax": tax, "slippage_cost": float(run.fill_slippage[k, i]), "reason": reason,
        }
        fills.append(row)
        if q > 0:
            open_buy[i] = (k, row)
            continue
        k0, buy = open_buy.pop(i)
        cost = buy["notional"] + buy["commission"]
        pnl = row["notional"] - comm - tax - cost
        trades.append({
            "ticker": tickers[i], "entry_date": buy["date"], "exit_date": row["date"],
            "entry_price": buy["price"], "exit_price": price, "qty": -q, "pnl": pnl,
            "return": pnl / cost, "costs": buy["commission"] + comm + tax,
            "holding_days": k - k0, "entry_reason": buy["reason"], "exit_reason": reason,
        })
    last = len(dates) - 1
    e = m.end_idx
    opens = []
    for i, (k0, buy) in sorted(open_buy.items()):
        close = float(m.close[e, i])
        value = buy["qty"] * close
        opens.append({
            "ticker": tickers[i], "entry_date": buy["date"], "entry_price": buy["price"],
            "qty": buy["qty"], "close": close, "market_value": value,
            "unrealized_pnl": value - buy["notional"] - buy["commission"],
            "holding_days": last - k0,
        })
    return (
        _frame(fills, _FILL_COLUMNS), _frame(trades, _TRADE_COLUMNS), _frame(opens, _OPEN_COLUMNS)
    )


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    # Column-wise construction: pandas builds a frame from a list of dicts much more slowly.
    return pd.DataFrame({c: [r[c] for r in rows] for c in columns}, columns=columns)


def _per_year(
    equity: np.ndarray, idx: pd.DatetimeIndex, capital: float, drawdown: Any
) -> pd.DataFrame:
    years = idx.year.to_numpy()
    rows = []
    base = capital
    for y in np.unique(years):
        seg = equity[years == y]
        mdd, _, _ = drawdown(np.concatenate(([base], seg)))
        rows.append({"year": int(y), "return": seg[-1] / base - 1.0, "mdd": mdd})
        base = seg[-1]
    return _frame(rows, ["year", "return", "mdd"])


def _warmup_notes(m: PreparedMarket, ind: IndicatorSet, run: DetailedRun) -> list[str]:
    s, e = m.start_idx, m.end_idx
    notes = []
    dates = m.dates

    def first_defined(ok: np.ndarray) -> str:
        j = np.flatnonzero(ok[s : e + 1])
        return str(dates[s + j[0]]) if j.size else "never in the window"

    if run.regime[s] == rules.REGIME_UNKNOWN:
        known = run.regime != rules.REGIME_UNKNOWN
        notes.append(
            f"regime UNKNOWN at start {dates[s]} (not enough benchmark history for the SMAs); "
            f"first known: {first_defined(known)}"
        )
    if math.isnan(ind.adx[s]):
        notes.append(
            f"ADX undefined at start {dates[s]} (entries blocked as chop); "
            f"first defined: {first_defined(~np.isnan(ind.adx))}"
        )
    for i, code in enumerate(m.tickers):
        if math.isnan(ind.rsi[s, i]):
            notes.append(
                f"{code}: RSI undefined at start {dates[s]}; "
                f"first defined: {first_defined(~np.isnan(ind.rsi[:, i]))}"
            )
    return notes
