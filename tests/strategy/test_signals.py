"""Signals on the real bars: no look-ahead, warm-up consistency, readable rows."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from contracts import Holding, Portfolio, Settings
from strategy import calendar, indicators, rules
from strategy.marketdata import CsvProvider
from strategy.signals import SignalInputError, decide, to_signals

SETTINGS = Settings()
PORTFOLIO = Portfolio(cash=3_000_000.0, holdings=[
    Holding(ticker="005930", qty=20, avg_price=60_000.0),
    Holding(ticker="069500", qty=50, avg_price=33_000.0),
    Holding(ticker="035720", qty=10, avg_price=50_000.0),  # outside the universe: exits only
])


@pytest.fixture(scope="module")
def bars(krx_data_dir):
    tickers = [*SETTINGS.universe, "035720"]
    return CsvProvider(krx_data_dir).load(tickers, end=date(2025, 12, 29))


def _key(d):
    return (d.regime, d.bear_days, d.block, d.guard, d.exit_code.tolist(), d.rank.tolist(),
            d.buy_qty.tolist(), np.round(d.rsi, 9).tolist(), round(d.adx, 9))


@pytest.mark.slow
def test_decide_has_no_look_ahead_for_every_session_2021_2025(bars):
    """Decisions at T on bars cut at T equal decisions at T on the whole history, and the
    indicator values the decision read equal the full-history series at T."""
    sessions = [d for d in calendar.sessions_in_range(date(2021, 1, 4), date(2025, 12, 29))]
    bench = bars["069500"]
    close = bench["close"].to_numpy()
    sp = SETTINGS.strategy
    full_adx = indicators.adx(bench["high"].to_numpy(), bench["low"].to_numpy(), close,
                              sp.adx_period)
    full_rsi = {t: indicators.rsi(bars[t]["close"].to_numpy(), sp.rsi_period)
                for t in SETTINGS.universe}
    regime = np.zeros(len(close), dtype=np.int64)
    bear = np.zeros(len(close), dtype=np.int64)
    rules.regime_series(close, indicators.sma(close, sp.regime_ma_long),
                        indicators.sma(close, sp.ma_short_period), True,
                        sp.min_regime_hold_days, regime, bear)
    index = {ts.date(): i for i, ts in enumerate(bench.index)}
    kinds = set()
    for t in sessions:
        cut = {k: v.loc[: pd.Timestamp(t)] for k, v in bars.items()}
        on_cut = decide(cut, t, PORTFOLIO, SETTINGS)
        on_full = decide(bars, t, PORTFOLIO, SETTINGS)
        assert _key(on_cut) == _key(on_full), t
        i = index[t]
        assert on_full.regime == regime[i] and on_full.bear_days == bear[i], t
        assert on_full.adx == pytest.approx(full_adx[i], abs=1e-9)
        for j, code in enumerate(SETTINGS.universe):
            assert on_full.rsi[j] == pytest.approx(full_rsi[code][i], abs=1e-9)
        kinds.add(rules.REGIME_NAMES[on_full.regime])
        kinds.update(rules.EXIT_NAMES[c] for c in on_full.exit_code if c)
    assert len(sessions) > 1200
    # the period exercises both regimes and several exit kinds
    assert {"BULL", "BEAR", "BEAR_EXIT", "STOP_LOSS"} <= kinds


def test_decide_missing_bar_for_asof_is_an_error_naming_ticker(bars):
    cut = dict(bars)
    cut["091160"] = bars["091160"].iloc[:-1]
    with pytest.raises(SignalInputError, match="091160: no bar for session 2025-12-29"):
        decide(cut, date(2025, 12, 29), PORTFOLIO, SETTINGS)


def test_to_signals_rows_carry_names_reasons_and_stop_prices(bars):
    d = decide(bars, date(2025, 12, 29), PORTFOLIO, SETTINGS)
    sig = to_signals(d, SETTINGS)
    assert [r.ticker for r in sig.tickers] == [*SETTINGS.universe, "035720"]
    kakao = sig.tickers[-1]
    assert kakao.name == "카카오" and kakao.held_qty == 10
    assert kakao.stop_price == pytest.approx(50_000 * 0.88)
    assert all(r.reason is not None for r in sig.tickers)
    assert sig.regime.sma_long is not None and sig.regime.adx is not None
