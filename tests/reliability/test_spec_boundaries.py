"""STRATEGY.md's thresholds pinned at their exact boundaries (issue 11, section 7: three mutants
survived the suite — `rsi >= buy` → `>`, `rsi > sell` → `>=`, the stale lag off by one).
Every number below is STRATEGY.md's default: entry when RSI < 50, take profit when RSI > 70,
chop when ADX < 17.5, stop when close <= entry x (1 - 0.12)."""

from __future__ import annotations

from datetime import datetime, time

import numpy as np
import pytest

from contracts import Guardrails, Settings, StrategyParams
from contracts.summary import OverallStatus
from krx_common.defaults import KST
from oci_backend.paths import data_paths
from oci_backend.pipeline import EXIT_BLOCKED, run_cycle
from oci_backend.store import Store
from strategy import calendar, rules
from strategy.params import param_vector

P = param_vector(StrategyParams(), Guardrails())


def _decide(rsi: list[float], held: list[int] | None = None, adx: float = 25.0):
    n = len(rsi)
    held_qty = np.array(held or [0] * n, dtype=np.int64)
    exits, rank, qty = (np.zeros(n, dtype=np.int64) for _ in range(3))
    res = rules.decide_session(
        rules.REGIME_BULL, adx, np.full(n, 10_000.0), np.array(rsi, dtype=np.float64),
        held_qty, np.full(n, 10_000.0), 10_000_000.0, P, exits, rank, qty)
    return res, exits, rank, qty


def test_spec_defaults_are_strategy_md_numbers():
    s = StrategyParams()
    assert (s.rsi_buy_threshold, s.rsi_sell_threshold, s.adx_threshold, s.stop_loss_pct) == (
        50.0, 70.0, 17.5, 0.12)


def test_entry_rsi_exactly_at_the_buy_threshold_does_not_enter():
    _, _, rank, qty = _decide([50.0, np.nextafter(50.0, 0.0)])
    assert list(rank) == [0, 1]  # RSI 50 is not < 50; just below it is
    assert list(qty) == [0, 200]  # floor(10,000,000 / 5 / 10,000)


def test_take_profit_rsi_exactly_at_the_sell_threshold_keeps_the_position():
    assert rules.exit_reason(rules.REGIME_BULL, rules.CHOP_NO, 10_000.0, 10_000.0, 70.0, P) \
        == rules.EXIT_NONE
    assert rules.exit_reason(rules.REGIME_BULL, rules.CHOP_NO, 10_000.0, 10_000.0,
                             np.nextafter(70.0, 100.0), P) == rules.EXIT_RSI_TAKE_PROFIT
    _, exits, _, _ = _decide([70.0, 70.000001], held=[10, 10])
    assert list(exits) == [rules.EXIT_NONE, rules.EXIT_RSI_TAKE_PROFIT]


def test_chop_adx_exactly_at_the_threshold_is_not_chop():
    assert rules.chop_state(17.5, 17.5) == rules.CHOP_NO
    assert rules.chop_state(np.nextafter(17.5, 0.0), 17.5) == rules.CHOP_YES
    (block, *_), *_ = _decide([40.0], adx=17.5)
    assert block == rules.BLOCK_NONE


def test_stop_loss_exactly_at_the_stop_price_exits():
    stop = 10_000.0 * (1 - 0.12)
    assert rules.exit_reason(rules.REGIME_BULL, rules.CHOP_NO, stop, 10_000.0, 60.0, P) \
        == rules.EXIT_STOP_LOSS
    assert rules.exit_reason(rules.REGIME_BULL, rules.CHOP_NO, np.nextafter(stop, 1e9),
                             10_000.0, 60.0, P) == rules.EXIT_NONE


LAST_BAR = calendar.CALENDAR_START.replace(year=2025, month=12, day=29)  # data/krx ends here


def _cycle_at(tmp_path, krx_data_dir, expected, max_age: int):
    store = Store(data_paths(tmp_path))
    store.initialize()
    s = Settings.model_validate(store.settings().model_dump()
                                | {"guardrails": {"max_data_age_sessions": max_age}})
    store.push(1, portfolio=None, settings=s, reason="boundary", actor="test")
    # 09:05 KST on the session after `expected`: the last completed session is `expected`.
    now = datetime.combine(calendar.next_session(expected), time(9, 5), tzinfo=KST)
    return run_cycle(store, data_spec=f"csv:{krx_data_dir}", now=now)


@pytest.mark.parametrize("lag", [1, 2])
def test_stale_data_one_session_past_the_allowed_age_is_blocked_data_stale(
        tmp_path, krx_data_dir, lag):
    expected = LAST_BAR
    for _ in range(lag):
        expected = calendar.next_session(expected)
    result = _cycle_at(tmp_path, krx_data_dir, expected, max_age=lag - 1)
    assert result.exit_code == EXIT_BLOCKED
    assert result.summary.status == OverallStatus.BLOCKED
    assert result.plan is not None and result.plan.reasons == ["DATA_STALE"]
    assert result.summary.freshness is not None and result.summary.freshness.stale is True


@pytest.mark.parametrize("lag", [0, 1, 2])
def test_data_exactly_at_the_allowed_age_is_planned(tmp_path, krx_data_dir, lag):
    expected = LAST_BAR
    for _ in range(lag):
        expected = calendar.next_session(expected)
    result = _cycle_at(tmp_path, krx_data_dir, expected, max_age=lag)
    assert result.summary.freshness is not None and result.summary.freshness.stale is False
    assert result.summary.freshness.expected_session == expected
    assert result.plan is not None and "DATA_STALE" not in result.plan.reasons
    assert result.summary.status != OverallStatus.FAILED
    # A tolerated lag decides on the last bar there is, and says so.
    assert result.summary.asof == LAST_BAR and result.plan.asof == LAST_BAR
    lagging = [r for r in result.summary.risks if r.code == "DATA_LAGGING"]
    assert bool(lagging) is (lag > 0)
