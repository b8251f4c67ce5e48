"""Invariants of backtests on the real KRX bars (2021-01-04..2025-12-29, 2020 as warm-up), for
the default universe and for all 14 tickers."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from contracts.settings import Settings, StrategyParams
from strategy import rules
from strategy.backtest.engine import (
    METRIC_COLUMNS,
    compute_indicators,
    prepare_market,
    run_backtest,
    run_batch,
    run_detailed,
)
from strategy.params import param_vector

START = date(2021, 1, 4)
END = date(2025, 12, 29)

# Parameter sets around the defaults that make every rule fire somewhere in 2021–2025.
VARIANTS: list[dict[str, Any]] = [
    {},
    {"stop_loss_pct": 0.05},
    {"chop_action": "exit_all", "adx_threshold": 20.0},
    {"golden_cross_override": False, "min_regime_hold_days": 10},
    {"rsi_buy_threshold": 45.0, "rsi_sell_threshold": 60.0, "max_positions": 3},
    {"min_cash_pct": 0.3, "commission": 0.001, "slippage": 0.002, "max_positions": 4},
    {"max_positions": 2, "stop_loss_pct": 0.2, "min_regime_hold_days": 0},
]


@pytest.fixture(scope="module", params=["default", "all"])
def case(
    request: pytest.FixtureRequest, default_result: Any, all_result: Any,
    default_settings: Settings, all_settings: Settings, real_bars: dict[str, pd.DataFrame],
) -> tuple[Any, Settings, dict[str, pd.DataFrame]]:
    if request.param == "default":
        return default_result, default_settings, real_bars
    return all_result, all_settings, real_bars


def _closes(bars: dict[str, pd.DataFrame], tickers: list[str], idx: pd.Index) -> pd.DataFrame:
    return pd.DataFrame({t: bars[t]["close"].reindex(idx) for t in tickers})


def test_run_backtest_equity_is_cash_plus_marked_positions(case: Any) -> None:
    r, settings, bars = case
    close = _closes(bars, list(settings.universe), r.equity.index)
    marked = r.cash + (r.positions * close).sum(axis=1)
    assert np.max(np.abs(marked - r.equity)) < 1e-6
    assert (r.cash >= 0).all()
    assert r.equity.iloc[0] == settings.strategy.initial_capital
    assert r.metrics["n_fills"] > 0  # the invariants are not vacuous


def test_run_backtest_positions_change_only_through_fills(case: Any) -> None:
    r, settings, _ = case
    signed = r.fills.assign(q=np.where(r.fills["side"] == "BUY", r.fills["qty"], -r.fills["qty"]))
    flows = signed.pivot_table(index="date", columns="ticker", values="q", aggfunc="sum")
    flows.index = pd.DatetimeIndex(flows.index)
    rebuilt = flows.reindex(index=r.positions.index, columns=r.positions.columns).fillna(0)
    assert (rebuilt.cumsum().astype(np.int64) == r.positions).all().all()
    # Entry prices seen by the rules are the buy fill prices.
    for fill in r.fills[r.fills["side"] == "BUY"].itertuples():
        k = r.equity.index.get_loc(pd.Timestamp(fill.date))
        j = list(settings.universe).index(fill.ticker)
        if k + 1 < len(r.decisions):
            assert r.decisions[k].entry_price[j] == fill.price


def test_run_backtest_costs_nonnegative_and_consistent(case: Any) -> None:
    r, _, _ = case
    f = r.fills
    assert (f[["commission", "tax", "slippage_cost", "price", "qty"]] >= 0).all().all()
    assert (f.loc[f["side"] == "BUY", "tax"] == 0).all()
    m = r.metrics
    assert m["total_costs"] == pytest.approx(f["commission"].sum() + f["tax"].sum(), rel=1e-12)
    assert m["total_slippage"] == pytest.approx(f["slippage_cost"].sum(), rel=1e-12)
    assert m["n_fills"] == len(f) and m["n_trades"] == len(r.trades)


def test_run_backtest_pnl_adds_up_to_equity_change(case: Any) -> None:
    r, settings, _ = case
    change = r.equity.iloc[-1] - settings.strategy.initial_capital
    total = r.trades["pnl"].sum() + r.open_positions["unrealized_pnl"].sum()
    assert total == pytest.approx(change, abs=1e-5)


def test_run_backtest_metrics_match_documented_formulas(case: Any) -> None:
    r, settings, _ = case
    eq = r.equity.to_numpy()
    cap = settings.strategy.initial_capital
    ret = eq[1:] / eq[:-1] - 1
    days = (END - START).days
    cagr = (eq[-1] / cap) ** (365.25 / days) - 1
    peak = np.maximum.accumulate(eq)
    mdd = float(np.min(eq / peak - 1))
    m = r.metrics
    assert m["final_equity"] == eq[-1]
    assert m["cagr"] == pytest.approx(cagr, rel=1e-12)
    assert m["mdd"] == pytest.approx(mdd, rel=1e-12)
    assert m["volatility"] == pytest.approx(ret.std(ddof=1) * math.sqrt(252), rel=1e-9)
    assert m["sharpe"] == pytest.approx(ret.mean() / ret.std(ddof=1) * math.sqrt(252), rel=1e-9)
    downside = math.sqrt(np.mean(np.minimum(ret, 0) ** 2))
    assert m["sortino"] == pytest.approx(ret.mean() / downside * math.sqrt(252), rel=1e-9)
    assert m["calmar"] == pytest.approx(cagr / abs(mdd), rel=1e-12)
    assert m["exposure"] == pytest.approx(float((r.positions.sum(axis=1) > 0).mean()), rel=1e-12)
    assert m["turnover"] == pytest.approx(r.fills["notional"].sum() / eq.mean(), rel=1e-12)
    assert m["win_rate"] == pytest.approx(float((r.trades["pnl"] > 0).mean()), rel=1e-12)
    assert m["avg_holding_days"] == pytest.approx(r.trades["holding_days"].mean(), rel=1e-12)
    peak_d, trough_d = r.meta["mdd_peak_date"], r.meta["mdd_trough_date"]
    assert r.equity[pd.Timestamp(trough_d)] / r.equity[pd.Timestamp(peak_d)] - 1 == mdd
    # Per-year returns chain to the total return; the benchmark is buy & hold from start.
    assert float(np.prod(1 + r.per_year["return"])) == pytest.approx(eq[-1] / cap, rel=1e-12)
    assert list(r.per_year["year"]) == [2021, 2022, 2023, 2024, 2025]
    assert (r.per_year["mdd"] >= mdd - 1e-12).all()
    bench = r.benchmark.to_numpy()
    assert bench[0] == cap
    assert r.meta["benchmark_metrics"]["total_return"] == pytest.approx(bench[-1] / cap - 1)


def test_run_backtest_is_deterministic(
    real_bars: dict[str, pd.DataFrame], all_settings: Settings, all_result: Any
) -> None:
    again = run_backtest(real_bars, all_settings, START, END)
    assert again.metrics == all_result.metrics
    pd.testing.assert_frame_equal(again.fills, all_result.fills)
    pd.testing.assert_series_equal(again.equity, all_result.equity)
    assert again.decisions == all_result.decisions


def _vectors(base: StrategyParams) -> np.ndarray:
    return np.stack([
        param_vector(base.model_copy(update=v)) for v in VARIANTS
    ])


@pytest.mark.parametrize("universe", ["default", "all"])
def test_run_batch_metrics_equal_detailed_kernel_metrics(
    universe: str, real_bars: dict[str, pd.DataFrame], default_settings: Settings,
    all_settings: Settings,
) -> None:
    settings = default_settings if universe == "default" else all_settings
    sp = settings.strategy
    m = prepare_market(real_bars, settings.universe, settings.benchmark, START, END)
    ind = compute_indicators(m, rsi_period=sp.rsi_period, regime_ma_long=sp.regime_ma_long,
                             ma_short_period=sp.ma_short_period, adx_period=sp.adx_period)
    params = _vectors(sp)
    batch = run_batch(m, ind, params, sp.initial_capital)
    assert batch.shape == (len(VARIANTS), len(METRIC_COLUMNS))
    for k in range(len(VARIANTS)):
        detailed = run_detailed(m, ind, params[k], sp.initial_capital)
        np.testing.assert_array_equal(batch[k], detailed.metrics)
        assert detailed.day["cash"].min() >= 0.0  # cash never negative, whatever the parameters
        marked = detailed.day["cash"] + (detailed.qty * m.close[m.start_idx : m.end_idx + 1]).sum(1)
        assert np.max(np.abs(marked - detailed.equity)) < 1e-6
    # Every variant changes the outcome (the rows are not copies of one run).
    assert len({tuple(row) for row in batch}) == len(VARIANTS)


def test_run_batch_compiled_equals_pure_python(
    real_bars: dict[str, pd.DataFrame], default_settings: Settings
) -> None:
    sp = default_settings.strategy
    m = prepare_market(real_bars, default_settings.universe, "069500", START, END)
    ind = compute_indicators(m, rsi_period=40, regime_ma_long=120, ma_short_period=60,
                             adx_period=30)
    params = _vectors(sp)[:3]
    compiled = run_batch(m, ind, params, sp.initial_capital)
    plain = run_batch(m, ind, params, sp.initial_capital, compiled=False)
    np.testing.assert_array_equal(compiled, plain)


def test_run_backtest_all_exit_reasons_occur_across_variants(
    real_bars: dict[str, pd.DataFrame], all_settings: Settings
) -> None:
    reasons: set[str] = set()
    for v in VARIANTS[:4]:
        s = all_settings.model_copy(
            update={"strategy": all_settings.strategy.model_copy(update=v)}
        )
        reasons |= set(run_backtest(real_bars, s, START, END).trades["exit_reason"])
    assert reasons == {rules.EXIT_NAMES[c] for c in rules.EXIT_NAMES}


def test_run_backtest_params_and_meta_describe_the_run(all_result: Any) -> None:
    assert all_result.params["rsi_period"] == 40
    assert all_result.params["universe"][0] == "005930"
    assert all_result.meta["warmup_ok"] is True
    assert all_result.meta["sessions"] == len(all_result.equity) == len(all_result.decisions)
    assert not all_result.decisions[-1].executed
    assert set(all_result.regime) <= {"BULL", "BEAR", "UNKNOWN"}
