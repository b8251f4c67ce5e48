"""Hand-computed backtests on synthetic bars (STRATEGY.md "Backtest execution model").

Every scenario uses a benchmark that rises 1 a day (always BULL, ADX 100 so never chop) unless
said otherwise, RSI(2), SMA 3/2 and ADX(2), so the first decision with every indicator defined
is session 3. The traded ticker's closes are chosen so that RSI(2) is known by hand:
closes 1020, 1030, 1020, 1000 → changes +10, −10, −20 → RSI(2) = 50 at session 2 and
100·2.5/(2.5+12.5) = 16.7 at session 3 (an entry below 50); a flat close keeps it at 16.7.
Expected numbers are written out from the documented formulas (commission 0.015 %,
slippage 0.05 %, stop 12 %, capital 1,000,000, 2 slots → 500 shares at 1000).
"""

from __future__ import annotations

import math
from datetime import date
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from strategy import rules
from strategy.backtest.engine import BacktestInputError, prepare_market, run_backtest

STOP = 1000.5 * (1.0 - 0.12)  # entry fill 1000 × 1.0005, stop 12 %
CASH_AFTER_BUY = 1_000_000.0 - 500 * 1000.5 - 500 * 1000.5 * 0.00015  # 499,674.9625


def _day(idx: pd.DatetimeIndex, k: int) -> date:
    return idx[k].date()


def test_run_backtest_buy_fill_price_qty_and_commission(synth: SimpleNamespace) -> None:
    bars, idx = synth.stop_bars("2023-03-01", "005930")
    r = run_backtest(bars, synth.small_settings(["005930"]), _day(idx, 3), _day(idx, 6))

    d = r.decisions[0]
    assert d.date == _day(idx, 3)
    assert d.rank == (1,) and d.buy_qty == (500,)  # floor(1,000,000 / 2 / 1000)
    assert d.block == rules.BLOCK_NONE and d.guard == rules.GUARD_OK
    assert d.reserve == pytest.approx(10_000.0)
    buy = r.fills.iloc[0]
    assert (buy["date"], buy["side"], buy["qty"]) == (_day(idx, 4), "BUY", 500)
    assert buy["price"] == pytest.approx(1000.5, abs=1e-9)
    assert buy["commission"] == pytest.approx(75.0375, abs=1e-9)
    assert buy["tax"] == 0.0
    assert buy["slippage_cost"] == pytest.approx(250.0, abs=1e-9)
    assert r.cash.iloc[1] == pytest.approx(499_674.9625, abs=1e-6)
    assert r.decisions[1].entry_price == (pytest.approx(1000.5, abs=1e-9),)
    assert r.equity.iloc[0] == 1_000_000.0  # close of start: all cash
    assert r.equity.iloc[1] == pytest.approx(499_674.9625 + 500 * 1000.0, abs=1e-6)


@pytest.mark.parametrize(
    ("first", "ticker", "rate"),
    [
        ("2022-03-01", "005930", 0.0023),
        ("2023-03-01", "005930", 0.0020),
        ("2024-03-01", "005930", 0.0018),
        ("2025-03-03", "005930", 0.0015),
        ("2023-03-01", "229200", 0.0),  # ETF: no sell tax
        ("2023-12-22", "005930", 0.0018),  # stop decided 2023-12-29, sold 2024-01-01
    ],
)
def test_run_backtest_sell_tax_by_fill_year_and_kind(
    synth: SimpleNamespace, first: str, ticker: str, rate: float
) -> None:
    bars, idx = synth.stop_bars(first, ticker)
    r = run_backtest(bars, synth.small_settings([ticker]), _day(idx, 3), _day(idx, 6))

    assert r.decisions[2].exit_code == (rules.EXIT_STOP_LOSS,)
    sell = r.fills.iloc[1]
    assert (sell["date"], sell["side"], sell["qty"]) == (_day(idx, 6), "SELL", 500)
    notional = 500 * 899.55  # open 900 × (1 − 0.0005) = 899.55 → 449,775
    assert sell["price"] == pytest.approx(899.55, abs=1e-9)
    assert sell["commission"] == pytest.approx(449_775.0 * 0.00015, abs=1e-9)  # 67.46625
    assert sell["tax"] == pytest.approx(449_775.0 * rate, abs=1e-9)
    assert sell["slippage_cost"] == pytest.approx(500 * 0.45, abs=1e-9)
    final_cash = CASH_AFTER_BUY + notional - 67.46625 - 449_775.0 * rate
    assert r.cash.iloc[-1] == pytest.approx(final_cash, abs=1e-6)
    assert r.equity.iloc[-1] == pytest.approx(final_cash, abs=1e-6)

    trade = r.trades.iloc[0]
    assert trade["exit_reason"] == "STOP_LOSS" and trade["entry_reason"] == "RSI_DIP_ENTRY"
    assert trade["holding_days"] == 2
    costs = 75.0375 + 67.46625 + 449_775.0 * rate
    assert trade["costs"] == pytest.approx(costs, abs=1e-9)
    assert trade["pnl"] == pytest.approx(final_cash - 1_000_000.0, abs=1e-6)
    assert r.metrics["total_costs"] == pytest.approx(costs, abs=1e-9)
    assert r.metrics["total_tax"] == pytest.approx(449_775.0 * rate, abs=1e-9)
    assert r.metrics["total_slippage"] == pytest.approx(250.0 + 225.0, abs=1e-9)
    assert r.metrics["n_trades"] == 1 and r.metrics["n_fills"] == 2
    assert r.metrics["win_rate"] == 0.0
    assert r.metrics["exposure"] == pytest.approx(2 / 4)  # held at the close of 4 and 5


@pytest.mark.parametrize(
    ("stop_close", "fires"),
    [(STOP, True), (float(np.nextafter(STOP, np.inf)), False)],
    ids=["at-stop", "one-ulp-above"],
)
def test_run_backtest_stop_loss_fires_at_exactly_entry_times_one_minus_pct(
    synth: SimpleNamespace, stop_close: float, fires: bool
) -> None:
    bars, idx = synth.stop_bars("2023-03-01", "005930", stop_close=stop_close)
    r = run_backtest(bars, synth.small_settings(["005930"]), _day(idx, 3), _day(idx, 5))

    expected = rules.EXIT_STOP_LOSS if fires else rules.EXIT_NONE
    assert r.decisions[-1].exit_code == (expected,)
    assert r.decisions[-1].held_qty == (500,)


def test_run_backtest_cash_limit_cuts_buy_to_cash_above_reserve(synth: SimpleNamespace) -> None:
    bars, idx = synth.stop_bars("2023-03-01", "005930")
    settings = synth.small_settings(["005930"], max_positions=1)
    r = run_backtest(bars, settings, _day(idx, 3), _day(idx, 4))

    assert r.decisions[0].buy_qty == (1000,)  # floor(1,000,000 / 1 / 1000)
    # floor((1,000,000 − 10,000 reserve) / (1000.5 × 1.00015)) = floor(989.36) = 989
    buy = r.fills.iloc[0]
    assert buy["qty"] == 989
    assert r.cash.iloc[-1] == pytest.approx(
        1_000_000.0 - 989 * 1000.5 - 989 * 1000.5 * 0.00015, abs=1e-6
    )  # 10,357.075825: the 10,000 reserve is kept
    assert r.cash.iloc[-1] >= 10_000.0
    ev = r.order_events.iloc[0]
    assert (ev["event"], ev["sized_qty"], ev["filled_qty"]) == ("CASH_CUT", 1000, 989)


def test_run_backtest_cash_limit_skips_buy_when_not_one_share_fits(synth: SimpleNamespace) -> None:
    bars, idx = synth.stop_bars("2023-03-01", "005930")
    # reserve 99.9 % of equity: 1,000 won above it buys no share at 1000.5 × 1.00015
    r = run_backtest(bars, synth.small_settings(["005930"], min_cash_pct=0.999), _day(idx, 3),
                     _day(idx, 4))

    assert r.decisions[0].buy_qty == (500,)
    assert r.fills.empty
    assert list(r.order_events["event"]) == ["CASH_SKIPPED"]
    assert r.cash.iloc[-1] == 1_000_000.0


def test_run_backtest_guardrail_skips_the_sessions_buys_and_records_code(
    synth: SimpleNamespace,
) -> None:
    bars, idx = synth.stop_bars("2023-03-01", "005930")
    # one slot → a buy of ~100 % of equity > max_single_order_pct 0.25 (the default)
    settings = synth.small_settings(
        ["005930"], max_positions=1, guardrails={"max_single_order_pct": 0.25}
    )
    r = run_backtest(bars, settings, _day(idx, 3), _day(idx, 4))

    assert r.decisions[0].guard == rules.GUARD_MAX_SINGLE_ORDER
    assert r.fills.empty
    assert list(r.order_events["event"]) == ["GUARD_SKIPPED"]
    assert r.meta["guard_blocked_sessions"] == 1


def test_run_backtest_halt_at_next_open_drops_buy_and_redecides(synth: SimpleNamespace) -> None:
    idx = synth.sessions("2023-03-01", 7)
    close = [1020.0, 1030.0, 1020.0, 1000.0, 1000.0, 1000.0, 1000.0]
    open_ = [1020.0, 1020.0, 1030.0, 1020.0, 0.0, 1000.0, 1000.0]  # halt at 4
    bars = {"069500": synth.rising_benchmark(idx), "005930": synth.bar_frame(idx, close, open_)}
    r = run_backtest(bars, synth.small_settings(["005930"]), _day(idx, 3), _day(idx, 6))

    assert r.decisions[0].buy_qty == (500,)
    assert r.decisions[1].held_qty == (0,) and r.decisions[1].buy_qty == (500,)  # re-decided
    assert list(r.order_events["event"]) == ["HALT_DROPPED"]
    assert r.order_events.iloc[0]["date"] == _day(idx, 4)
    assert list(r.fills["date"]) == [_day(idx, 5)]
    assert r.fills.iloc[0]["price"] == pytest.approx(1000.5, abs=1e-9)
    assert r.meta["halted_orders"] == 1


def test_run_backtest_halt_at_next_open_keeps_position_until_it_can_sell(
    synth: SimpleNamespace,
) -> None:
    idx = synth.sessions("2023-03-01", 8)
    close = [1020.0, 1030.0, 1020.0, 1000.0, 1000.0, STOP, STOP, 900.0]
    open_ = [1020.0, 1020.0, 1030.0, 1020.0, 1000.0, 1000.0, 0.0, 900.0]  # halt at 6
    bars = {"069500": synth.rising_benchmark(idx), "005930": synth.bar_frame(idx, close, open_)}
    r = run_backtest(bars, synth.small_settings(["005930"]), _day(idx, 3), _day(idx, 7))

    assert r.decisions[3].held_qty == (500,)  # close of 6: the sell was dropped
    assert r.decisions[3].exit_code == (rules.EXIT_STOP_LOSS,)
    assert list(r.fills["side"]) == ["BUY", "SELL"]
    assert r.fills.iloc[1]["date"] == _day(idx, 7)
    assert r.fills.iloc[1]["price"] == pytest.approx(899.55, abs=1e-9)
    assert list(r.order_events["event"]) == ["HALT_DROPPED"]


def test_run_backtest_decision_at_end_is_not_executed(synth: SimpleNamespace) -> None:
    bars, idx = synth.stop_bars("2023-03-01", "005930", n=9)  # bars continue after the end
    r = run_backtest(bars, synth.small_settings(["005930"]), _day(idx, 3), _day(idx, 6))

    last = r.decisions[-1]
    assert last.date == _day(idx, 6) and not last.executed
    equity = CASH_AFTER_BUY + 449_775.0 - 67.46625 - 899.55  # all cash after the stop
    # RSI still low after the stop: an entry of floor(equity / 2 / 900) = 526 is decided...
    assert last.buy_qty == (math.floor(equity / 2 / 900.0),) == (526,)
    assert r.fills["date"].max() == _day(idx, 6)  # ...but never filled
    assert r.positions.iloc[-1].sum() == 0
    assert r.equity.index[-1].date() == _day(idx, 6)
    assert r.open_positions.empty


def test_run_backtest_open_position_at_end_is_marked_at_close(synth: SimpleNamespace) -> None:
    bars, idx = synth.stop_bars("2023-03-01", "005930")
    r = run_backtest(bars, synth.small_settings(["005930"]), _day(idx, 3), _day(idx, 4))

    assert r.trades.empty
    pos = r.open_positions.iloc[0]
    assert (pos["ticker"], pos["qty"], pos["close"]) == ("005930", 500, 1000.0)
    assert pos["unrealized_pnl"] == pytest.approx(500 * 1000.0 - 500250.0 - 75.0375, abs=1e-6)
    assert r.equity.iloc[-1] == pytest.approx(CASH_AFTER_BUY + 500_000.0, abs=1e-6)


def test_run_backtest_benchmark_is_the_bear_exit_reference_and_etf_untaxed(
    synth: SimpleNamespace,
) -> None:
    # The traded ticker is the benchmark. RSI(2) buy < 80, sell > 90, chop off (threshold 0).
    idx = synth.sessions("2023-03-01", 7)
    close = [1000.0, 1010.0, 1020.0, 1016.0, 1020.0, 900.0, 880.0]
    open_ = [1000.0, 1000.0, 1010.0, 1020.0, 1016.0, 1020.0, 905.0]
    bars = {"069500": synth.bar_frame(idx, close, open_)}
    settings = synth.small_settings(
        ["069500"], rsi_buy_threshold=80.0, rsi_sell_threshold=90.0, adx_threshold=0.0
    )
    r = run_backtest(bars, settings, _day(idx, 3), _day(idx, 6))

    # 3: close 1016 ≥ SMA3 1015.33 → BULL; RSI = 100·5/(5+2) = 71.4 → buy floor(500,000/1016)
    assert r.decisions[0].buy_qty == (492,)
    # 5: close 900 < SMA3 978.67 and SMA2 960 < SMA3 → BEAR → BEAR_EXIT, entries blocked
    assert list(r.regime) == ["BULL", "BULL", "BEAR", "BEAR"]
    assert r.decisions[2].exit_code == (rules.EXIT_BEAR,)
    assert r.decisions[2].block == rules.BLOCK_BEAR
    buy_notional = 492 * (1016.0 * 1.0005)  # 500,121.936
    sell_notional = 492 * (905.0 * 0.9995)  # 445,037.37
    sell = r.fills.iloc[1]
    assert sell["reason"] == "BEAR_EXIT" and sell["tax"] == 0.0
    assert r.cash.iloc[-1] == pytest.approx(
        1_000_000.0 - buy_notional * 1.00015 + sell_notional * (1 - 0.00015), abs=1e-6
    )
    assert r.benchmark.iloc[0] == 1_000_000.0
    assert r.benchmark.iloc[-1] == pytest.approx(1_000_000.0 * 880.0 / 1016.0)


def test_run_backtest_short_warmup_is_allowed_and_reported(synth: SimpleNamespace) -> None:
    bars, idx = synth.stop_bars("2023-03-01", "005930")
    r = run_backtest(bars, synth.small_settings(["005930"]), _day(idx, 0), _day(idx, 2))

    assert not r.meta["warmup_ok"]
    notes = " ".join(r.meta["warmup_notes"])
    assert "regime UNKNOWN" in notes and "ADX undefined" in notes and "005930" in notes
    assert r.fills.empty
    assert r.decisions[0].block == rules.BLOCK_REGIME_UNKNOWN
    assert r.regime.iloc[0] == "UNKNOWN"
    assert math.isnan(r.chop.iloc[0])


# --- bad inputs ---------------------------------------------------------------------------------


def test_run_backtest_end_before_start_names_both_dates(synth: SimpleNamespace) -> None:
    bars, idx = synth.stop_bars("2023-03-01", "005930")
    with pytest.raises(ValueError, match=r"end 2023-03-03 is before start 2023-03-06"):
        run_backtest(bars, synth.small_settings(["005930"]), _day(idx, 3), _day(idx, 2))


def test_prepare_market_unknown_ticker_is_named(synth: SimpleNamespace) -> None:
    bars, idx = synth.stop_bars("2023-03-01", "005930")
    with pytest.raises(BacktestInputError, match="999999: no bars loaded"):
        prepare_market(bars, ["005930", "999999"], "069500", _day(idx, 3), _day(idx, 6))
    with pytest.raises(BacktestInputError, match="114800: no bars loaded"):
        prepare_market(bars, ["005930"], "114800", _day(idx, 3), _day(idx, 6))


def test_prepare_market_ticker_outside_master_is_named(synth: SimpleNamespace) -> None:
    bars, idx = synth.stop_bars("2023-03-01", "005930")
    bars["ABC123"] = bars["005930"]
    with pytest.raises(BacktestInputError, match="ABC123: not in the ticker master"):
        prepare_market(bars, ["ABC123"], "069500", _day(idx, 3), _day(idx, 6))


def test_prepare_market_reads_columns_by_name_whatever_their_order(
    synth: SimpleNamespace,
) -> None:
    bars, idx = synth.stop_bars("2023-03-01", "005930")
    start, end = _day(idx, 3), _day(idx, 6)
    ref = prepare_market(bars, ["005930"], "069500", start, end)
    shuffled = dict(bars)
    shuffled["005930"] = bars["005930"][["volume", "close", "low", "open", "high"]]
    m = prepare_market(shuffled, ["005930"], "069500", start, end)
    for name in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(m, name), getattr(ref, name))
    # Columns renamed on the same frame (a new columns index): open and close swap places.
    renamed = bars["005930"].copy()
    renamed.columns = ["close", "high", "low", "open", "volume"]
    m2 = prepare_market({**bars, "005930": renamed}, ["005930"], "069500", start, end)
    np.testing.assert_array_equal(m2.open, ref.close)
    np.testing.assert_array_equal(m2.close, ref.open)
    with pytest.raises(KeyError, match="open"):
        prepare_market({**bars, "005930": renamed.drop(columns="open")}, ["005930"],
                       "069500", start, end)


def test_run_backtest_start_not_a_session_names_date_and_next_session(
    synth: SimpleNamespace,
) -> None:
    bars, idx = synth.stop_bars("2023-03-01", "005930")  # 2023-03-04 is a Saturday
    with pytest.raises(
        BacktestInputError, match=r"start 2023-03-04 is not a session .*next session: 2023-03-06"
    ):
        run_backtest(bars, synth.small_settings(["005930"]), date(2023, 3, 4), _day(idx, 6))


def test_run_backtest_end_not_a_session_is_error(synth: SimpleNamespace) -> None:
    bars, idx = synth.stop_bars("2023-03-01", "005930")
    with pytest.raises(
        BacktestInputError, match=r"end 2023-03-04 is not a session .*next session: 2023-03-06"
    ):
        run_backtest(bars, synth.small_settings(["005930"]), _day(idx, 2), date(2023, 3, 4))


def test_run_backtest_missing_bar_inside_window_is_named(synth: SimpleNamespace) -> None:
    bars, idx = synth.stop_bars("2023-03-01", "005930")
    bars["005930"] = bars["005930"].drop(idx[5])
    with pytest.raises(BacktestInputError, match=r"005930: no usable bar for session 2023-03-08"):
        run_backtest(bars, synth.small_settings(["005930"]), _day(idx, 3), _day(idx, 6))


def _assert_same_result(r: Any, ref: Any) -> None:
    """Every table of `r` equals `ref`'s (read in another order than the fixture read them:
    meta and order events first, fills after trades)."""
    np.testing.assert_equal(r.meta, ref.meta)  # NaN-aware
    pd.testing.assert_frame_equal(r.order_events, ref.order_events)
    pd.testing.assert_frame_equal(r.trades, ref.trades)
    pd.testing.assert_frame_equal(r.fills, ref.fills)
    pd.testing.assert_frame_equal(r.open_positions, ref.open_positions)
    assert list(r.decisions) == list(ref.decisions)
    for name in ("equity", "cash", "exposure", "regime", "chop", "benchmark"):
        pd.testing.assert_series_equal(getattr(r, name), getattr(ref, name))
    pd.testing.assert_frame_equal(r.positions, ref.positions)
    pd.testing.assert_frame_equal(r.per_year, ref.per_year)
    np.testing.assert_equal(r.metrics, ref.metrics)
    assert r.params == ref.params


def test_run_backtest_tables_are_the_same_whatever_is_read_first(
    real_bars: dict[str, pd.DataFrame], default_settings: Any, default_result: Any
) -> None:
    """The result builds each table on first access: reading them in another order gives the
    same tables."""
    r = run_backtest(real_bars, default_settings, default_result.meta["start"],
                     default_result.meta["end"])
    _assert_same_result(r, default_result)


def test_run_backtest_plain_python_equals_compiled_bit_for_bit(
    real_bars: dict[str, pd.DataFrame], all_settings: Any, all_result: Any
) -> None:
    """The plain-Python path (a small first backtest of a process runs it instead of loading
    numba) gives every table of the compiled run exactly, on all tickers."""
    start, end = all_result.meta["start"], all_result.meta["end"]
    r = run_backtest(real_bars, all_settings, start, end, compiled=False)
    _assert_same_result(r, all_result)
    assert len(all_result.fills) > 0


def test_run_batch_equals_detailed_runs_bit_for_bit_with_flat_blocked_sessions_skipped(
    real_bars: dict[str, pd.DataFrame], all_settings: Any
) -> None:
    """The batch kernel skips the decision of a session that holds nothing and blocks entries
    (most sessions of a sweep); the detailed run never skips. Every metric of every row is
    the same, on all tickers, for rows whose books are often flat and often blocked."""
    from strategy.backtest.engine import METRIC_COLUMNS, IndicatorCache, run_batch, run_detailed
    from strategy.params import param_vector

    st = all_settings.strategy
    m = prepare_market(real_bars, list(all_settings.universe), all_settings.benchmark,
                       date(2021, 1, 4), date(2025, 12, 29))
    ind = IndicatorCache(m).get(rsi_period=st.rsi_period, regime_ma_long=st.regime_ma_long,
                                ma_short_period=st.ma_short_period, adx_period=st.adx_period)
    rows = []
    for adx_threshold in (10.0, 25.0, 40.0):
        for buy in (30.0, 45.0):
            for stop in (0.05, 0.2):
                for golden in (False, True):
                    s = st.model_copy(update={"adx_threshold": adx_threshold, "stop_loss_pct": stop,
                                              "rsi_buy_threshold": buy,
                                              "golden_cross_override": golden})
                    rows.append(param_vector(s, all_settings.guardrails))
    params = np.stack(rows)
    batch = run_batch(m, ind, params, st.initial_capital)
    skipped = trading = 0
    for k, p in enumerate(params):
        d = run_detailed(m, ind, p, st.initial_capital)
        np.testing.assert_array_equal(batch[k], d.metrics, strict=True)
        flat = ~(d.qty > 0).any(axis=1)
        skipped += int((flat & (d.day["block"] != rules.BLOCK_NONE)).sum())
        trading += int(d.metrics[METRIC_COLUMNS.index("n_trades")] > 0)
    assert trading >= len(params) // 2  # the skips sit between real positions
    assert skipped > 0.2 * len(params) * (m.end_idx - m.start_idx + 1)
    # The plain-Python kernel takes the same skip.
    np.testing.assert_array_equal(run_batch(m, ind, params[:2], st.initial_capital,
                                            compiled=False), batch[:2], strict=True)
