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
    BLOCK_NONE,
    EXIT_NONE,
    GUARD_OK,
    P_COMMISSION,
    P_GOLDEN_OVERRIDE,
    P_MIN_HOLD_DAYS,
    P_SLIPPAGE,
    SIDE_BUY,
    SIDE_SELL,
    buys_held_back,
    cash_reserve,
    decide_session,
    fill_terms,
    flat_book_block,
    regime_series,
)

# What happened to an order at the open (per session and ticker, detailed runs only); the
# codes and their names are declared here only.
NOTE_NONE = 0
NOTE_HALT_DROPPED = 1  # open 0 or missing: the order could not fill
NOTE_CASH_SKIPPED = 2  # cash above the reserve did not pay for one share
NOTE_CASH_CUT = 3  # bought fewer shares than sized
NOTE_GUARD_SKIPPED = 4  # the decision's guardrail code was not OK: no buys that session
NOTE_NAMES = {
    NOTE_HALT_DROPPED: "HALT_DROPPED",
    NOTE_CASH_SKIPPED: "CASH_SKIPPED",
    NOTE_CASH_CUT: "CASH_CUT",
    NOTE_GUARD_SKIPPED: "GUARD_SKIPPED",
}

# One record per window session of a detailed run (a structured array, fields by name).
DAY_DT = np.dtype([
    ("cash", np.float64),  # cash at the close, after that session's fills
    ("equity", np.float64),  # equity_T seen by the decision
    ("reserve", np.float64),  # cash reserve fixed by the decision for the next open
    ("block", np.int64),  # rules.BLOCK_* of the decision
    ("guard", np.int64),  # rules.GUARD_* of the decision
    ("regime", np.int64),  # rules.REGIME_* at the close
])


class Market(NamedTuple):
    """The market arrays every kernel reads, over the whole prepared history (warm-up
    included): [T, N] per ticker in universe order, [T] for the benchmark, [N] per ticker."""

    open: np.ndarray  # [T, N] session open (0 or NaN: halted, cannot fill)
    close: np.ndarray  # [T, N]
    rsi: np.ndarray  # [T, N]
    adx: np.ndarray  # [T] benchmark ADX
    bench_close: np.ndarray  # [T]
    sma_long: np.ndarray  # [T] benchmark SMA (regime)
    sma_short: np.ndarray  # [T] benchmark SMA (golden cross)
    years: np.ndarray  # [T] int64 calendar year of each session (sell tax)
    is_stock: np.ndarray  # [N] bool (ETFs pay no sell tax)


class Records(NamedTuple):
    """Day-level records of a detailed run, by name (first axis = window session)."""

    day: np.ndarray  # [W] DAY_DT: cash, decision equity and reserve, block/guard/regime codes
    qty: np.ndarray  # [W, N] shares held at the close
    entry: np.ndarray  # [W, N] entry price of each holding
    exit_code: np.ndarray  # [W, N] EXIT_* decided at the close
    rank: np.ndarray  # [W, N] entry rank decided at the close
    buy_qty: np.ndarray  # [W, N] sized buy quantity decided at the close
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


def _book_fill(acc: np.ndarray, rec: Records, record: bool, k: int, i: int, signed_qty: int,
               price: float, notional: float, comm: float, tax: float, slip: float) -> None:
    """Add one fill to the `ACC_*` accumulators and, with `record`, to the records of window
    session `k`, ticker `i` (signed qty: + buy, − sell)."""
    acc[ACC_COMMISSION] += comm
    acc[ACC_TAX] += tax
    acc[ACC_SLIPPAGE] += slip
    acc[ACC_NOTIONAL] += notional
    acc[ACC_FILLS] += 1.0
    if record:
        rec.fill_qty[k, i] = signed_qty
        rec.fill_price[k, i] = price
        rec.fill_commission[k, i] = comm
        rec.fill_tax[k, i] = tax
        rec.fill_slippage[k, i] = slip


def simulate(
    mk: Market,
    regime: np.ndarray,
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
    and the fills at that session's open, signed qty: + buy, − sell). Without `record`, a
    session whose book is empty and whose entries are blocked skips `decide_session`
    (`rules.flat_book_block`): the same run, most sessions of a sweep cheaper.
    """
    open_, close, rsi, adx = mk.open, mk.close, mk.rsi, mk.adx
    years, is_stock = mk.years, mk.is_stock
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
    # Most sessions of most combinations hold nothing or rank no entry: these two counts let
    # the loops below skip tickers that could not act (the same fills, just fewer visits).
    n_held = 0  # tickers with qty > 0
    n_exits = 0  # held tickers with an exit decided at the last close
    n_candidates = 0  # 1 when the last close ranked entries (its block was BLOCK_NONE)

    for t in range(start, end + 1):
        k = t - start
        if t > start:
            # Orders decided at the close of t-1 (still in exit_code/rank/buy_qty).
            for i in range(n if n_exits > 0 else 0):
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
                _book_fill(acc, rec, record, k, i, -q, price, notional, comm, tax,
                           q * (o - price))
                acc[ACC_TRADES] += 1.0
                if pnl > 0.0:
                    acc[ACC_WINS] += 1.0
                acc[ACC_HOLD_SESSIONS] += t - entry_t[i]
                qty[i] = 0
                n_held -= 1
                entry[i] = 0.0
                basis[i] = 0.0

            n_ranked = 0
            for i in range(n if n_candidates > 0 else 0):
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
                qty[i] = q  # a candidate is never held (rules.decide_session)
                n_held += 1
                entry[i] = price
                basis[i] = notional + comm
                entry_t[i] = t
                _book_fill(acc, rec, record, k, i, q, price, notional, comm, tax,
                           q * (price - o))
                if record and q < buy_qty[i]:
                    rec.note[k, i] = NOTE_CASH_CUT

        value = cash
        invested = False
        for i in range(n if n_held > 0 else 0):
            if qty[i] > 0:
                value += qty[i] * close[t, i]
                invested = True
        equity[k] = value
        if invested:
            acc[ACC_EXPOSED_SESSIONS] += 1.0
        if record:
            rec.day[k]["cash"] = cash
            for i in range(n):
                rec.qty[k, i] = qty[i]
                rec.entry[k, i] = entry[i]

        if n_held == 0 and not record:
            block = flat_book_block(regime[t], adx[t], p)
            if block != BLOCK_NONE:
                # What decide_session returns for an empty book on a blocked session (see
                # rules.flat_book_block): no exit, no entry; the arrays it would zero are not
                # read before the next call, since nothing is held and nothing is ranked.
                guard = GUARD_OK
                reserve = cash_reserve(cash, p)
                n_candidates = 0
                n_exits = 0
                continue
        block, guard, eq_t, reserve = decide_session(
            regime[t], adx[t], close[t], rsi[t], qty, entry, cash, p, exit_code, rank, buy_qty
        )
        # A blocked session ranks nothing (rules.decide_session returns before ranking).
        n_candidates = 1 if block == BLOCK_NONE else 0
        n_exits = 0
        for i in range(n if n_held > 0 else 0):
            if qty[i] > 0 and exit_code[i] != EXIT_NONE:
                n_exits += 1
        if record:
            rec.day[k]["equity"] = eq_t
            rec.day[k]["reserve"] = reserve
            rec.day[k]["block"] = block
            rec.day[k]["guard"] = guard
            rec.day[k]["regime"] = regime[t]
            for i in range(n):
                rec.exit_code[k, i] = exit_code[i]
                rec.rank[k, i] = rank[i]
                rec.buy_qty[k, i] = buy_qty[i]


def run_batch_kernel(
    mk: Market,
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
    n_sessions = mk.close.shape[0]
    regime = np.zeros(n_sessions, dtype=np.int64)
    bear_days = np.zeros(n_sessions, dtype=np.int64)
    equity = np.zeros(end - start + 1, dtype=np.float64)
    acc = np.zeros(N_ACC, dtype=np.float64)
    no_day = np.zeros(0, dtype=DAY_DT)
    no_f2 = np.zeros((0, 0), dtype=np.float64)
    no_i2 = np.zeros((0, 0), dtype=np.int64)
    no_records = Records(no_day, no_i2, no_f2, no_i2, no_i2, no_i2, no_i2, no_f2, no_f2, no_f2,
                         no_f2, no_i2)
    last_golden = -1.0
    last_hold = -1.0
    for k in range(params.shape[0]):
        p = params[k]
        if p[P_GOLDEN_OVERRIDE] != last_golden or p[P_MIN_HOLD_DAYS] != last_hold:
            regime_series(
                mk.bench_close, mk.sma_long, mk.sma_short, p[P_GOLDEN_OVERRIDE] > 0.5,
                int(p[P_MIN_HOLD_DAYS]), regime, bear_days,
            )
            last_golden = p[P_GOLDEN_OVERRIDE]
            last_hold = p[P_MIN_HOLD_DAYS]
        acc[:] = 0.0
        simulate(mk, regime, start, end, p, capital, equity, acc, False, no_records)
        summary_metrics(equity, capital, calendar_days, acc, out[k])


def run_detailed_kernel(
    mk: Market,
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
        mk.bench_close, mk.sma_long, mk.sma_short, p[P_GOLDEN_OVERRIDE] > 0.5,
        int(p[P_MIN_HOLD_DAYS]), regime, bear_days,
    )
    simulate(mk, regime, start, end, p, capital, equity, acc, True, rec)
    summary_metrics(equity, capital, calendar_days, acc, out)


def detailed_buffers(n_sessions: int, n_window: int, n_tickers: int) -> DetailedBuffers:
    """Zeroed buffers for `run_detailed_kernel`; unpacked (`*bufs`) they are its arguments
    after `out`. The eleven [W, N] records are C-contiguous views of one zeroed block (one
    allocation instead of eleven: large ones each cost a memory mapping)."""
    cells = n_window * n_tickers
    block = np.zeros(11 * cells, dtype=np.int64)  # all-zero bits: 0 as int64 and as float64
    parts = iter(range(11))

    def i2() -> np.ndarray:
        k = next(parts)
        return block[k * cells : (k + 1) * cells].reshape(n_window, n_tickers)

    def f2() -> np.ndarray:
        return i2().view(np.float64)

    return DetailedBuffers(
        regime=np.zeros(n_sessions, dtype=np.int64),
        bear_days=np.zeros(n_sessions, dtype=np.int64),
        equity=np.zeros(n_window, dtype=np.float64),
        acc=np.zeros(N_ACC, dtype=np.float64),
        rec=Records(
            day=np.zeros(n_window, dtype=DAY_DT), qty=i2(), entry=f2(), exit_code=i2(),
            rank=i2(), buy_qty=i2(), fill_qty=i2(), fill_price=f2(), fill_commission=f2(),
            fill_tax=f2(), fill_slippage=f2(), note=i2(),
        ),
    )


def rsi_columns_kernel(close: np.ndarray, n: int, out: np.ndarray) -> None:
    """`strategy.indicators.rsi_columns` of gap-free columns, as loops that `jit` compiles.

    The same float operations in the same order as the vectorised doubling scan of
    `strategy.indicators` (the sums of the first `n` moves row by row, then per doubling offset
    `y[t] += y[t - offset] * factor` with every product taken before any sum), so each value is
    bit for bit the daily cycle's. Writes rows `n`.. of `out` (the rows before stay as the
    caller left them: NaN).
    """
    n_rows, n_cols = close.shape
    steps = n_rows - 1 - n  # Wilder steps after the first average
    if steps < 0:
        return
    r = (n - 1) / n
    y = np.empty((2, steps + 1), dtype=np.float64)  # average gain, average loss
    part = np.empty(steps + 1, dtype=np.float64)
    for i in range(n_cols):
        gain = 0.0
        loss = 0.0
        for j in range(n):
            change = close[j + 1, i] - close[j, i]
            gain += max(change, 0.0)
            loss += max(-change, 0.0)
        y[0, 0] = gain / n
        y[1, 0] = loss / n
        for j in range(steps):
            change = close[n + j + 1, i] - close[n + j, i]
            y[0, j + 1] = max(change, 0.0) / n
            y[1, j + 1] = max(-change, 0.0) / n
        for s in range(2):
            _doubling_scan(y[s], r, part)
        for t in range(steps + 1):
            total = y[0, t] + y[1, t]
            out[n + t, i] = 0.0 if total == 0.0 else 100.0 * (y[0, t] / total)


def _doubling_scan(y: np.ndarray, factor: float, part: np.ndarray) -> None:
    """`strategy.indicators._wilder_filter`'s scan, in place on `y` (row 0 = the start value):
    per doubling offset every product `y[t - offset] * factor` is taken, then added."""
    steps = y.shape[0] - 1
    offset = 1
    while offset <= steps:
        m = steps + 1 - offset
        for t in range(m):
            part[t] = y[t] * factor
        for t in range(m):
            y[t + offset] += part[t]
        factor *= factor
        offset *= 2


def _pairwise_sum(a: np.ndarray, n: int) -> float:
    """numpy's sum of `a[:n]` (float64, contiguous) for n <= 128, added as numpy adds (one
    loop below 8, else eight interleaved partial sums folded in pairs, then the rest)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[i]
        return res
    r = np.empty(8, dtype=np.float64)
    for j in range(8):
        r[j] = a[j]
    i = 8
    while i < n - (n % 8):
        for j in range(8):
            r[j] += a[i + j]
        i += 8
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        res += a[i]
        i += 1
    return res


def adx_kernel(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int,
               out: np.ndarray) -> None:
    """`strategy.indicators.adx` of a gap-free series, as loops that `jit` compiles: the same
    float operations in the same order (the first sums row by row, the DX mean as numpy's
    pairwise sum, the doubling scans), so every value is bit for bit the daily cycle's; for
    n <= 128 (numpy splits longer sums in halves). Writes rows `2n - 1`.. of `out` (the caller
    leaves the rows before NaN)."""
    size = close.shape[0]
    if size < 2 * n:
        return
    steps = size - n  # smoothed bars n .. size-1
    r = (n - 1) / n
    sm = np.empty((3, steps + 1), dtype=np.float64)  # TR, +DM, -DM; column 0 = first sums
    part = np.empty(steps + 1, dtype=np.float64)
    first_tr = 0.0
    first_p = 0.0
    first_m = 0.0
    for j in range(size - 1):  # the step into bar j + 1
        up = high[j + 1] - high[j]
        down = -(low[j + 1] - low[j])
        pdm = up if (up > 0.0 and up > down) else 0.0
        mdm = down if (down > 0.0 and up < down) else 0.0
        tr = max(high[j + 1] - low[j + 1],
                 max(abs(high[j + 1] - close[j]), abs(low[j + 1] - close[j])))
        if j < n - 1:
            first_tr += tr
            first_p += pdm
            first_m += mdm
        else:
            k = j - (n - 1) + 1
            sm[0, k] = tr
            sm[1, k] = pdm
            sm[2, k] = mdm
    sm[0, 0] = first_tr
    sm[1, 0] = first_p
    sm[2, 0] = first_m
    for c in range(3):
        _doubling_scan(sm[c], r, part)
    dx = np.empty(steps, dtype=np.float64)
    for k in range(steps):
        tr = sm[0, k + 1]
        value = 0.0
        if tr != 0.0:
            plus_di = 100.0 * (sm[1, k + 1] / tr)
            minus_di = 100.0 * (sm[2, k + 1] / tr)
            di_sum = minus_di + plus_di
            if di_sum != 0.0:
                value = 100.0 * (abs(minus_di - plus_di) / di_sum)
        dx[k] = value
    y = np.empty(steps - n + 1, dtype=np.float64)
    y[0] = _pairwise_sum(dx, n) / n
    for k in range(steps - n):
        y[k + 1] = dx[n + k] / n
    _doubling_scan(y, r, part)
    for k in range(steps - n + 1):
        out[2 * n - 1 + k] = y[k]
