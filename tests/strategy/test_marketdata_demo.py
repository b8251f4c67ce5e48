"""The synthetic demo market: deterministic, prefix-stable, plausible, and it exercises
every Crisis Alpha rule (checked with a small TA-Lib based replay of the rules)."""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import date

import numpy as np
import pandas as pd
import pytest
import talib

from strategy.calendar import load_calendar, sessions_in_range
from strategy.marketdata import (
    BAR_COLUMNS,
    BUILTIN_TICKERS,
    DEFAULT_UNIVERSE,
    DEMO_START,
    DemoProvider,
    MarketDataUnavailable,
    validate_bars,
)
from strategy.marketdata.demo import DEMO_INSTRUMENTS, _demo_bars, _market

END = date(2026, 11, 26)


def replay_rules(bars: dict[str, pd.DataFrame], universe: tuple[str, ...]) -> Counter[str]:
    """Count rule firings of Crisis Alpha with default parameters (no sizing, no costs)."""
    bench = bars[universe[0]]
    close = bench["close"].to_numpy()
    sma_long, sma_short = talib.SMA(close, 120), talib.SMA(close, 60)
    adx = talib.ADX(bench["high"].to_numpy(), bench["low"].to_numpy(), close, 30)
    rsi = {t: talib.RSI(bars[t]["close"].to_numpy(), 40) for t in universe}
    events: Counter[str] = Counter()
    regime, bear_since, held = "UNKNOWN", -1, {}
    for t in range(len(close)):
        if math.isnan(sma_long[t]) or math.isnan(sma_short[t]):
            continue
        golden = sma_short[t] > sma_long[t]
        candidate = "BULL" if close[t] >= sma_long[t] or golden else "BEAR"
        if regime == "UNKNOWN":
            regime, bear_since = candidate, t
        elif regime == "BULL" and candidate == "BEAR":
            regime, bear_since = "BEAR", t
            events["BULL->BEAR"] += 1
        elif regime == "BEAR" and candidate == "BULL" and (golden or t - bear_since >= 30):
            regime = "BULL"
            events["BEAR->BULL"] += 1
        chop = None if math.isnan(adx[t]) else bool(adx[t] < 17.5)
        events[f"chop={chop}"] += 1
        for tk, entry in list(held.items()):
            tk_close = bars[tk]["close"].iloc[t]
            if regime == "BEAR":
                events["BEAR_EXIT"] += 1
            elif tk_close <= entry * (1 - 0.12):
                events["STOP_LOSS"] += 1
            elif rsi[tk][t] > 70:
                events["RSI_TAKE_PROFIT"] += 1
            else:
                continue
            del held[tk]
        if t + 1 == len(close):
            break
        if regime != "BULL":
            events["BEAR_BLOCK"] += 1
        elif chop is not False:
            events["CHOP_BLOCK"] += 1
        else:
            for tk in universe:
                if tk not in held and rsi[tk][t] < 50:
                    held[tk] = bars[tk]["open"].iloc[t + 1] * 1.0005
                    events["RSI_DIP_ENTRY"] += 1
    for tk in universe:
        events[f"rsi<50 {tk}"] = int(np.sum(rsi[tk] < 50))
        events[f"rsi>70 {tk}"] = int(np.sum(rsi[tk] > 70))
    return events


@pytest.fixture(scope="module")
def demo_bars() -> dict[str, pd.DataFrame]:
    load_calendar()
    return DemoProvider(seed=7, end=END).load(list(DEMO_INSTRUMENTS), END)


def test_demo_provider_is_labelled_synthetic() -> None:
    provider = DemoProvider()
    assert provider.synthetic is True and provider.name == "demo"


def test_demo_frames_follow_the_bar_convention(demo_bars: dict[str, pd.DataFrame]) -> None:
    sessions = sessions_in_range(DEMO_START, END)
    assert set(DEMO_INSTRUMENTS) == set(BUILTIN_TICKERS)
    for code, df in demo_bars.items():
        assert list(df.columns) == list(BAR_COLUMNS)
        assert all(df[c].dtype == np.float64 for c in BAR_COLUMNS)
        assert df.index.name == "date" and df.index.tz is None
        assert [d.date() for d in df.index] == sessions, code


def test_demo_bars_are_plausible_and_valid(demo_bars: dict[str, pd.DataFrame]) -> None:
    sessions = sessions_in_range(DEMO_START, END)
    for code, df in demo_bars.items():
        issues = validate_bars(code, df, sessions)
        assert issues == [], (code, issues[:3])
        values = df.to_numpy()
        assert (values > 0).all(), code
        assert (values == np.round(values)).all(), code  # integer won and shares
        o, h, lo, c = (df[k] for k in ("open", "high", "low", "close"))
        assert (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all()
        daily = np.abs(np.log(c).diff().dropna())
        assert daily.max() < 0.2, code  # no absurd jumps (leveraged ETFs included)
    kodex, samsung = demo_bars["069500"]["close"], demo_bars["005930"]["close"]
    assert 25_000 <= kodex.min() and kodex.max() <= 50_000 and 30_000 < kodex.median() < 40_000
    assert 40_000 <= samsung.min() and samsung.max() <= 100_000
    assert 50_000 < samsung.median() < 80_000


def test_demo_is_deterministic() -> None:
    a = DemoProvider(seed=7, end=END).load(DEFAULT_UNIVERSE, END)
    _demo_bars.cache_clear()
    _market.cache_clear()
    b = DemoProvider(seed=7, end=END).load(DEFAULT_UNIVERSE, END)
    for code in DEFAULT_UNIVERSE:
        pd.testing.assert_frame_equal(a[code], b[code])
    c = DemoProvider(seed=8, end=END).load(["069500"], END)["069500"]
    assert not c.equals(a["069500"])


@pytest.mark.parametrize("earlier", [date(2019, 3, 4), date(2021, 6, 30), date(2025, 12, 30)])
def test_demo_prefix_is_stable_when_end_moves_forward(earlier: date) -> None:
    short = DemoProvider(seed=7, end=earlier).load(DEFAULT_UNIVERSE, earlier)
    long = DemoProvider(seed=7, end=END).load(DEFAULT_UNIVERSE, END)
    for code in DEFAULT_UNIVERSE:
        assert short[code].index[-1].date() == earlier
        pd.testing.assert_frame_equal(short[code], long[code].loc[: pd.Timestamp(earlier)])


def test_demo_never_serves_bars_after_its_end_and_honours_the_window() -> None:
    provider = DemoProvider(end=date(2025, 12, 30))
    got = provider.load(["069500"], end=date(2026, 3, 2), start=date(2025, 12, 1))["069500"]
    assert got.index[0].date() == date(2025, 12, 1)
    assert got.index[-1].date() == date(2025, 12, 30)
    open_ended = DemoProvider().load(["069500"], end=date(2026, 1, 2))["069500"]
    assert open_ended.index[-1].date() == date(2026, 1, 2)


def test_demo_unknown_ticker_and_too_early_end_are_unavailable() -> None:
    with pytest.raises(MarketDataUnavailable, match="999999"):
        DemoProvider().load(["999999"], END)
    with pytest.raises(MarketDataUnavailable, match="2019-01-02"):
        DemoProvider().load(["069500"], date(2018, 12, 28))


@pytest.mark.parametrize("seed", [7, 1, 2])
def test_demo_market_fires_every_crisis_alpha_rule(seed: int) -> None:
    bars = DemoProvider(seed=seed, end=END).load(DEFAULT_UNIVERSE, END)
    events = replay_rules(bars, DEFAULT_UNIVERSE)
    for name in (
        "BULL->BEAR",
        "BEAR->BULL",
        "chop=True",
        "chop=False",
        "BEAR_BLOCK",
        "CHOP_BLOCK",
        "RSI_DIP_ENTRY",
        "BEAR_EXIT",
        "STOP_LOSS",
        "RSI_TAKE_PROFIT",
    ):
        assert events[name] > 0, (name, events)
    for code in DEFAULT_UNIVERSE:
        assert events[f"rsi<50 {code}"] > 0 and events[f"rsi>70 {code}"] > 0, code


def test_demo_generation_is_fast() -> None:
    load_calendar()
    DemoProvider().load(["069500"], date(2019, 1, 3))  # warm the session list code path
    _demo_bars.cache_clear()
    _market.cache_clear()
    t0 = time.perf_counter()
    DemoProvider(seed=11, end=END).load(DEFAULT_UNIVERSE, END)
    # 5 tickers x ~1,940 sessions; generous bound for slow CI machines (budget is 50 ms).
    assert time.perf_counter() - t0 < 0.5
