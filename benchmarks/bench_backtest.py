"""Single-backtest speed on the real bars: compiled kernel vs the same loop in pure Python,
numba's one-time compile (cold) and cached load, and peak RSS.

Rows (each measurement is one function returning rows; `ROW_FUNCTIONS` lists them in order):
- kernel (batch, K=1): `run_batch` of the default parameters — metrics only
- kernel (detailed): `run_detailed` — every day-level record too
- prepare_market, indicators (compiled RSI, and the numpy RSI the daily cycle runs)
- run_backtest: prepare + indicators + detailed kernel, the pandas tables built on first access
  (ratio to the kernel, target <= 10x), and again with every table read
- first run_backtest in a fresh process on a warm install (numba cache filled; target 0.3 s)
- pure Python kernel: the un-jitted kernel calling the un-jitted rules, same inputs (ratio)
- batch K=64: per-combination cost when a sweep sends 64 parameter vectors in one call
- compile cold / cached load: fresh processes with NUMBA_CACHE_DIR on an empty temp dir
  (cold), then again on the same dir (cached); numba import time reported apart
- sweep (`bench_sweep.sweep_rows`): 1,000 combinations on the default universe, 2020-07-01..
  2025-12-29 with 2020 H1 as warm-up, per execution mode, each in a fresh process (first call,
  warm median, peak RSS), the pure-Python kernel extrapolated, and a cold `krx sweep`
Universes: the default 5 tickers and all 14; window 2020-01-02..2025-12-29 (1472 sessions, the
whole data set; the first ~120 sessions have no regime yet). Target: ≤ 1 ms for one 14-ticker
backtest warm (the kernel).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, REPO_DAILY, print_table, save_json, summarize, time_calls  # noqa: E402

START = date(2020, 1, 2)
END = date(2025, 12, 29)
ALL_TICKERS = sorted(p.stem for p in REPO_DAILY.glob("*.csv"))
DEFAULT_UNIVERSE = ["069500", "229200", "091160", "305720", "005930"]
UNIVERSES = {"default (5)": DEFAULT_UNIVERSE, "all (14)": ALL_TICKERS}
COLUMNS = ["name", "universe", "n", "median_ms", "p95_ms", "min_ms", "note"]


def _setup(universe: list[str]) -> dict[str, Any]:
    from contracts.settings import Settings
    from strategy.backtest.engine import compute_indicators, prepare_market
    from strategy.marketdata import make_provider
    from strategy.params import param_vector

    settings = Settings(universe=universe)
    sp = settings.strategy
    bars = dict(make_provider(f"csv:{REPO_DAILY}").load(universe, end=END))
    m = prepare_market(bars, universe, settings.benchmark, START, END)
    ind = compute_indicators(m, rsi_period=sp.rsi_period, regime_ma_long=sp.regime_ma_long,
                             ma_short_period=sp.ma_short_period, adx_period=sp.adx_period)
    p = param_vector(sp, settings.guardrails)
    return {"settings": settings, "bars": bars, "m": m, "ind": ind, "p": p,
            "capital": sp.initial_capital}


def warm_rows() -> list[dict[str, Any]]:
    """Compiled kernel, detailed kernel and run_backtest, warm, per universe; plus pure Python."""
    from strategy.backtest import jit

    jit.compile_kernels()
    rows = []
    for label, universe in UNIVERSES.items():
        rows += _universe_rows(label, universe)
    return rows


def _universe_rows(label: str, universe: list[str]) -> list[dict[str, Any]]:
    import numpy as np

    from strategy.backtest.engine import (
        compute_indicators,
        prepare_market,
        run_backtest,
        run_batch,
        run_detailed,
    )

    s = _setup(universe)
    m, ind, p, cap = s["m"], s["ind"], s["p"], s["capital"]
    one = p[None, :].copy()
    rows = []
    kernel = time_calls(lambda: run_batch(m, ind, one, cap), repeat=200, warmup=5)
    rows.append(summarize("kernel (batch, K=1)", kernel, universe=label,
                          note=f"{m.end_idx - m.start_idx + 1} sessions"))
    detailed = time_calls(lambda: run_detailed(m, ind, p, cap), repeat=200, warmup=5)
    rows.append(summarize("kernel (detailed)", detailed, universe=label))
    sp = s["settings"].strategy
    periods = {"rsi_period": sp.rsi_period, "regime_ma_long": sp.regime_ma_long,
               "ma_short_period": sp.ma_short_period, "adx_period": sp.adx_period}
    prep = time_calls(lambda: prepare_market(s["bars"], universe, s["settings"].benchmark,
                                             START, END), 100, 3)
    rows.append(summarize("prepare_market", prep, universe=label))
    ind_ms = time_calls(lambda: compute_indicators(m, **periods), 100, 3)
    k_med = float(np.median(kernel))
    rows.append(summarize(
        "indicators (compiled RSI)", ind_ms, universe=label,
        note=f"{len(universe)} tickers x {m.dates.shape[0]} sessions; target <= 0.5 ms: "
             f"{np.median(ind_ms) <= 0.5}", target_ms=0.5))
    ind_np = time_calls(lambda: compute_indicators(m, **periods, compiled=False), 100, 3)
    rows.append(summarize("indicators (numpy RSI)", ind_np, universe=label,
                          note="the daily cycle's strategy.indicators, same values bit for bit"))
    full = time_calls(lambda: run_backtest(s["bars"], s["settings"], START, END), 100, 3)
    ratio_full = float(np.median(full)) / k_med
    # On a shared machine the medians carry the other processes' load; the minima do not.
    ratio_min = min(full) / min(kernel)
    rows.append(summarize("run_backtest (full)", full, universe=label,
                          note=f"prepare + indicators + kernel, tables on access; "
                               f"{ratio_full:.1f}x the kernel (medians), {ratio_min:.1f}x "
                               f"(minima) (target <= 10x)",
                          ratio_to_kernel=ratio_full, ratio_to_kernel_min=ratio_min))

    def with_tables() -> None:
        r = run_backtest(s["bars"], s["settings"], START, END)
        _ = (r.equity, r.trades, r.fills, r.open_positions, r.per_year, r.meta, r.regime,
             r.chop, r.order_events, r.positions, r.exposure, r.cash, r.benchmark)

    tables = time_calls(with_tables, 20, 2)
    rows.append(summarize("run_backtest + every table read", tables, universe=label,
                          note=f"{np.median(tables) / k_med:.0f}x the kernel"))
    py = time_calls(lambda: run_batch(m, ind, one, cap, compiled=False), 5, 1)
    ratio = float(np.median(py) / np.median(kernel))
    rows.append(summarize("pure Python kernel", py, universe=label,
                          note=f"{ratio:,.0f}x the compiled kernel", ratio=ratio))
    many = np.repeat(one, 64, axis=0)
    many[:, 6] = np.linspace(0.03, 0.2, 64)  # distinct stop-loss levels
    batch = time_calls(lambda: run_batch(m, ind, many, cap), 20, 2)
    rows.append(summarize("batch K=64, per combo", [t / 64 for t in batch], universe=label,
                          note=f"{np.median(batch):.2f} ms per call"))
    return rows


_CHILD = """
import json, resource, time
t0 = time.perf_counter()
import numba  # noqa
t1 = time.perf_counter()
from strategy.backtest import jit
t2 = time.perf_counter()
jit.compile_kernels()
t3 = time.perf_counter()
kernels = (jit.run_batch_kernel, jit.run_detailed_kernel)
hits = sum(sum(k.stats.cache_hits.values()) for k in kernels)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"numba_import_s": t1 - t0, "jit_module_s": t2 - t1, "compile_s": t3 - t2,
                  "cache_hits": hits, "rss_mb": rss}))
"""


_FIRST = """
import json, sys, time
from datetime import date
from pathlib import Path
t0 = time.perf_counter()
from contracts.settings import Settings
from strategy.backtest.engine import run_backtest
from strategy.marketdata import make_provider
t1 = time.perf_counter()
daily = Path("data/krx/daily")
tickers = sorted(p.stem for p in daily.glob("*.csv"))
s = Settings(universe=tickers)
bars = dict(make_provider(f"csv:{daily}").load(tickers, end=date(2025, 12, 29)))
t2 = time.perf_counter()
r = run_backtest(bars, s, date(2020, 1, 2), date(2025, 12, 29))
t3 = time.perf_counter()
first_numba = "numba" in sys.modules
r2 = run_backtest(bars, s, date(2020, 1, 2), date(2025, 12, 29))
t4 = time.perf_counter()
r3 = run_backtest(bars, s, date(2020, 1, 2), date(2025, 12, 29))
t5 = time.perf_counter()
from strategy.backtest import jit
misses = sum(sum(k.stats.cache_misses.values()) for k in jit.KERNELS.values())
print(json.dumps({"imports_s": t1 - t0, "bars_s": t2 - t1, "first_s": t3 - t2,
                  "second_s": t4 - t3, "third_s": t5 - t4, "kernel_cache_misses": misses,
                  "numba_after_first": first_numba,
                  "same": bool((r.equity == r3.equity).all()) and r.metrics == r3.metrics}))
"""


def first_call_rows(repeat: int = 5) -> list[dict[str, Any]]:
    """The first `run_backtest` (14 tickers) in fresh processes with a warm install (the numba
    cache filled by a previous process): the median of `repeat` processes."""
    env = dict(os.environ)
    _run_child(_FIRST, env)  # fill the cache if this checkout has not yet
    runs = [_run_child(_FIRST, env) for _ in range(repeat)]
    first = sorted(r["first_s"] for r in runs)[len(runs) // 2]
    return [{
        "name": "first run_backtest in a fresh process", "universe": "all (14)", "n": repeat,
        "median_ms": first * 1000, "p95_ms": None, "min_ms": min(r["first_s"] for r in runs) * 1000,
        "note": f"warm install (cache misses {max(r['kernel_cache_misses'] for r in runs)}); "
                f"imports {statistics.median(r['imports_s'] for r in runs):.2f} s, bars "
                f"{statistics.median(r['bars_s'] for r in runs):.2f} s before it; numba loaded "
                f"by it: {any(r['numba_after_first'] for r in runs)}; second call (loads numba) "
                f"{statistics.median(r['second_s'] for r in runs) * 1000:.0f} ms, third "
                f"{statistics.median(r['third_s'] for r in runs) * 1000:.1f} ms; same result "
                f"{all(r['same'] for r in runs)}; target <= 300 ms",
        "runs": runs,
    }]


def _run_child(code: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, check=True, timeout=1200)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _child(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", _CHILD], cwd=REPO, env=env, capture_output=True,
                          text=True, check=True, timeout=1200)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def compile_rows() -> list[dict[str, Any]]:
    """Cold compile into an empty NUMBA_CACHE_DIR, then a cached load from it (fresh processes)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for name in ("compile (cold, empty cache)", "load (cached)"):
            r = _child(env)
            rows.append({
                "name": name, "universe": "-", "n": 1, "median_ms": r["compile_s"] * 1000,
                "p95_ms": None, "min_ms": None,
                "note": f"numba import {r['numba_import_s']:.2f} s, jit module "
                        f"{r['jit_module_s']:.2f} s, cache hits {r['cache_hits']}, "
                        f"peak RSS {r['rss_mb']:.0f} MB",
                **{f"child_{k}": v for k, v in r.items()},
            })
    return rows


def rss_rows() -> list[dict[str, Any]]:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [{"name": "peak RSS (this process)", "universe": "-", "n": 1, "median_ms": None,
             "p95_ms": None, "min_ms": None, "note": f"{peak:.0f} MB", "rss_mb": peak}]


from bench_sweep import sweep_rows  # noqa: E402  (1,000-combination sweep, fresh processes)

ROW_FUNCTIONS: list[Callable[[], list[dict[str, Any]]]] = [
    warm_rows, first_call_rows, compile_rows, sweep_rows, rss_rows,
]


def write(rows: list[dict[str, Any]], name: str = "bench_backtest") -> Path:
    """Print the table and save the JSON (benchmarks/results/<name>.json)."""
    print_table(rows, COLUMNS)
    load = os.getloadavg()
    path = save_json(name, {"window": [str(START), str(END)], "load_avg": load, "rows": rows})
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    print(f"saved {path}")
    return path


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated row functions, e.g. "
                    "warm_rows,first_call_rows (default: every one)")
    ap.add_argument("--name", default="bench_backtest", help="results/<name>.json")
    args = ap.parse_args()
    only = {x for x in args.only.split(",") if x}
    rows: list[dict[str, Any]] = []
    for fn in ROW_FUNCTIONS:
        if not only or fn.__name__ in only:
            rows += fn()
    write(rows, args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
