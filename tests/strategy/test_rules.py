"""Crisis Alpha rules on hand-built inputs (STRATEGY.md, each rule separately)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from contracts import Guardrails, StrategyParams
from strategy import rules
from strategy.params import param_vector

NAN = math.nan


def _p(**kw) -> np.ndarray:
    g = {k: kw.pop(k) for k in list(kw) if k in Guardrails.model_fields}
    return param_vector(StrategyParams(**kw), Guardrails(**g))


def test_regime_step_unknown_while_sma_undefined():
    assert rules.regime_step(rules.REGIME_UNKNOWN, 0, 100.0, NAN, 90.0, True, 30) == (0, 0)
    assert rules.regime_step(rules.REGIME_BULL, 0, 100.0, 90.0, NAN, True, 30) == (0, 0)


def test_regime_step_first_known_state_is_candidate():
    assert rules.regime_step(0, 0, 100.0, 101.0, 99.0, True, 30) == (rules.REGIME_BEAR, 1)
    assert rules.regime_step(0, 0, 101.0, 101.0, 99.0, True, 30) == (rules.REGIME_BULL, 0)


def test_regime_step_bull_to_bear_is_immediate():
    assert rules.regime_step(rules.REGIME_BULL, 0, 99.0, 100.0, 98.0, True, 30)[0] == 2


def test_regime_step_golden_cross_counts_as_bull_candidate_only_with_override():
    # close below SMA long, but SMA short > SMA long
    assert rules.regime_step(rules.REGIME_BULL, 0, 90.0, 100.0, 101.0, True, 30)[0] == 1
    assert rules.regime_step(rules.REGIME_BULL, 0, 90.0, 100.0, 101.0, False, 30)[0] == 2


def test_regime_step_bear_to_bull_needs_hold_days_without_golden_cross():
    # raw bull, no golden cross: stays BEAR until 30 BEAR sessions lie before T
    assert rules.regime_step(rules.REGIME_BEAR, 29, 101.0, 100.0, 99.0, True, 30) == (2, 30)
    assert rules.regime_step(rules.REGIME_BEAR, 30, 101.0, 100.0, 99.0, True, 30) == (1, 0)


def test_regime_step_bear_to_bull_immediately_on_golden_cross():
    assert rules.regime_step(rules.REGIME_BEAR, 1, 101.0, 100.0, 100.5, True, 30) == (1, 0)


def test_regime_series_entered_bear_at_s_switches_at_s_plus_hold():
    n = 50
    sma_long = np.full(n, 100.0)
    sma_short = np.full(n, 99.0)
    close = np.full(n, 101.0)
    close[5:10] = 95.0  # BEAR candidate from session 5 to 9, raw bull again from 10
    regime = np.zeros(n, dtype=np.int64)
    bear = np.zeros(n, dtype=np.int64)
    rules.regime_series(close, sma_long, sma_short, True, 30, regime, bear)
    assert regime[4] == rules.REGIME_BULL
    assert (regime[5:35] == rules.REGIME_BEAR).all()
    assert regime[35] == rules.REGIME_BULL  # s=5 → earliest switch at s+30
    assert bear[34] == 30 and bear[35] == 0


def test_chop_state_nan_is_unknown():
    assert rules.chop_state(NAN, 17.5) == rules.CHOP_UNKNOWN
    assert rules.chop_state(17.4, 17.5) == rules.CHOP_YES
    assert rules.chop_state(17.5, 17.5) == rules.CHOP_NO


def test_exit_reason_order_first_match_wins():
    p = _p()
    # BEAR beats a stop loss
    assert rules.exit_reason(2, 0, 50.0, 100.0, 80.0, p) == rules.EXIT_BEAR
    # stop loss compared exactly with <=
    assert rules.exit_reason(1, 0, 100.0 * (1 - 0.12), 100.0, 80.0, p) == rules.EXIT_STOP_LOSS
    assert rules.exit_reason(1, 0, 88.01, 100.0, 60.0, p) == rules.EXIT_NONE
    assert rules.exit_reason(1, 0, 95.0, 100.0, 70.01, p) == rules.EXIT_RSI_TAKE_PROFIT
    assert rules.exit_reason(1, 0, 95.0, 100.0, NAN, p) == rules.EXIT_NONE
    assert rules.exit_reason(1, 1, 95.0, 100.0, 60.0, p) == rules.EXIT_NONE
    assert rules.exit_reason(1, 1, 95.0, 100.0, 60.0, _p(chop_action="exit_all")) == \
        rules.EXIT_CHOP
    # chop unknown never triggers exit_all
    assert rules.exit_reason(1, -1, 95.0, 100.0, 60.0, _p(chop_action="exit_all")) == 0


def _decide(regime, adx, close, rsi, held, entry, cash, p):
    n = len(close)
    out = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    res = rules.decide_session(regime, adx, np.array(close, float), np.array(rsi, float),
                               np.array(held, dtype=np.int64), np.array(entry, float), cash, p,
                               *out)
    return res, out


def test_decide_session_ranks_by_score_ties_by_universe_order_and_sizes():
    p = _p()
    close = [10_000.0, 20_000.0, 30_000.0, 40_000.0]
    rsi = [45.0, 30.0, 45.0, 55.0]
    (block, guard, equity, reserve), (exits, rank, qty) = _decide(
        1, 25.0, close, rsi, [0, 0, 0, 0], [0, 0, 0, 0], 10_000_000.0, p)
    assert (block, guard) == (rules.BLOCK_NONE, rules.GUARD_OK)
    assert equity == 10_000_000.0 and reserve == pytest.approx(100_000.0)
    assert list(rank) == [2, 1, 3, 0]
    # floor(equity / 5 / close)
    assert list(qty) == [200, 100, 66, 0]


def test_decide_session_exit_frees_slot_but_ticker_is_not_rebought():
    p = _p(max_positions=1)
    # held ticker 0 hits take profit; ticker 1 is a candidate
    (block, _, equity, _), (exits, rank, qty) = _decide(
        1, 25.0, [100.0, 100.0], [75.0, 40.0], [10, 0], [90.0, 0.0], 1000.0, p)
    assert exits[0] == rules.EXIT_RSI_TAKE_PROFIT
    assert equity == 2000.0
    assert qty[0] == 0 and rank[1] == 1 and qty[1] == 20


def test_decide_session_blocks_entries_in_bear_chop_and_unknown():
    p = _p()
    for regime, adx, want in [(2, 25.0, rules.BLOCK_BEAR), (1, 10.0, rules.BLOCK_CHOP),
                              (1, NAN, rules.BLOCK_CHOP), (0, 25.0, rules.BLOCK_REGIME_UNKNOWN)]:
        (block, _, _, _), (_, rank, qty) = _decide(regime, adx, [100.0], [10.0], [0], [0.0],
                                                   1e6, p)
        assert block == want and qty[0] == 0 and rank[0] == 0


def test_decide_session_zero_qty_candidate_does_not_use_a_slot():
    p = _p(max_positions=1)
    (_, _, _, _), (_, rank, qty) = _decide(1, 25.0, [5_000_000.0, 100.0], [10.0, 20.0],
                                           [0, 0], [0, 0], 1_000_000.0, p)
    assert rank[0] == 1 and qty[0] == 0
    assert rank[1] == 2 and qty[1] == 10_000


def test_decide_session_nan_rsi_is_no_entry():
    (_, _, _, _), (_, rank, qty) = _decide(1, 25.0, [100.0], [NAN], [0], [0.0], 1e6, _p())
    assert rank[0] == 0 and qty[0] == 0


@pytest.mark.parametrize(
    ("guard_kw", "code"),
    [({"max_orders": 1}, rules.GUARD_MAX_ORDERS),
     ({"max_single_order_pct": 0.1}, rules.GUARD_MAX_SINGLE_ORDER),
     ({"max_buy_turnover_pct": 0.3}, rules.GUARD_MAX_BUY_TURNOVER)],
)
def test_decide_session_guardrails_bind_on_buys(guard_kw, code):
    (_, guard, _, _), (_, _, qty) = _decide(1, 25.0, [100.0, 100.0], [10.0, 20.0], [0, 0],
                                            [0, 0], 1e6, _p(**guard_kw))
    assert guard == code
    assert qty.sum() > 0  # sizing is still reported; the caller must not execute buys


def test_decide_session_sells_alone_never_trip_guardrails():
    (_, guard, _, _), (exits, _, _) = _decide(2, 25.0, [100.0, 100.0], [10.0, 20.0], [5, 5],
                                              [100.0, 100.0], 0.0, _p(max_orders=1))
    assert list(exits) == [rules.EXIT_BEAR, rules.EXIT_BEAR]
    assert guard == rules.GUARD_OK


def test_buy_qty_at_fill_cuts_to_cash_above_reserve():
    # (10_000 - 100) / (101 * 1.00015) = 98.0
    assert rules.buy_qty_at_fill(10_000.0, 100.0, 101.0, 0.00015, 200) == 98
    assert rules.buy_qty_at_fill(10_000.0, 100.0, 101.0, 0.00015, 50) == 50
    assert rules.buy_qty_at_fill(100.0, 100.0, 101.0, 0.00015, 5) == 0


@pytest.mark.parametrize(("year", "stock", "rate"), [
    (2021, True, 0.0023), (2022, True, 0.0023), (2023, True, 0.0020), (2024, True, 0.0018),
    (2025, True, 0.0015), (2031, True, 0.0015), (2023, False, 0.0)])
def test_sell_tax_rate_is_dated_and_stock_only(year, stock, rate):
    assert rules.sell_tax_rate(year, stock) == rate


@pytest.mark.parametrize("adx_threshold", [15.0, 25.0])
@pytest.mark.parametrize("regime", [rules.REGIME_UNKNOWN, rules.REGIME_BULL, rules.REGIME_BEAR])
@pytest.mark.parametrize("adx", [NAN, 10.0, 20.0, 40.0])
def test_flat_book_block_is_what_decide_session_answers_for_an_empty_book(
    regime: int, adx: float, adx_threshold: float
) -> None:
    """The batch kernel skips `decide_session` for an empty book when `flat_book_block` is
    not BLOCK_NONE: that is only the same run if the call would have decided nothing."""
    p = _p(adx_threshold=adx_threshold, min_cash_pct=0.07)
    cash = 1_234_567.0
    (block, guard, equity, reserve), (exits, rank, qty) = _decide(
        regime, adx, [100.0, 200.0, 300.0], [10.0, 20.0, NAN], [0, 0, 0], [0.0] * 3, cash, p)
    assert rules.flat_book_block(regime, adx, p) == block
    assert reserve == rules.cash_reserve(cash, p) == 0.07 * cash
    if block != rules.BLOCK_NONE:
        assert (guard, equity) == (rules.GUARD_OK, cash)
        assert not exits.any() and not rank.any() and not qty.any()
    else:  # the only case the kernel still calls decide_session for: entries are ranked
        assert regime == rules.REGIME_BULL and rank.any()
