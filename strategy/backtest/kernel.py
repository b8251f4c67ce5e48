"""The backtest loop over sessions, written as plain Python over numpy arrays.

`strategy.backtest.jit` compiles these functions with numba after swapping the `strategy.rules`
functions they call for compiled copies, so the backtest runs the same decision code as the
daily cycle. Uncompiled, they are the pure-Python reference (benchmark baseline).

Execution model (STRATEGY.md): the decision at the close of T executes at the open of T+1 —
prices, fees and the cash cut from `rules.fill_terms`, the rule OCI's fill application uses —
sells first, then buys in rank order cut to the cash above the reserve fixed at T; a ticker
whose open at T+1 is 0 (halt) or missing cannot fill and its order is dropped; the decision at
`end` is not executed. Arrays are [T, N] in universe order; `start`/`end` index the window.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from strategy.backtest.metrics import (
    ACC_COMMISSION,
    ACC_EXPOSED_SESSIONS,
    ACC_FILLS,
    ACC_HOLD_SESSIONS,
    ACC_NOTIONAL,
    ACC_SLIPPAGE,
    ACC_TAX,
    ACC_TRADES,
    ACC_WINS,
    N_ACC,
    summary_metrics,
)
from strategy.rules import (
    EXIT_NONE,
    GUARD_OK,
    P_COMMISSION,
    P_GOLDEN_OVERRIDE,
    P_MIN_HOLD_DAYS,
    P_SLIPPAGE,
    SIDE_BUY,
    SIDE_SELL,
    buys_held_back,
    decide_session,
    fill_terms,
    regime_series,
)

# What happened to an order at the open (per session and ticker, detailed runs only).
NOTE_NONE = 0
NOTE_HALT_DROPPED = 1  # open 0 or missing: the order could not fill
NOTE_CASH_SKIPPED = 2  # cash above the reserve did not pay for one share
NOTE_CASH_CUT = 3  # bought fewer shares than sized
NOTE_GUARD_SKIPPED = 4  # the decision's guardrail code was not OK: no buys that session

# Columns of the per-session code and money records.
DAY_BLOCK = 0
DAY_GUARD = 1
DAY_REGIME = 2
DAY_EQUITY = 0  # equity_T seen by the decision
DAY_RESERVE = 1


class Records(NamedTuple):
    """Day-level records of a detailed run, by name (first axis = window session)."""

    cash: np.ndarray  # [W] cash at the close, after that session's fills
    qty: np.ndarray  # [W, N] shares held at the close
    entry: np.ndarray  # [W, N] entry price of each holding
    exit_code: np.ndarray  # [W, N] EXIT_* decided at the close
    rank: np.ndarray  # [W, N] entry rank decided at the close
    buy_qty: np.ndarray  # [W, N] sized buy quantity decided at the close
    codes: np.ndarray  # [W, 3] DAY_BLOCK / DAY_GUARD / DAY_REGIME
    money: np.ndarray  # [W, 2] DAY_EQUITY / DAY_RESERVE
    fill_qty: np.ndarray  # [W, N] signed fill at that session's open (+ buy, − sell)
    fill_price: np.ndarray  # [W, N]
    fill_commission: np.ndarray  # [W, N]
    fill_tax: np.ndarray  # [W, N]
    fill_slippage: np.ndarray  # [W, N]
    note: np.ndarray  # [W, N] NOTE_* for an order that did not fill as sized


class DetailedBuffers(NamedTuple):
    """What `run_detailed_kernel` writes, after `out`: `*buffers` is its argument tail."""

    regime: np.ndarray
    bear_days: np.ndarray
    equity: np.ndarray
    acc: np.ndarray
    rec: Records


def simulate(
    open_: np.ndarray,
    close: np.ndarray,
    rsi: np.ndarray,
    adx: np.ndarray,
    regime: np.ndarray,
    years: np.ndarray,
    is_stock: np.ndarray,
    start: int,
    end: int,
    p: np.ndarray,
    capital: float,
    equity: np.ndarray,
    acc: np.ndarray,
    record: bool,
    rec: Records,
) -> None:
    """Run one parameter vector `p` over sessions [start, end].

    Writes the close-marked equity of each window session into `equity` and adds to the
    `ACC_*` accumulators in `acc`. With `record`, also fills the arrays of `rec` (first axis =
    window session; state at the close before that session's decision, the decision itself,
    and the fills at that session's open, signed qty: + buy, − sell).
    """
    n = close.shape[1]
    commission = p[P_COMMISSION]
    slip = p[P_SLIPPAGE]
    cash = capital
    qty = np.zeros(n, dtype=np.int64)
    entry = np.zeros(n, dtype=np.float64)
    basis = np.zeros(n, dtype=np.float64)  # buy notional + commission, for the trade's pnl
    entry_t = np.zeros(n, dtype=np.int64)
    exit_code = np.zeros(n, dtype=np.int64)
    rank = np.zeros(n, dtype=np.int64)
    buy_qty = np.zeros(n, dtype=np.int64)
    by_rank = np.zeros(n, dtype=np.int64)
    guard = GUARD_OK
    reserve = 0.0

    for t in range(start, end + 1):
        k = t - start
        if t > start:
            # Orders decided at the close of t-1 (still in exit_code/rank/buy_qty).
            for i in range(n):
                if qty[i] <= 0 or exit_code[i] == EXIT_NONE:
                    continue
                o = open_[t, i]
                if not o > 0.0:
                    if record:
                        rec.note[k, i] = NOTE_HALT_DROPPED
                    continue
                q, price, notional, comm, tax, cash = fill_terms(
                    SIDE_SELL, o, qty[i], slip, commission, years[t], is_stock[i], False, cash,
                    0.0,
                )
                pnl = notional - comm - tax - basis[i]
                acc[ACC_COMMISSION] += comm
                acc[ACC_TAX] += tax
                acc[ACC_SLIPPAGE] += q * (o - price)
                acc[ACC_NOTIONAL] += notional
                acc[ACC_FILLS] += 1.0
                acc[ACC_TRADES] += 1.0
                if pnl > 0.0:
                    acc[ACC_WINS] += 1.0
                acc[ACC_HOLD_SESSIONS] += t - entry_t[i]
                if record:
                    rec.fill_qty[k, i] = -q
                    rec.fill_price[k, i] = price
                    rec.fill_commission[k, i] = comm
                    rec.fill_tax[k, i] = tax
                    rec.fill_slippage[k, i] = q * (o - price)
                qty[i] = 0
                entry[i] = 0.0
                basis[i] = 0.0

            n_ranked = 0
            for i in range(n):
                if rank[i] > 0:
                    by_rank[rank[i] - 1] = i
                    n_ranked += 1
            for r in range(n_ranked):
                i = by_rank[r]
                if buy_qty[i] <= 0:
                    continue
                if buys_held_back(guard):
                    if record:
                        rec.note[k, i] = NOTE_GUARD_SKIPPED
                    continue
                o = open_[t, i]
                if not o > 0.0:
                    if record:
                        rec.note[k, i] = NOTE_HALT_DROPPED
                    continue
                q, price, notional, comm, tax, after = fill_terms(
                    SIDE_BUY, o, buy_qty[i], slip, commission, years[t], is_stock[i], True,
                    cash, reserve,
                )
                if q <= 0:
                    if record:
                        rec.note[k, i] = NOTE_CASH_SKIPPED
                    continue
                cash = after
                qty[i] = q
                entry[i] = price
                basis[i] = notional + comm
                entry_t[i] = t
                acc[ACC_COMMISSION] += comm
                acc[ACC_SLIPPAGE] += q * (price - o)
                acc[ACC_NOTIONAL] += notional
                acc[ACC_FILLS] += 1.0
                if record:
                    rec.fill_qty[k, i] = q
                    rec.fill_price[k, i] = price
                    rec.fill_commission[k, i] = comm
                    rec.fill_slippage[k, i] = q * (price - o)
                    if q < buy_qty[i]:
                        rec.note[k, i] = NOTE_CASH_CUT

        value = cash
        invested = False
        for i in range(n):
            if qty[i] > 0:
                value += qty[i] * close[t, i]
                invested = True
        equity[k] = value
        if invested:
            acc[ACC_EXPOSED_SESSIONS] += 1.0
        if record:
            rec.cash[k] = cash
            for i in range(n):
                rec.qty[k, i] = qty[i]
                rec.entry[k, i] = entry[i]

        block, guard, eq_t, reserve = decide_session(
            regime[t], adx[t], close[t], rsi[t], qty, entry, cash, p, exit_code, rank, buy_qty
        )
        if record:
            rec.codes[k, DAY_BLOCK] = block
            rec.codes[k, DAY_GUARD] = guard
            rec.codes[k, DAY_REGIME] = regime[t]
            rec.money[k, DAY_EQUITY] = eq_t
            rec.money[k, DAY_RESERVE] = reserve
            for i in range(n):
                rec.exit_code[k, i] = exit_code[i]
                rec.rank[k, i] = rank[i]
                rec.buy_qty[k, i] = buy_qty[i]


def run_batch_kernel(
    open_: np.ndarray,
    close: np.ndarray,
    rsi: np.ndarray,
    adx: np.ndarray,
    bench_close: np.ndarray,
    sma_long: np.ndarray,
    sma_short: np.ndarray,
    years: np.ndarray,
    is_stock: np.ndarray,
    start: int,
    end: int,
    params: np.ndarray,
    capital: float,
    calendar_days: float,
    out: np.ndarray,
) -> None:
    """Metrics of every parameter row of `params` [K, N_PARAMS] into `out` [K, N_METRICS].

    The regime machine is re-run per row (it depends on the golden-cross override and the
    minimum BEAR hold), over the whole history so the warm-up counts.
    """
    n_sessions = close.shape[0]
    regime = np.zeros(n_sessions, dtype=np.int64)
    bear_days = np.zeros(n_sessions, dtype=np.int64)
    equity = np.zeros(end - start + 1, dtype=np.float64)
    acc = np.zeros(N_ACC, dtype=np.float64)
    no_f1 = np.zeros(0, dtype=np.float64)
    no_f2 = np.zeros((0, 0), dtype=np.float64)
    no_i2 = np.zeros((0, 0), dtype=np.int64)
    no_records = Records(no_f1, no_i2, no_f2, no_i2, no_i2, no_i2, no_i2, no_f2, no_i2, no_f2,
                         no_f2, no_f2, no_f2, no_i2)
    last_golden = -1.0
    last_hold = -1.0
    for k in range(params.shape[0]):
        p = params[k]
        if p[P_GOLDEN_OVERRIDE] != last_golden or p[P_MIN_HOLD_DAYS] != last_hold:
            regime_series(
                bench_close, sma_long, sma_short, p[P_GOLDEN_OVERRIDE] > 0.5,
                int(p[P_MIN_HOLD_DAYS]), regime, bear_days,
            )
            last_golden = p[P_GOLDEN_OVERRIDE]
            last_hold = p[P_MIN_HOLD_DAYS]
        acc[:] = 0.0
        simulate(
            open_, close, rsi, adx, regime, years, is_stock, start, end, p, capital, equity, acc,
            False, no_records,
        )
        summary_metrics(equity, capital, calendar_days, acc, out[k])


def run_detailed_kernel(
    open_: np.ndarray,
    close: np.ndarray,
    rsi: np.ndarray,
    adx: np.ndarray,
    bench_close: np.ndarray,
    sma_long: np.ndarray,
    sma_short: np.ndarray,
    years: np.ndarray,
    is_stock: np.ndarray,
    start: int,
    end: int,
    p: np.ndarray,
    capital: float,
    calendar_days: float,
    out: np.ndarray,
    regime: np.ndarray,
    bear_days: np.ndarray,
    equity: np.ndarray,
    acc: np.ndarray,
    rec: Records,
) -> None:
    """One parameter vector with every day-level record (same simulation as the batch)."""
    regime_series(
        bench_close, sma_long, sma_short, p[P_GOLDEN_OVERRIDE] > 0.5, int(p[P_MIN_HOLD_DAYS]),
        regime, bear_days,
    )
    simulate(
        open_, close, rsi, adx, regime, years, is_stock, start, end, p, capital, equity, acc,
        True, rec,
    )
    summary_metrics(equity, capital, calendar_days, acc, out)



def detailed_buffers(n_sessions: int, n_window: int, n_tickers: int) -> DetailedBuffers:
    """Zeroed buffers for `run_detailed_kernel`; unpacked (`*bufs`) they are its arguments
    after `out`."""
    f1 = np.zeros(n_window, dtype=np.float64)

    def f2() -> np.ndarray:
        return np.zeros((n_window, n_tickers), dtype=np.float64)

    def i2() -> np.ndarray:
        return np.zeros((n_window, n_tickers), dtype=np.int64)

    return DetailedBuffers(
        regime=np.zeros(n_sessions, dtype=np.int64),
        bear_days=np.zeros(n_sessions, dtype=np.int64),
        equity=np.zeros(n_window, dtype=np.float64),
        acc=np.zeros(N_ACC, dtype=np.float64),
        rec=Records(
            cash=f1, qty=i2(), entry=f2(), exit_code=i2(), rank=i2(), buy_qty=i2(),
            codes=np.zeros((n_window, 3), dtype=np.int64),
            money=np.zeros((n_window, 2), dtype=np.float64),
            fill_qty=i2(), fill_price=f2(), fill_commission=f2(), fill_tax=f2(),
            fill_slippage=f2(), note=i2(),
        ),
    )
