"""Backtest metrics (STRATEGY.md "Metrics") as plain functions the kernels compile with numba.

`summary_metrics` turns the close-marked daily equity of the decision window plus the run's
accumulators (`ACC_*`, filled by `kernel.simulate`) into one row in `METRIC_COLUMNS` order.
The batch and the detailed kernel both call it, so their metrics are identical.
"""

from __future__ import annotations

import math

import numpy as np

METRIC_COLUMNS: list[str] = [
    "final_equity",
    "total_return",
    "cagr",
    "mdd",
    "sharpe",
    "sortino",
    "calmar",
    "volatility",
    "n_trades",
    "win_rate",
    "avg_holding_days",
    "exposure",
    "turnover",
    "total_costs",
    "total_commission",
    "total_tax",
    "total_slippage",
    "n_fills",
]
M_FINAL_EQUITY = 0
M_TOTAL_RETURN = 1
M_CAGR = 2
M_MDD = 3
M_SHARPE = 4
M_SORTINO = 5
M_CALMAR = 6
M_VOLATILITY = 7
M_N_TRADES = 8
M_WIN_RATE = 9
M_AVG_HOLDING_DAYS = 10
M_EXPOSURE = 11
M_TURNOVER = 12
M_TOTAL_COSTS = 13
M_TOTAL_COMMISSION = 14
M_TOTAL_TAX = 15
M_TOTAL_SLIPPAGE = 16
M_N_FILLS = 17
N_METRICS = 18

# Accumulators a simulation fills while it runs (one float64 vector).
ACC_COMMISSION = 0
ACC_TAX = 1
ACC_SLIPPAGE = 2
ACC_NOTIONAL = 3  # traded notional, buys and sells
ACC_TRADES = 4  # closed round trips
ACC_WINS = 5  # closed round trips with pnl > 0
ACC_HOLD_SESSIONS = 6  # sum of holding sessions over closed round trips
ACC_FILLS = 7
ACC_EXPOSED_SESSIONS = 8  # sessions of the window with any position at the close
N_ACC = 9

ANNUALIZATION = 252.0
DAYS_PER_YEAR = 365.25


def max_drawdown(equity: np.ndarray) -> tuple[float, int, int]:
    """(MDD ≤ 0 as a fraction, index of its peak, index of its trough) of an equity curve."""
    peak = equity[0]
    peak_i = 0
    mdd = 0.0
    mdd_peak = 0
    mdd_trough = 0
    for t in range(equity.shape[0]):
        if equity[t] > peak:
            peak = equity[t]
            peak_i = t
        dd = equity[t] / peak - 1.0
        if dd < mdd:
            mdd = dd
            mdd_peak = peak_i
            mdd_trough = t
    return mdd, mdd_peak, mdd_trough


def cagr(final: float, initial: float, calendar_days: float) -> float:
    """(final/initial)^(365.25/days) − 1; 0 for a window of zero calendar days."""
    if calendar_days <= 0.0:
        return 0.0
    if final <= 0.0:
        return -1.0
    return (final / initial) ** (DAYS_PER_YEAR / calendar_days) - 1.0


def summary_metrics(
    equity: np.ndarray, initial: float, calendar_days: float, acc: np.ndarray, out: np.ndarray
) -> None:
    """Write one `METRIC_COLUMNS` row into `out`.

    Ratios whose denominator is 0 (no return variation, no down day, no drawdown) and averages
    over no closed trade are NaN.
    """
    n = equity.shape[0]
    final = equity[n - 1]
    out[M_FINAL_EQUITY] = final
    out[M_TOTAL_RETURN] = final / initial - 1.0
    growth = cagr(final, initial, calendar_days)
    out[M_CAGR] = growth
    mdd, _, _ = max_drawdown(equity)
    out[M_MDD] = mdd

    n_ret = n - 1
    mean = 0.0
    for t in range(1, n):
        mean += equity[t] / equity[t - 1] - 1.0
    mean = mean / n_ret if n_ret > 0 else 0.0
    sq = 0.0
    down = 0.0
    for t in range(1, n):
        r = equity[t] / equity[t - 1] - 1.0
        sq += (r - mean) * (r - mean)
        if r < 0.0:
            down += r * r
    std = math.sqrt(sq / (n_ret - 1)) if n_ret > 1 else math.nan
    downside = math.sqrt(down / n_ret) if n_ret > 0 else math.nan
    root = math.sqrt(ANNUALIZATION)
    out[M_VOLATILITY] = std * root
    out[M_SHARPE] = mean / std * root if std > 0.0 else math.nan
    out[M_SORTINO] = mean / downside * root if downside > 0.0 else math.nan
    out[M_CALMAR] = growth / abs(mdd) if mdd < 0.0 else math.nan

    trades = acc[ACC_TRADES]
    out[M_N_TRADES] = trades
    out[M_WIN_RATE] = acc[ACC_WINS] / trades if trades > 0 else math.nan
    out[M_AVG_HOLDING_DAYS] = acc[ACC_HOLD_SESSIONS] / trades if trades > 0 else math.nan
    out[M_EXPOSURE] = acc[ACC_EXPOSED_SESSIONS] / n
    mean_equity = 0.0
    for t in range(n):
        mean_equity += equity[t]
    mean_equity /= n
    out[M_TURNOVER] = acc[ACC_NOTIONAL] / mean_equity
    out[M_TOTAL_COSTS] = acc[ACC_COMMISSION] + acc[ACC_TAX]
    out[M_TOTAL_COMMISSION] = acc[ACC_COMMISSION]
    out[M_TOTAL_TAX] = acc[ACC_TAX]
    out[M_TOTAL_SLIPPAGE] = acc[ACC_SLIPPAGE]
    out[M_N_FILLS] = acc[ACC_FILLS]
