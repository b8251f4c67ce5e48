"""Settings → the float64 parameter vector that `strategy.rules` reads."""

from __future__ import annotations

import numpy as np

from contracts.settings import Guardrails, StrategyParams
from strategy import rules


def param_vector(params: StrategyParams, guardrails: Guardrails | None = None) -> np.ndarray:
    """The `P_*`-indexed vector for `rules.decide_session` (guardrails default to Guardrails())."""
    g = guardrails or Guardrails()
    p = np.zeros(rules.N_PARAMS, dtype=np.float64)
    p[rules.P_GOLDEN_OVERRIDE] = 1.0 if params.golden_cross_override else 0.0
    p[rules.P_MIN_HOLD_DAYS] = params.min_regime_hold_days
    p[rules.P_ADX_THRESHOLD] = params.adx_threshold
    p[rules.P_CHOP_EXIT_ALL] = 1.0 if params.chop_action == "exit_all" else 0.0
    p[rules.P_RSI_BUY] = params.rsi_buy_threshold
    p[rules.P_RSI_SELL] = params.rsi_sell_threshold
    p[rules.P_STOP_LOSS] = params.stop_loss_pct
    p[rules.P_MAX_POSITIONS] = params.max_positions
    p[rules.P_MIN_CASH] = params.min_cash_pct
    p[rules.P_COMMISSION] = params.commission
    p[rules.P_SLIPPAGE] = params.slippage
    p[rules.P_MAX_ORDERS] = g.max_orders
    p[rules.P_MAX_SINGLE] = g.max_single_order_pct
    p[rules.P_MAX_TURNOVER] = g.max_buy_turnover_pct
    return p
