"""The compiled copies of `strategy.rules`: same answers as the plain functions, cached on disk,
and numba stays out of the daily cycle's imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from strategy import indicators, rules
from strategy.backtest import jit

REPO = Path(__file__).resolve().parents[3]


def _random_session(rng: np.random.Generator, n: int) -> tuple[object, ...]:
    close = rng.uniform(5_000, 50_000, n)
    rsi = np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 100, n))
    held = np.where(rng.random(n) < 0.4, rng.integers(1, 500, n), 0).astype(np.int64)
    entry = np.where(held > 0, close * rng.uniform(0.8, 1.2, n), 0.0)
    p = np.zeros(rules.N_PARAMS)
    p[rules.P_ADX_THRESHOLD] = 17.5
    p[rules.P_CHOP_EXIT_ALL] = float(rng.random() < 0.5)
    p[rules.P_RSI_BUY] = rng.uniform(20, 60)
    p[rules.P_RSI_SELL] = rng.uniform(60, 90)
    p[rules.P_STOP_LOSS] = rng.uniform(0.02, 0.2)
    p[rules.P_MAX_POSITIONS] = float(rng.integers(1, 8))
    p[rules.P_MIN_CASH] = 0.01
    p[rules.P_MAX_ORDERS] = float(rng.integers(1, 20))
    p[rules.P_MAX_SINGLE] = rng.uniform(0.1, 1.0)
    p[rules.P_MAX_TURNOVER] = rng.uniform(0.5, 1.0)
    regime = int(rng.integers(0, 3))
    adx = float(np.nan if rng.random() < 0.1 else rng.uniform(5, 40))
    return regime, adx, close, rsi, held, entry, float(rng.uniform(0, 5e6)), p


def test_jit_decide_session_equals_plain_rules_on_random_sessions() -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(1, 15))
        args = _random_session(rng, n)
        outs = [[np.zeros(n, np.int64) for _ in range(3)] for _ in range(2)]
        plain = rules.decide_session(*args, *outs[0])
        compiled = jit.decide_session(*args, *outs[1])
        assert plain == compiled
        for a, b in zip(outs[0], outs[1], strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("year", [2021, 2022, 2023, 2024, 2025, 2030])
def test_jit_sell_tax_and_buy_qty_equal_plain_rules(year: int) -> None:
    for stock in (True, False):
        assert jit.sell_tax_rate(year, stock) == rules.sell_tax_rate(year, stock)
    for cash in (0.0, 9_999.0, 1e6, 3.3e7):
        assert jit.buy_qty_at_fill(cash, 1e4, 1000.5, 0.00015, 700) == rules.buy_qty_at_fill(
            cash, 1e4, 1000.5, 0.00015, 700
        )


def test_jit_regime_series_equals_plain_rules() -> None:
    rng = np.random.default_rng(3)
    close = 100 * np.cumprod(1 + rng.normal(0, 0.02, 600))
    sma_l = np.convolve(close, np.ones(50) / 50)[: close.size]
    sma_s = np.convolve(close, np.ones(20) / 20)[: close.size]
    sma_l[:49] = np.nan
    sma_s[:19] = np.nan
    for golden, hold in ((True, 30), (False, 30), (False, 0)):
        a = [np.zeros(600, np.int64), np.zeros(600, np.int64)]
        b = [np.zeros(600, np.int64), np.zeros(600, np.int64)]
        rules.regime_series(close, sma_l, sma_s, golden, hold, *a)
        jit.regime_series(close, sma_l, sma_s, golden, hold, *b)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def test_jit_kernels_load_from_cache_in_a_fresh_process() -> None:
    jit.compile_kernels()  # this process compiled or loaded them: the cache is populated
    out = _run(
        "import json; from strategy.backtest import jit; jit.compile_kernels(); "
        "s = [jit.run_batch_kernel.stats, jit.run_detailed_kernel.stats]; "
        "print(json.dumps([[sum(x.cache_hits.values()), sum(x.cache_misses.values())] "
        "for x in s]))"
    )
    assert json.loads(out) == [[1, 0], [1, 0]]


def test_daily_cycle_imports_do_not_load_numba() -> None:
    out = _run(
        "import sys, strategy.rules, strategy.signals, strategy.planner, strategy.params; "
        "print('numba' in sys.modules)"
    )
    assert out == "False"


def test_first_small_backtest_of_a_process_runs_without_numba_then_compiled() -> None:
    jit.compile_kernels()  # the cache is filled: the second backtest only loads the kernels
    out = _run(
        "import json, sys; from datetime import date; from pathlib import Path; "
        "from contracts.settings import Settings; "
        "from strategy.backtest.engine import run_backtest; "
        "from strategy.marketdata import make_provider; "
        "d = Path('data/krx/daily'); t = sorted(p.stem for p in d.glob('*.csv')); "
        "s = Settings(universe=t); "
        "bars = dict(make_provider(f'csv:{d}').load(t, end=date(2025, 12, 29))); "
        "a = run_backtest(bars, s, date(2021, 1, 4), date(2025, 12, 29)); "
        "_ = (a.meta, a.per_year); first = 'numba' in sys.modules; "
        "b = run_backtest(bars, s, date(2021, 1, 4), date(2025, 12, 29)); "
        "print(json.dumps([first, 'numba' in sys.modules, a.metrics == b.metrics, "
        "bool((a.equity == b.equity).all()), a.per_year.equals(b.per_year)]))"
    )
    assert json.loads(out) == [False, True, True, True, True]


def test_jit_cache_key_carries_fingerprint_of_rules_source() -> None:
    import hashlib

    digest = hashlib.sha256()
    for name in ("strategy/rules.py", "strategy/backtest/metrics.py",
                 "strategy/backtest/kernel.py", "strategy/backtest/jit.py"):
        digest.update((REPO / name).read_bytes())
    assert jit.SOURCE_FINGERPRINT == digest.hexdigest()[:16]
    cache = jit.run_batch_kernel._cache
    key = cache._index_key((), jit.run_batch_kernel.targetctx.codegen())
    assert key[-1] == jit.SOURCE_FINGERPRINT  # an edit of rules.py recompiles the kernels


def _closes(real_bars: dict[str, pd.DataFrame]) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    tail = min(len(df) for df in real_bars.values())
    real = np.column_stack([df["close"].to_numpy(float)[-tail:] for df in real_bars.values()])
    walk = np.round(100.0 + np.cumsum(rng.normal(size=(600, 4)), axis=0), 1)
    walk[:, 2] = 50.0  # a series that never moves: RSI 0
    return [np.ascontiguousarray(real), walk, np.round(rng.normal(size=(12, 3)), 2)]


@pytest.mark.parametrize("n", [2, 3, 8, 14, 40, 100, 599, 600])
def test_compiled_rsi_is_bit_for_bit_the_daily_cycle_rsi(
    n: int, real_bars: dict[str, pd.DataFrame]
) -> None:
    """The backtest's compiled RSI equals `strategy.indicators` (what the daily cycle runs)
    in every bit, so the live cycle and the backtest decide on the same numbers."""
    for close in _closes(real_bars):
        out = np.full(close.shape, np.nan)
        jit.rsi_columns_kernel(close, n, out)
        np.testing.assert_array_equal(out, indicators.rsi_columns(close, n))
        for i in range(close.shape[1]):
            np.testing.assert_array_equal(out[:, i], indicators.rsi(close[:, i], n))


def test_indicator_cache_computes_each_period_once_and_equals_numpy(
    real_bars: dict[str, pd.DataFrame], all_settings: Any
) -> None:
    from datetime import date

    from strategy.backtest.engine import IndicatorCache, compute_indicators, prepare_market

    m = prepare_market(real_bars, all_settings.universe, all_settings.benchmark,
                       date(2020, 7, 1), date(2025, 12, 29))
    cache = IndicatorCache(m)
    a = cache.get(rsi_period=14, regime_ma_long=120, ma_short_period=60, adx_period=30)
    b = cache.get(rsi_period=14, regime_ma_long=200, ma_short_period=120, adx_period=14)
    assert a.rsi is b.rsi and a.sma_long is b.sma_short  # shared, not recomputed
    plain = compute_indicators(m, rsi_period=14, regime_ma_long=200, ma_short_period=120,
                               adx_period=14, compiled=False)
    for name in ("rsi", "sma_long", "sma_short", "adx"):
        np.testing.assert_array_equal(getattr(b, name), getattr(plain, name))


@pytest.mark.parametrize("n", [2, 3, 7, 8, 9, 14, 17, 30, 64, 127, 128])
def test_compiled_adx_is_bit_for_bit_the_daily_cycle_adx(
    n: int, real_bars: dict[str, pd.DataFrame]
) -> None:
    rng = np.random.default_rng(11)
    series = [tuple(df[c].to_numpy(float) for c in ("high", "low", "close"))
              for df in real_bars.values()]
    for size in (2 * n - 1, 2 * n, 700):
        close = np.round(10_000.0 + np.cumsum(rng.normal(0.0, 50.0, size)))
        series.append((close + rng.integers(0, 80, size), close - rng.integers(0, 80, size),
                       close))
    flat = np.full(300, 5.0)
    series.append((flat, flat, flat))  # never moves: ADX 0
    for high, low, close in series:
        out = np.full(close.shape, np.nan)
        jit.adx_kernel(high, low, close, n, out)
        np.testing.assert_array_equal(out, indicators.adx(high, low, close, n))
