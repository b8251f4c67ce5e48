"""strategy.indicators against TA-Lib, against plain loops, and against hand-computed values.

The ``reference_*`` loops below follow TA-Lib's C code step by step (same initialisation, same
update order, exact zero tests); benchmarks/bench_indicators.py times them too.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from strategy.indicators import adx, rsi, rsi_columns, sma

DAILY_DIR = Path(__file__).resolve().parents[2] / "data" / "krx" / "daily"
TICKERS = sorted(p.stem for p in DAILY_DIR.glob("*.csv"))
HALT_TICKER = "035720"  # open = high = low = 0, volume 0 on 2021-04-12..14


# --- plain-loop references (TA-Lib's algorithms, one bar at a time) -------------------------


def reference_sma(values: list[float], n: int) -> list[float]:
    out = [math.nan] * len(values)
    if len(values) < n:
        return out
    total = sum(values[: n - 1])
    for t in range(n - 1, len(values)):
        total += values[t]
        out[t] = total / n
        total -= values[t - n + 1]
    return out


def reference_rsi(close: list[float], n: int) -> list[float]:
    out = [math.nan] * len(close)
    if len(close) <= n:
        return out
    gain = loss = 0.0
    for t in range(1, n + 1):
        change = close[t] - close[t - 1]
        if change < 0:
            loss -= change
        else:
            gain += change
    gain /= n
    loss /= n
    out[n] = 100.0 * (gain / (gain + loss)) if gain + loss != 0.0 else 0.0
    for t in range(n + 1, len(close)):
        change = close[t] - close[t - 1]
        gain *= n - 1
        loss *= n - 1
        if change < 0:
            loss -= change
        else:
            gain += change
        gain /= n
        loss /= n
        out[t] = 100.0 * (gain / (gain + loss)) if gain + loss != 0.0 else 0.0
    return out


def reference_adx(high: list[float], low: list[float], close: list[float], n: int) -> list[float]:
    out = [math.nan] * len(high)
    if len(high) < 2 * n:
        return out
    tr_sum = plus_sum = minus_sum = 0.0

    def step(t: int, decay: bool) -> float | None:
        """Advance the smoothed sums to bar t; return DX, or None where it is undefined."""
        nonlocal tr_sum, plus_sum, minus_sum
        up = high[t] - high[t - 1]
        down = low[t - 1] - low[t]
        if decay:
            plus_sum -= plus_sum / n
            minus_sum -= minus_sum / n
            tr_sum -= tr_sum / n
        if down > 0 and up < down:
            minus_sum += down
        elif up > 0 and up > down:
            plus_sum += up
        tr_sum += max(high[t] - low[t], abs(high[t] - close[t - 1]), abs(low[t] - close[t - 1]))
        if tr_sum == 0.0:
            return None
        plus_di = 100.0 * (plus_sum / tr_sum)
        minus_di = 100.0 * (minus_sum / tr_sum)
        if plus_di + minus_di == 0.0:
            return None
        return 100.0 * (abs(minus_di - plus_di) / (minus_di + plus_di))

    for t in range(1, n):
        step(t, decay=False)
    dx_sum = 0.0
    for t in range(n, 2 * n):
        dx = step(t, decay=True)
        dx_sum += 0.0 if dx is None else dx
    value = dx_sum / n
    out[2 * n - 1] = value
    for t in range(2 * n, len(high)):
        dx = step(t, decay=True)
        if dx is not None:
            value = (value * (n - 1) + dx) / n
        out[t] = value
    return out


# --- fixtures and helpers -----------------------------------------------------------------


@pytest.fixture(scope="module")
def talib() -> ModuleType:
    try:
        import talib
    except ImportError:
        pytest.fail("TA-Lib is the reference for these tests: install the dev extras (ta-lib)")
    return talib


@functools.cache
def load_daily(ticker: str) -> dict[str, np.ndarray]:
    path = DAILY_DIR / f"{ticker}.csv"
    header = path.read_text().splitlines()[0].split(",")
    table = np.loadtxt(path, delimiter=",", skiprows=1, usecols=range(1, len(header)))
    return {name: table[:, i].copy() for i, name in enumerate(header[1:])}


def require_daily(ticker: str) -> dict[str, np.ndarray]:
    if ticker not in TICKERS:
        pytest.fail(f"{ticker}.csv not found under {DAILY_DIR}: the checkout is incomplete")
    return load_daily(ticker)


@pytest.fixture(params=TICKERS or ["069500"])
def daily(request: pytest.FixtureRequest) -> dict[str, np.ndarray]:
    return require_daily(request.param)


def random_walk(size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 10_000.0 + np.cumsum(rng.normal(0.0, 50.0, size)).round()
    high = close + rng.integers(0, 80, size)
    low = close - rng.integers(0, 80, size)
    return high, low, close


def assert_same_as(expected: np.ndarray, actual: np.ndarray) -> None:
    """NaN exactly where expected is NaN, equal within 1e-6 elsewhere."""
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=0.0, atol=1e-6)


# --- TA-Lib on the real KRX bars ----------------------------------------------------------


@pytest.mark.parametrize("n", [5, 60, 120])
def test_sma_matches_talib_on_krx_daily(talib, daily, n):
    assert_same_as(talib.SMA(daily["close"], n), sma(daily["close"], n))


@pytest.mark.parametrize("n", [2, 14, 40])
def test_rsi_matches_talib_on_krx_daily(talib, daily, n):
    assert_same_as(talib.RSI(daily["close"], n), rsi(daily["close"], n))


@pytest.mark.parametrize("n", [2, 14, 30])
def test_adx_matches_talib_on_krx_daily(talib, daily, n):
    bars = (daily["high"], daily["low"], daily["close"])
    assert_same_as(talib.ADX(*bars, n), adx(*bars, n))


def test_adx_matches_talib_across_trading_halt(talib):
    bars = require_daily(HALT_TICKER)
    halted = np.flatnonzero(bars["open"] == 0)
    assert halted.size == 3 and (bars["high"][halted] == 0).all()  # the data this test relies on
    for n in (2, 14, 30):
        hlc = (bars["high"], bars["low"], bars["close"])
        assert_same_as(talib.ADX(*hlc, n), adx(*hlc, n))


# --- the plain loops ----------------------------------------------------------------------


@pytest.mark.parametrize("ticker", ["069500", HALT_TICKER])
def test_indicators_match_loop_reference_on_krx_daily(ticker):
    bars = require_daily(ticker)
    h, lo, c = bars["high"], bars["low"], bars["close"]
    hl, ll, cl = h.tolist(), lo.tolist(), c.tolist()
    assert_same_as(np.array(reference_sma(cl, 120)), sma(c, 120))
    assert_same_as(np.array(reference_rsi(cl, 40)), rsi(c, 40))
    assert_same_as(np.array(reference_adx(hl, ll, cl, 30)), adx(h, lo, c, 30))


def test_reference_loops_match_talib(talib):
    h, lo, c = random_walk(700, seed=7)
    hl, ll, cl = h.tolist(), lo.tolist(), c.tolist()
    assert_same_as(talib.SMA(c, 20), np.array(reference_sma(cl, 20)))
    assert_same_as(talib.RSI(c, 14), np.array(reference_rsi(cl, 14)))
    assert_same_as(talib.ADX(h, lo, c, 14), np.array(reference_adx(hl, ll, cl, 14)))


# Lengths around the dense/blocked switch of the recurrence solver (64 steps) and past two levels
# of blocking (> 64 * 64 steps).
@pytest.mark.parametrize("size", [4, 5, 30, 65, 66, 67, 68, 131, 1000, 4200, 10_000])
def test_indicators_match_talib_for_series_lengths(talib, size):
    h, lo, c = random_walk(size, seed=size)
    for n in (2, 3, 14):
        assert_same_as(talib.SMA(c, n), sma(c, n))
        assert_same_as(talib.RSI(c, n), rsi(c, n))
        assert_same_as(talib.ADX(h, lo, c, n), adx(h, lo, c, n))


def test_indicators_values_do_not_depend_on_later_bars():
    # Bit for bit, so a decision at T is the same on data cut at T as on the full history.
    h, lo, c = random_walk(1500, seed=13)
    full = (sma(c, 120), rsi(c, 14), adx(h, lo, c, 30))
    for cut in (59, 60, 61, 64, 65, 130, 1023, 1024, 1025, 1472):
        cut_off = (sma(c[:cut], 120), rsi(c[:cut], 14), adx(h[:cut], lo[:cut], c[:cut], 30))
        for whole, part in zip(full, cut_off, strict=True):
            np.testing.assert_array_equal(part, whole[:cut])


# --- hand-computed values -----------------------------------------------------------------


def test_sma_hand_computed_example():
    np.testing.assert_allclose(sma([1.0, 2.0, 3.0, 5.0], 2), [np.nan, 1.5, 2.5, 4.0])


def test_rsi_hand_computed_example():
    # close 10, 11, 10, 12, 12, 11 -> changes +1, -1, +2, 0, -1.
    # t=3: first averages over 3 changes: gain (1+0+2)/3 = 1, loss (0+1+0)/3 = 1/3
    #      RSI = 100 * 1 / (1 + 1/3) = 75
    # t=4: change 0: gain (1*2 + 0)/3 = 2/3, loss (1/3*2 + 0)/3 = 2/9 -> 100 * (6/9) / (8/9) = 75
    # t=5: change -1: gain (2/3*2)/3 = 4/9, loss (2/9*2 + 1)/3 = 13/27
    #      RSI = 100 * (12/27) / (25/27) = 48
    close = [10.0, 11.0, 10.0, 12.0, 12.0, 11.0]
    np.testing.assert_allclose(rsi(close, 3), [np.nan, np.nan, np.nan, 75.0, 75.0, 48.0])


def test_adx_hand_computed_example():
    # bar  high low close   +DM  -DM  TR
    #  0    10   8    9
    #  1    12   9   11      2    0    3   (up 2, down -1; TR max(3, |12-9|, |9-9|))
    #  2    13  11   12      1    0    2
    #  3    12   9   10      0    2    3   (up -1, down 2; TR max(3, 0, |9-12|))
    #  4    14  10   13      2    0    4
    # n=2: sums start with bar 1 alone (n-1 = 1 step): TR 3, +DM 2, -DM 0; then S <- S - S/2 + x.
    # bar 2: TR 3.5, +DM 2, -DM 0      -> +DI 400/7, -DI 0        -> DX 100
    # bar 3: TR 4.75, +DM 1, -DM 2     -> DI in ratio 1:2         -> DX 100 * 1/3
    #   first ADX (bar 3) = (100 + 100/3) / 2 = 200/3
    # bar 4: TR 6.375, +DM 2.5, -DM 1  -> DX 100 * 1.5/3.5 = 300/7
    #   ADX = (200/3 * 1 + 300/7) / 2 = 1150/21
    high = [10.0, 12.0, 13.0, 12.0, 14.0]
    low = [8.0, 9.0, 11.0, 9.0, 10.0]
    close = [9.0, 11.0, 12.0, 10.0, 13.0]
    np.testing.assert_allclose(
        adx(high, low, close, 2), [np.nan, np.nan, np.nan, 200 / 3, 1150 / 21], rtol=1e-12
    )


# --- edge values --------------------------------------------------------------------------


def test_rsi_is_zero_on_constant_series(talib):
    close = np.full(50, 31_000.0)
    expected = np.r_[np.full(14, np.nan), np.zeros(36)]
    np.testing.assert_array_equal(rsi(close, 14), expected)
    np.testing.assert_array_equal(talib.RSI(close, 14), expected)


def test_adx_is_zero_on_flat_series(talib):
    price = np.full(60, 31_000.0)
    expected = np.r_[np.full(27, np.nan), np.zeros(33)]
    np.testing.assert_array_equal(adx(price, price, price, 14), expected)
    np.testing.assert_array_equal(talib.ADX(price, price, price, 14), expected)


def test_sma_is_exact_on_constant_series():
    np.testing.assert_array_equal(sma(np.full(10, 0.1), 3), np.r_[np.nan, np.nan, np.full(8, 0.1)])


def test_rsi_is_zero_until_first_change_then_matches_talib(talib):
    _, _, moving = random_walk(80, seed=3)
    close = np.r_[np.full(30, moving[0]), moving]
    out = rsi(close, 5)
    assert (out[5:30] == 0.0).all()
    assert_same_as(talib.RSI(close, 5), out)


@pytest.mark.parametrize(
    "offsets",
    [
        pytest.param((0.0, 0.0, 0.0), id="flat"),  # TR sum stays 0
        pytest.param((10.0, -10.0, 0.0), id="range-without-direction"),  # DI sum stays 0
    ],
)
def test_adx_holds_value_while_dx_undefined(talib, offsets):
    # Undefined DX bars count as 0 in the first ADX and leave later ADX values unchanged.
    h, lo, c = random_walk(60, seed=11)
    high, low, close = (
        np.r_[np.full(20, c[0] + d), a] for d, a in zip(offsets, (h, lo, c), strict=True)
    )
    out = adx(high, low, close, 3)
    assert (out[5:20] == 0.0).all()
    assert_same_as(talib.ADX(high, low, close, 3), out)
    assert_same_as(np.array(reference_adx(high.tolist(), low.tolist(), close.tolist(), 3)), out)


@pytest.mark.parametrize("scale", [1e-12, 1e-20])
def test_indicators_match_talib_on_tiny_prices(talib, scale):
    # The zero tests are exact: moves far below 1e-8 still count (no epsilon band).
    h, lo, c = (a * scale for a in random_walk(300, seed=14))
    assert_same_as(talib.RSI(c, 14), rsi(c, 14))
    assert_same_as(talib.ADX(h, lo, c, 14), adx(h, lo, c, 14))
    assert np.nanmin(adx(h, lo, c, 14)) > 1.0


@pytest.mark.parametrize("size", [0, 1, 2, 13])
def test_indicators_all_nan_when_period_longer_than_series(size):
    h, lo, c = random_walk(size, seed=1)
    for out in (sma(c, 14), rsi(c, 14), adx(h, lo, c, 14)):
        assert out.shape == (size,) and out.dtype == np.float64
        assert np.isnan(out).all()


def test_indicators_first_value_at_lookback(talib):
    # The shortest series with a value: n bars for SMA, n + 1 for RSI, 2n for ADX.
    n = 7
    h, lo, c = random_walk(2 * n, seed=5)
    assert_same_as(talib.SMA(c[:n], n), sma(c[:n], n))
    assert np.flatnonzero(~np.isnan(sma(c[:n], n))).tolist() == [n - 1]
    assert_same_as(talib.RSI(c[: n + 1], n), rsi(c[: n + 1], n))
    assert np.flatnonzero(~np.isnan(rsi(c[: n + 1], n))).tolist() == [n]
    assert_same_as(talib.ADX(h, lo, c, n), adx(h, lo, c, n))
    assert np.flatnonzero(~np.isnan(adx(h, lo, c, n))).tolist() == [2 * n - 1]
    assert np.isnan(rsi(c[:n], n)).all() and np.isnan(adx(h[:-1], lo[:-1], c[:-1], n)).all()


@pytest.mark.parametrize("n", [1, 0, -3])
def test_indicators_reject_period_below_two(n):
    h, lo, c = random_walk(50, seed=2)
    with pytest.raises(ValueError, match="period"):
        sma(c, n)
    with pytest.raises(ValueError, match="period"):
        rsi(c, n)
    with pytest.raises(ValueError, match="period"):
        adx(h, lo, c, n)


def test_indicators_reject_non_integer_period():
    _, _, c = random_walk(50, seed=2)
    with pytest.raises(TypeError):
        rsi(c, 14.0)  # type: ignore[arg-type]


def test_adx_rejects_mismatched_lengths():
    h, lo, c = random_walk(50, seed=2)
    with pytest.raises(ValueError, match="same length"):
        adx(h, lo[:-1], c, 14)
    with pytest.raises(ValueError, match="same length"):
        adx(h, lo, c[1:], 14)


def test_indicators_reject_two_dimensional_input():
    with pytest.raises(ValueError, match="1-D"):
        rsi(np.ones((30, 2)), 14)
    with pytest.raises(ValueError, match="1-D"):
        sma(np.ones((30, 2)), 14)


def test_indicators_leave_input_untouched_and_return_new_arrays():
    h, lo, c = random_walk(100, seed=4)
    before = [a.copy() for a in (h, lo, c)]
    outs = [sma(c, 5), rsi(c, 5), adx(h, lo, c, 5)]
    for a, b in zip((h, lo, c), before, strict=True):
        np.testing.assert_array_equal(a, b)
    for out in outs:
        assert not any(np.shares_memory(out, a) for a in (h, lo, c))


def test_indicators_accept_lists_and_integer_arrays(talib):
    _, _, c = random_walk(60, seed=6)
    as_int = c.astype(np.int64)
    assert_same_as(talib.RSI(as_int.astype(float), 5), rsi(as_int, 5))
    assert_same_as(talib.SMA(c, 5), sma(c.tolist(), 5))


# --- missing values -----------------------------------------------------------------------


def test_indicators_skip_leading_nan_like_talib(talib):
    h, lo, c = random_walk(200, seed=8)
    c[:10] = np.nan
    h[:13] = np.nan  # ADX starts at the first row where all three are present
    assert_same_as(talib.SMA(c, 20), sma(c, 20))
    assert_same_as(talib.RSI(c, 14), rsi(c, 14))
    assert_same_as(talib.ADX(h, lo, c, 14), adx(h, lo, c, 14))
    assert np.flatnonzero(~np.isnan(rsi(c, 14)))[0] == 10 + 14
    assert np.flatnonzero(~np.isnan(adx(h, lo, c, 14)))[0] == 13 + 2 * 14 - 1


def test_indicators_nan_after_start_makes_rest_nan(talib):
    # Stricter than TA-Lib for RSI and ADX, whose output after a gap is 0 or a frozen value.
    h, lo, c = random_walk(200, seed=9)
    gappy_close = c.copy()
    gappy_close[120] = np.nan
    gappy_low = lo.copy()
    gappy_low[150] = np.nan
    assert_same_as(talib.SMA(gappy_close, 20), sma(gappy_close, 20))
    for out, gap in [
        (sma(gappy_close, 20), 120),
        (rsi(gappy_close, 14), 120),
        (adx(h, gappy_low, c, 14), 150),
        (adx(h, lo, gappy_close, 14), 120),  # TA-Lib's ADX ignores a close-only NaN
    ]:
        assert not np.isnan(out[gap - 1]) and np.isnan(out[gap:]).all()
    np.testing.assert_array_equal(rsi(gappy_close, 14)[:120], rsi(c, 14)[:120])
    np.testing.assert_array_equal(adx(h, gappy_low, c, 14)[:150], adx(h, lo, c, 14)[:150])


def test_indicators_all_nan_input_gives_all_nan():
    nan = np.full(40, np.nan)
    assert np.isnan(sma(nan, 5)).all()
    assert np.isnan(rsi(nan, 5)).all()
    assert np.isnan(adx(nan, nan, nan, 5)).all()


def test_indicators_treat_infinity_as_missing():
    _, _, c = random_walk(100, seed=12)
    c[60] = np.inf
    out = rsi(c, 14)
    assert np.isfinite(out[14:60]).all() and np.isnan(out[60:]).all()


@pytest.mark.parametrize("n", [2, 14, 40])
def test_rsi_columns_is_rsi_of_each_column_and_matches_talib(talib, n):
    """The backtest's one-pass RSI of a universe: each column bit for bit `rsi` of that column
    alone (leading NaN, a gap and a flat series included), and TA-Lib where TA-Lib is defined."""
    size = min(load_daily(t)["close"].shape[0] for t in TICKERS) if TICKERS else 0
    cols = [load_daily(t)["close"][-size:] for t in TICKERS]
    _, _, walk = random_walk(800, seed=3)
    late = walk.copy()
    late[:90] = np.nan
    gap = walk.copy()
    gap[500] = np.nan
    extra = [np.pad(c, (max(0, size - 800), 0), constant_values=np.nan)[-size:]
             if size else c for c in (walk, late, gap, np.full(800, 7.0))]
    close = np.column_stack(cols + extra) if size else np.column_stack(extra)
    out = rsi_columns(close, n)
    for i in range(close.shape[1]):
        np.testing.assert_array_equal(out[:, i], rsi(close[:, i], n))
    for i in range(len(cols)):
        expected = talib.RSI(close[:, i], n)
        np.testing.assert_array_equal(np.isnan(out[:, i]), np.isnan(expected))
        np.testing.assert_allclose(out[:, i], expected, rtol=0.0, atol=1e-9)


def test_rsi_columns_refuses_a_1d_array():
    with pytest.raises(ValueError, match="2-D"):
        rsi_columns(np.arange(30.0), 14)
