"""Time strategy.indicators against TA-Lib and against the plain-loop references.

Usage: python benchmarks/bench_indicators.py [--json PATH]

Prints a table of median call times on the real KRX daily bars (one ticker, ~1,500 bars) plus the
indicator part of a daily cycle (RSI(40) on every ticker, ADX(30) and SMA(60/120) on the
benchmark), and writes the numbers as JSON (default benchmarks/results/bench_indicators.json).
Needs the dev extras (``ta-lib``) and the in-repo sample bars (data/krx/daily).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from strategy.indicators import adx, rsi, sma  # noqa: E402

DAILY_DIR = REPO / "data" / "krx" / "daily"
BENCHMARK_TICKER = "069500"


def load_references() -> ModuleType:
    """The plain-loop references live with the tests; load that module by path."""
    path = REPO / "tests" / "strategy" / "test_indicators.py"
    spec = importlib.util.spec_from_file_location("indicator_references", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def median_us(call: Callable[[], object], runs: int) -> float:
    call()  # warm caches and allocator
    samples = []
    for _ in range(runs):
        began = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - began)
    return statistics.median(samples) / 1000.0


def import_ms() -> float:
    code = (
        "import time; t = time.perf_counter(); import strategy.indicators; "
        "print((time.perf_counter() - t) * 1000)"
    )
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(5)
    ]
    return statistics.median(runs)


def backtest_indicators(baseline_ms: float) -> dict[str, Any]:
    """`compute_indicators` of the backtest (every ticker of data/krx/daily, 2020-01-02..
    2025-12-29, default periods), compiled RSI and numpy RSI (the same values bit for bit)."""
    from datetime import date

    from contracts.settings import Settings
    from strategy.backtest.engine import compute_indicators, prepare_market
    from strategy.marketdata import make_provider

    tickers = sorted(p.stem for p in DAILY_DIR.glob("*.csv"))
    s = Settings(universe=tickers)
    sp = s.strategy
    end = date(2025, 12, 29)
    bars = dict(make_provider(f"csv:{DAILY_DIR}").load(tickers, end=end))
    m = prepare_market(bars, tickers, s.benchmark, date(2020, 1, 2), end)
    periods = {"rsi_period": sp.rsi_period, "regime_ma_long": sp.regime_ma_long,
               "ma_short_period": sp.ma_short_period, "adx_period": sp.adx_period}
    compiled = median_us(lambda: compute_indicators(m, **periods), 500) / 1000
    plain = median_us(lambda: compute_indicators(m, **periods, compiled=False), 500) / 1000
    return {"bt_tickers": len(tickers), "bt_sessions": int(m.dates.shape[0]),
            "bt_compiled_ms": compiled, "bt_numpy_ms": plain,
            "bt_ratio_to_daily_loop": baseline_ms / compiled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--json", type=Path, default=REPO / "benchmarks" / "results" / "bench_indicators.json"
    )
    args = parser.parse_args()

    import talib

    ref = load_references()
    bars = {p.stem: ref.load_daily(p.stem) for p in sorted(DAILY_DIR.glob("*.csv"))}
    if BENCHMARK_TICKER not in bars:
        sys.exit(f"no {BENCHMARK_TICKER}.csv under {DAILY_DIR.resolve()}")
    b = bars[BENCHMARK_TICKER]
    h, lo, c = b["high"], b["low"], b["close"]
    hl, ll, cl = h.tolist(), lo.tolist(), c.tolist()

    cases: list[tuple[str, Callable[[], object], Callable[[], object], Callable[[], object]]] = [
        (
            "sma(120)",
            lambda: sma(c, 120),
            lambda: talib.SMA(c, 120),
            lambda: ref.reference_sma(cl, 120),
        ),
        (
            "rsi(14)",
            lambda: rsi(c, 14),
            lambda: talib.RSI(c, 14),
            lambda: ref.reference_rsi(cl, 14),
        ),
        (
            "rsi(40)",
            lambda: rsi(c, 40),
            lambda: talib.RSI(c, 40),
            lambda: ref.reference_rsi(cl, 40),
        ),
        (
            "adx(14)",
            lambda: adx(h, lo, c, 14),
            lambda: talib.ADX(h, lo, c, 14),
            lambda: ref.reference_adx(hl, ll, cl, 14),
        ),
        (
            "adx(30)",
            lambda: adx(h, lo, c, 30),
            lambda: talib.ADX(h, lo, c, 30),
            lambda: ref.reference_adx(hl, ll, cl, 30),
        ),
    ]
    rows: list[dict[str, Any]] = []
    for name, ours, theirs, loop in cases:
        rows.append(
            {
                "indicator": name,
                "ours_us": median_us(ours, 1000),
                "talib_us": median_us(theirs, 1000),
                "python_loop_us": median_us(loop, 50),
            }
        )

    closes = [v["close"] for v in bars.values()]

    def daily_cycle() -> None:
        for close in closes:
            rsi(close, 40)
        adx(h, lo, c, 30)
        sma(c, 60)
        sma(c, 120)

    def daily_cycle_talib() -> None:
        for close in closes:
            talib.RSI(close, 40)
        talib.ADX(h, lo, c, 30)
        talib.SMA(c, 60)
        talib.SMA(c, 120)

    cycle = {
        "tickers": len(closes),
        "ours_ms": median_us(daily_cycle, 200) / 1000,
        "talib_ms": median_us(daily_cycle_talib, 200) / 1000,
        "import_strategy_indicators_ms_incl_numpy": import_ms(),
    }

    cycle.update(backtest_indicators(cycle["ours_ms"]))

    print(f"{len(c)} bars of {BENCHMARK_TICKER}, median per call")
    print(f"{'indicator':<10} {'ours µs':>9} {'talib µs':>9} {'loop µs':>9} {'loop/ours':>9}")
    for r in rows:
        print(
            f"{r['indicator']:<10} {r['ours_us']:>9.1f} {r['talib_us']:>9.1f} "
            f"{r['python_loop_us']:>9.1f} {r['python_loop_us'] / r['ours_us']:>9.1f}"
        )
    print(
        f"daily-cycle indicators ({cycle['tickers']} x rsi(40) + adx(30) + sma(60, 120)): "
        f"ours {cycle['ours_ms']:.2f} ms, talib {cycle['talib_ms']:.2f} ms"
    )
    print(
        f"backtest indicators ({cycle['bt_tickers']} tickers x {cycle['bt_sessions']} sessions, "
        f"RSI of every ticker + benchmark ADX + 2 SMAs): compiled {cycle['bt_compiled_ms']:.3f} "
        f"ms, numpy one pass {cycle['bt_numpy_ms']:.3f} ms, the per-ticker loop above "
        f"{cycle['ours_ms']:.3f} ms ({cycle['ours_ms'] / cycle['bt_compiled_ms']:.1f}x); "
        f"target <= 0.5 ms: {cycle['bt_compiled_ms'] <= 0.5}"
    )
    print(
        f"import strategy.indicators (numpy included): "
        f"{cycle['import_strategy_indicators_ms_incl_numpy']:.0f} ms"
    )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "bars": len(c),
                "ticker": BENCHMARK_TICKER,
                "python": platform.python_version(),
                "numpy": np.__version__,
                "indicators": rows,
                "daily_cycle": cycle,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
