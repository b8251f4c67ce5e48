"""Live/backtest parity and no look-ahead on the real bars, sessions 2021-01-04..2025-12-29.

Parity: the portfolio the backtest holds at the close of T (before T's orders) goes through
`strategy.signals.decide` — the daily cycle's path, uncompiled rules on bars cut at T — and
must give the backtest's decision record for T: exit codes, ranks, sized buy quantities, entry
block and guardrail code (and regime, equity, reserve, bit for bit).

Truncation: re-running the backtest on history cut at T must reproduce the decision and the
portfolio at T of the run over the full history.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from contracts.portfolio import Holding, Portfolio
from contracts.settings import Settings
from strategy import rules, signals
from strategy.backtest.engine import (
    DecisionRecord,
    PreparedMarket,
    compute_indicators,
    prepare_market,
    run_backtest,
    run_detailed,
)
from strategy.marketdata.base import window
from strategy.params import param_vector

START = date(2021, 1, 4)
END = date(2025, 12, 29)

# Shorter periods, exit-all chop, a tight stop, 4 slots and at most 2 orders a session (so the
# max-orders guardrail blocks some sessions' buys): many more events than the defaults.
BUSY = {
    "rsi_period": 14, "regime_ma_long": 60, "ma_short_period": 20, "adx_period": 14,
    "chop_action": "exit_all", "adx_threshold": 20.0, "stop_loss_pct": 0.06, "max_positions": 4,
    "min_regime_hold_days": 10,
}


def _busy(settings: Settings) -> Settings:
    return settings.model_copy(update={
        "strategy": settings.strategy.model_copy(update=BUSY),
        "guardrails": settings.guardrails.model_copy(update={"max_orders": 2}),
    })


def _eventful(d: DecisionRecord) -> bool:
    return any(d.exit_code) or any(d.rank) or d.guard != rules.GUARD_OK


def _sample(decisions: list[DecisionRecord], every: int) -> list[DecisionRecord]:
    """Every `every`-th session, every session with an exit, a ranked candidate or a guard
    code, and every session where the regime or the entry block changes."""
    out = []
    for k, d in enumerate(decisions):
        prev = decisions[k - 1] if k else None
        changed = prev is None or (prev.regime, prev.block) != (d.regime, d.block)
        if k % every == 0 or _eventful(d) or changed:
            out.append(d)
    return out


def _portfolio(d: DecisionRecord, universe: list[str]) -> Portfolio:
    return Portfolio(
        cash=d.cash,
        holdings=[
            Holding(ticker=t, qty=q, avg_price=e)
            for t, q, e in zip(universe, d.held_qty, d.entry_price, strict=True)
            if q > 0
        ],
    )


def _assert_parity(
    bars: dict[str, pd.DataFrame], settings: Settings, decisions: list[DecisionRecord]
) -> dict[str, int]:
    universe = list(settings.universe)
    kinds = {"BULL": 0, "BEAR": 0, "CHOP_BLOCK": 0, "STOP_LOSS": 0, "BUY": 0, "GUARD": 0}
    for d in decisions:
        live = signals.decide(bars, d.date, _portfolio(d, universe), settings)
        assert live.tickers == universe
        got = (
            tuple(live.exit_code.tolist()), tuple(live.rank.tolist()),
            tuple(live.buy_qty.tolist()), live.block, live.guard, live.regime,
            live.equity, live.reserve,
        )
        want = (d.exit_code, d.rank, d.buy_qty, d.block, d.guard, d.regime, d.equity, d.reserve)
        assert got == want, f"parity broken at {d.date}"
        kinds["BULL"] += d.regime == rules.REGIME_BULL
        kinds["BEAR"] += d.regime == rules.REGIME_BEAR
        kinds["CHOP_BLOCK"] += d.block == rules.BLOCK_CHOP
        kinds["STOP_LOSS"] += rules.EXIT_STOP_LOSS in d.exit_code
        kinds["BUY"] += any(d.buy_qty)
        kinds["GUARD"] += d.guard != rules.GUARD_OK
    return kinds


def test_decide_parity_every_session_default_universe(
    real_bars: dict[str, pd.DataFrame], default_settings: Settings, default_result: Any
) -> None:
    kinds = _assert_parity(real_bars, default_settings, default_result.decisions)
    assert len(default_result.decisions) == 1224
    assert all(kinds[k] > 0 for k in ("BULL", "BEAR", "CHOP_BLOCK", "STOP_LOSS", "BUY")), kinds


def test_decide_parity_sampled_sessions_all_tickers(
    real_bars: dict[str, pd.DataFrame], all_settings: Settings, all_result: Any
) -> None:
    sample = _sample(all_result.decisions, every=7)
    kinds = _assert_parity(real_bars, all_settings, sample)
    assert all(kinds[k] > 0 for k in ("BULL", "BEAR", "CHOP_BLOCK", "STOP_LOSS", "BUY")), kinds


def test_decide_parity_sampled_sessions_busy_params(
    real_bars: dict[str, pd.DataFrame], all_settings: Settings
) -> None:
    settings = _busy(all_settings)
    r = run_backtest(real_bars, settings, START, END)
    sample = _sample(r.decisions, every=15)
    kinds = _assert_parity(real_bars, settings, sample)
    assert all(v > 0 for v in kinds.values()), kinds
    assert {"STOP_LOSS", "RSI_TAKE_PROFIT", "CHOP_EXIT"} <= set(r.trades["exit_reason"])


# --- no look-ahead ------------------------------------------------------------------------------


def _cut_market(m: PreparedMarket, t: int) -> PreparedMarket:
    """`m` as if the history ended at session t (the window becomes [start, t])."""
    cut = {
        f.name: getattr(m, f.name)[: t + 1]
        for f in dataclasses.fields(m)
        if isinstance(getattr(m, f.name), np.ndarray) and getattr(m, f.name).ndim
        and getattr(m, f.name).shape[0] == m.dates.shape[0]
    }
    return dataclasses.replace(m, end_idx=t, **cut)


def _state(run: Any, k: int) -> tuple[Any, ...]:
    return (
        run.exit_code[k].tolist(), run.rank[k].tolist(), run.buy_qty[k].tolist(),
        run.day[k].tolist(),
        run.qty[k].tolist(), run.entry[k].tolist(), float(run.equity[k]),
    )


@pytest.mark.parametrize("busy", [False, True], ids=["defaults", "busy"])
def test_backtest_decisions_on_history_cut_at_t_equal_full_history(
    busy: bool, real_bars: dict[str, pd.DataFrame], all_settings: Settings
) -> None:
    """Every session of the window: the market arrays are cut at T (the same rows as bars cut
    at T), indicators and the regime are recomputed on the cut history and the whole backtest
    is re-run; the decision and portfolio at T must not change."""
    settings = _busy(all_settings) if busy else all_settings
    sp = settings.strategy
    periods = {"rsi_period": sp.rsi_period, "regime_ma_long": sp.regime_ma_long,
               "ma_short_period": sp.ma_short_period, "adx_period": sp.adx_period}
    p = param_vector(sp, settings.guardrails)
    m = prepare_market(real_bars, settings.universe, settings.benchmark, START, END)
    full = run_detailed(m, compute_indicators(m, **periods), p, sp.initial_capital)
    for t in range(m.start_idx, m.end_idx + 1):
        cut = _cut_market(m, t)
        run = run_detailed(cut, compute_indicators(cut, **periods), p, sp.initial_capital)
        k = t - m.start_idx
        assert _state(run, k) == _state(full, k), f"look-ahead at {m.dates[t]}"


def test_prepare_market_on_bars_cut_at_t_equals_full_history_sample(
    real_bars: dict[str, pd.DataFrame], all_settings: Settings, all_result: Any
) -> None:
    """The pandas path too (bars cut at T → prepare_market → run): a sample of sessions."""
    decisions = {d.date: d for d in all_result.decisions}
    sample = _sample(all_result.decisions, every=50)[::4]
    for d in sample:
        bars = {c: window(df, d.date) for c, df in real_bars.items()}
        r = run_backtest(bars, all_settings, START, d.date)
        assert r.decisions[-1] == decisions[d.date]._replace(executed=False), d.date
