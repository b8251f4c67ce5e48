"""The hand-written floor of a parameter sweep: the same rules in one fused numba `prange` loop.

Usage: python benchmarks/bench_floor.py [--repeat N]

A reference, not a product: one `numba.njit(parallel=True)` function runs every combination of a
grid in a `prange` loop, with the session loop (sells at the open, buys in rank order, the
decision at the close) written out inline, the compiled `strategy.rules` functions for the
decisions and fills, and the metrics; no batching, no threads pool, no pandas. The sweep
benchmark (`bench_sweep.py`) measures it in the same process as `run_sweep` and quotes the
ratio; its metrics must equal `run_batch`'s (checked here, bit for bit).

`floor_measure` returns the figures: the fused loop alone (indicators given), and the fused loop
plus the indicators computed once per period (the part of a sweep the floor also has to do).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import REPO_DAILY, print_table, save_json  # noqa: E402

from strategy import rules  # noqa: E402
from strategy.backtest import jit  # noqa: E402
from strategy.backtest.metrics import (  # noqa: E402
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
    N_METRICS,
)

_decide = jit.decide_session
_fill = jit.RULES["fill_terms"]
_regime_series = jit.regime_series
_summary = jit.summary_metrics
EXIT_NONE, GUARD_OK = rules.EXIT_NONE, rules.GUARD_OK
SIDE_BUY, SIDE_SELL = rules.SIDE_BUY, rules.SIDE_SELL
P_COMMISSION, P_SLIPPAGE = rules.P_COMMISSION, rules.P_SLIPPAGE
P_GOLDEN, P_HOLD = rules.P_GOLDEN_OVERRIDE, rules.P_MIN_HOLD_DAYS


@numba.njit(parallel=True, cache=True, nogil=True)
def fused_sweep(  # noqa: PLR0913, PLR0915
    open_: np.ndarray, close: np.ndarray, rsi: np.ndarray, adx: np.ndarray,
    bench_close: np.ndarray, sma_long: np.ndarray, sma_short: np.ndarray, years: np.ndarray,
    is_stock: np.ndarray, group: np.ndarray, start: int, end: int, params: np.ndarray,
    capital: float, calendar_days: float, out: np.ndarray,
) -> None:
    """Metrics of every row of `params` into `out`; `rsi`/`adx`/`sma_*` are stacked per indicator
    group ([G, T, N] / [G, T]) and `group[k]` names the row's."""
    n_sessions, n = close.shape
    for k in numba.prange(params.shape[0]):
        p = params[k]
        g = group[k]
        regime = np.zeros(n_sessions, dtype=np.int64)
        bear_days = np.zeros(n_sessions, dtype=np.int64)
        _regime_series(bench_close, sma_long[g], sma_short[g], p[P_GOLDEN] > 0.5,
                       int(p[P_HOLD]), regime, bear_days)
        equity = np.zeros(end - start + 1)
        acc = np.zeros(N_ACC)
        commission = p[P_COMMISSION]
        slip = p[P_SLIPPAGE]
        cash = capital
        qty = np.zeros(n, dtype=np.int64)
        entry = np.zeros(n)
        basis = np.zeros(n)
        entry_t = np.zeros(n, dtype=np.int64)
        exit_code = np.zeros(n, dtype=np.int64)
        rank = np.zeros(n, dtype=np.int64)
        buy_qty = np.zeros(n, dtype=np.int64)
        by_rank = np.zeros(n, dtype=np.int64)
        guard = GUARD_OK
        reserve = 0.0
        rsi_g = rsi[g]
        adx_g = adx[g]
        for t in range(start, end + 1):
            if t > start:
                for i in range(n):
                    if qty[i] <= 0 or exit_code[i] == EXIT_NONE:
                        continue
                    o = open_[t, i]
                    if not o > 0.0:
                        continue
                    q, price, notional, comm, tax, cash = _fill(
                        SIDE_SELL, o, qty[i], slip, commission, years[t], is_stock[i], False,
                        cash, 0.0)
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
                    qty[i] = 0
                    entry[i] = 0.0
                    basis[i] = 0.0
                n_ranked = 0
                for i in range(n):
                    if rank[i] > 0:
                        by_rank[rank[i] - 1] = i
                        n_ranked += 1
                if guard == GUARD_OK:
                    for r in range(n_ranked):
                        i = by_rank[r]
                        o = open_[t, i]
                        if buy_qty[i] <= 0 or not o > 0.0:
                            continue
                        q, price, notional, comm, tax, after = _fill(
                            SIDE_BUY, o, buy_qty[i], slip, commission, years[t], is_stock[i],
                            True, cash, reserve)
                        if q <= 0:
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
            value = cash
            invested = False
            for i in range(n):
                if qty[i] > 0:
                    value += qty[i] * close[t, i]
                    invested = True
            equity[t - start] = value
            if invested:
                acc[ACC_EXPOSED_SESSIONS] += 1.0
            _, guard, _, reserve = _decide(regime[t], adx_g[t], close[t], rsi_g[t], qty, entry,
                                           cash, p, exit_code, rank, buy_qty)
        _summary(equity, capital, calendar_days, acc, out[k])


def _inputs(grid: dict[str, list[Any]], universe: list[str] | None, start: str, end: str
            ) -> dict[str, Any]:
    """The market, every valid combination and the indicator groups of a sweep grid."""
    from datetime import date

    from contracts.settings import Settings
    from strategy.backtest.engine import IndicatorCache, prepare_market
    from strategy.backtest.grid import INDICATOR_PARAMS, expand_grid, parse_grid
    from strategy.marketdata import CsvProvider

    s = Settings(universe=universe) if universe else Settings()
    d0, d1 = date.fromisoformat(start), date.fromisoformat(end)
    bars = dict(CsvProvider(REPO_DAILY).load(list(s.universe), end=d1))
    m = prepare_market(bars, list(s.universe), s.benchmark, d0, d1)
    combos = expand_grid(s, parse_grid(grid)).combinations
    keys: dict[tuple[Any, ...], int] = {}
    group = np.array([keys.setdefault(c.group[: len(INDICATOR_PARAMS)], len(keys))
                      for c in combos], dtype=np.int64)
    params = np.ascontiguousarray(np.stack([c.params for c in combos]))
    return {"settings": s, "bars": bars, "m": m, "combos": combos, "keys": list(keys),
            "group": group, "params": params, "cache": IndicatorCache}


def _stack(inp: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """Indicators of every group, once per period, stacked for `fused_sweep`."""
    cache = inp["cache"](inp["m"])
    sets = [cache.get(rsi_period=k[0], regime_ma_long=k[1], ma_short_period=k[2], adx_period=k[3])
            for k in inp["keys"]]
    return (np.stack([x.rsi for x in sets]), np.stack([x.adx for x in sets]),
            np.stack([x.sma_long for x in sets]), np.stack([x.sma_short for x in sets]))


def _run(inp: dict[str, Any], stacked: tuple[np.ndarray, ...]) -> np.ndarray:
    m = inp["m"]
    rsi, adx, sma_long, sma_short = stacked
    out = np.full((inp["params"].shape[0], N_METRICS), np.nan)
    fused_sweep(m.open, m.close, rsi, adx, m.bench_close, sma_long, sma_short, m.years,
                m.is_stock, inp["group"], int(m.start_idx), int(m.end_idx), inp["params"],
                float(inp["settings"].strategy.initial_capital), m.calendar_days, out)
    return out


def floor_measure(grid: dict[str, list[Any]], universe: list[str] | None, start: str, end: str,
                  repeat: int = 5) -> dict[str, Any]:
    """Median wall times of the floor on this process's threads (numba's default: every core),
    and whether its metrics equal `run_batch`'s."""
    from strategy.backtest.engine import IndicatorSet, run_batch

    inp = _inputs(grid, universe, start, end)
    stacked = _stack(inp)
    first = _run(inp, stacked)  # compile or load from the cache
    loop, fused = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = _run(inp, stacked)
        loop.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        _run(inp, _stack(inp))
        fused.append(time.perf_counter() - t0)
    assert np.array_equal(out, first, equal_nan=True)
    ref = np.full_like(out, np.nan)
    for g in range(len(inp["keys"])):
        rows = np.flatnonzero(inp["group"] == g)
        ind = IndicatorSet(rsi=stacked[0][g], adx=stacked[1][g], sma_long=stacked[2][g],
                           sma_short=stacked[3][g])
        ref[rows] = run_batch(inp["m"], ind, inp["params"][rows],
                              inp["settings"].strategy.initial_capital)
    return {
        "combinations": int(out.shape[0]), "groups": len(inp["keys"]),
        "threads": numba.get_num_threads(),
        "loop_median_s": statistics.median(loop), "loop_min_s": min(loop),
        "with_indicators_median_s": statistics.median(fused),
        "equals_run_batch": bool(np.array_equal(out, ref, equal_nan=True)),
    }


def main() -> int:
    from bench_sweep import END, GRID, START

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    res = floor_measure(GRID, None, START, END, args.repeat)
    rows = [{"name": "floor: fused prange loop", "n": args.repeat,
             "median_ms": res["loop_median_s"] * 1e3,
             "note": f"{res['combinations']} combos, {res['threads']} threads, equal to "
                     f"run_batch: {res['equals_run_batch']}"},
            {"name": "floor: + indicators per period", "n": args.repeat,
             "median_ms": res["with_indicators_median_s"] * 1e3, "note": ""}]
    print_table(rows, ["name", "n", "median_ms", "note"])
    print(f"saved {save_json('bench_floor', {**res, 'rows': rows})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
