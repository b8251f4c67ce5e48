"""Fixtures for the backtest tests: synthetic bar frames with hand-checkable numbers, the real
KRX bars (the in-repo copy, data/krx/daily) and backtests on them shared across modules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from contracts.settings import Guardrails, Settings, StrategyParams
from strategy.marketdata.base import make_bar_frame

REAL_START = date(2021, 1, 4)
REAL_END = date(2025, 12, 29)
DEFAULT_UNIVERSE = ["069500", "229200", "091160", "305720", "005930"]


def bar_frame(
    dates: Sequence[date] | pd.DatetimeIndex,
    close: Sequence[float],
    open_: Sequence[float] | None = None,
    spread: float = 1.0,
) -> pd.DataFrame:
    """Bars with the given closes and opens (open = previous close, or the first close);
    high/low are `spread` around max/min(open, close); a 0 open is a halt (o = h = l = 0)."""
    c = np.asarray(close, dtype=np.float64)
    o = np.asarray(open_, dtype=np.float64) if open_ is not None else np.r_[c[0], c[:-1]]
    halt = o == 0.0
    hi = np.where(halt, 0.0, np.maximum(o, c) + spread)
    lo = np.where(halt, 0.0, np.minimum(o, c) - spread)
    values = np.column_stack([o, hi, lo, c, np.where(halt, 0.0, 1000.0)])
    return make_bar_frame(pd.DatetimeIndex(dates).values, values)


def sessions(first: str, n: int) -> pd.DatetimeIndex:
    """`n` business days from `first` (synthetic sessions; holidays do not matter here)."""
    return pd.bdate_range(first, periods=n)


def rising_benchmark(dates: pd.DatetimeIndex) -> pd.DataFrame:
    """A benchmark that rises 1 a day: always BULL, ADX 100 (never chop)."""
    close = 100.0 + np.arange(len(dates), dtype=np.float64)
    return bar_frame(dates, close, close - 0.25, spread=0.5)


def small_settings(
    universe: list[str],
    benchmark: str = "069500",
    guardrails: dict[str, Any] | None = None,
    **strategy: Any,
) -> Settings:
    """Settings with periods small enough for the rules to fire within a few sessions; with
    2 slots a buy is half the equity, so the single-order guardrail is opened to 100 %."""
    params: dict[str, Any] = {
        "rsi_period": 2,
        "regime_ma_long": 3,
        "ma_short_period": 2,
        "adx_period": 2,
        "min_regime_hold_days": 0,
        "max_positions": 2,
        "initial_capital": 1_000_000.0,
    }
    params.update(strategy)
    return Settings(
        benchmark=benchmark,
        universe=universe,
        strategy=StrategyParams(**params),
        guardrails=Guardrails(**{"max_single_order_pct": 1.0, **(guardrails or {})}),
    )


STOP = 1000.5 * (1.0 - 0.12)  # entry fill 1000 × 1.0005, stop 12 %


def stop_bars(
    first: str, ticker: str, n: int = 8, stop_close: float = STOP
) -> tuple[dict[str, pd.DataFrame], pd.DatetimeIndex]:
    """A rising benchmark plus `ticker`: RSI(2) entry decided at session 3, bought at the open
    of 4 (1000), close at the stop (entry × 0.88) at 5, open 900 at 6, then flat at 900;
    `n` sessions so there can be bars after the window's end."""
    idx = sessions(first, n)
    close = [1020.0, 1030.0, 1020.0, 1000.0, 1000.0, stop_close] + [900.0] * (n - 6)
    open_ = [1020.0, 1020.0, 1030.0, 1020.0, 1000.0, 1000.0] + [900.0] * (n - 6)
    return {"069500": rising_benchmark(idx), ticker: bar_frame(idx, close, open_)}, idx


@pytest.fixture(scope="session")
def synth() -> SimpleNamespace:
    """Factories for synthetic bars and small-period settings."""
    return SimpleNamespace(
        bar_frame=bar_frame, sessions=sessions, rising_benchmark=rising_benchmark,
        small_settings=small_settings, stop_bars=stop_bars, STOP=STOP,
    )


@pytest.fixture(scope="session")
def real_tickers(krx_master_path: Path) -> list[str]:
    master = pd.read_csv(krx_master_path, dtype={"code": str})
    return list(master["code"])


@pytest.fixture(scope="session")
def real_bars(krx_data_dir: Path, real_tickers: list[str]) -> dict[str, pd.DataFrame]:
    """All 14 tickers, 2020-01-02..2025-12-29 (2020 is the warm-up of a 2021 start)."""
    from strategy.marketdata.csv_provider import CsvProvider

    return dict(CsvProvider(krx_data_dir).load(real_tickers, end=REAL_END))


@pytest.fixture(scope="session")
def default_settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def all_settings(real_tickers: list[str]) -> Settings:
    return Settings(universe=real_tickers)


@pytest.fixture(scope="session")
def default_result(real_bars: dict[str, pd.DataFrame], default_settings: Settings) -> Any:
    from strategy.backtest.engine import run_backtest

    return run_backtest(real_bars, default_settings, REAL_START, REAL_END)


@pytest.fixture(scope="session")
def all_result(real_bars: dict[str, pd.DataFrame], all_settings: Settings) -> Any:
    from strategy.backtest.engine import run_backtest

    return run_backtest(real_bars, all_settings, REAL_START, REAL_END)


@pytest.fixture(scope="session", autouse=True)
def _compiled_kernels(numba_kernels: None) -> None:
    """Every backtest test runs on kernels compiled once per run (see `numba_kernels`)."""
