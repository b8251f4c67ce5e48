"""Time a 1,000-combination parameter sweep on the real KRX bars, and 100,000 on all 14.

Usage: python benchmarks/bench_sweep.py [--repeat N] [--python-sample K] [--big-only | --no-big]

The 100,000-combination sweep (all 14 tickers of data/krx/daily, 2020-07-01..2025-12-29, a
grid of 20 buy × 25 sell thresholds × 25 stop losses × 8 ADX thresholds) runs twice, each in
a fresh process: on threads over every core (the default: the kernel releases the GIL) and
on one core; the table prints both with the ratio, peak RSS, process CPU time and whether the
results are identical (a hash of the ranked frame). Targets: <= 6 s on 2 idle cores, <= 500 MB.

Default universe, decision window 2020-07-01..2025-12-29 (2020 H1 is the warm-up), a grid of
5 RSI periods (5 indicator groups) × 5 buy × 4 sell thresholds × 10 stop losses = 1,000
combinations. Every measurement runs in its own fresh process so peak RSS and cold start are
honest:

- one-time compile: first `run_batch` with an empty numba cache dir, then with it filled;
- `run_sweep` per execution mode (in-process — the default for a sweep this size —, loky
  processes ×2, threads ×2): the first call in the process (kernel cache load, worker start)
  and the median of the next calls (warm: compiled kernels loaded, loky pool reused);
- peak RSS of the process (plus its largest worker for loky);
- the pure-Python kernel (`run_batch(compiled=False)`, the same loop calling the uncompiled
  `strategy.rules`) on 50 random grid points, extrapolated linearly to 1,000 (each
  combination is an independent simulation over the same sessions, so time is linear in the
  number of combinations), and a plain loop of `run_backtest` on 20, extrapolated the same way;
- a cold `krx sweep` command of the same grid, end to end.

Prints a table and writes benchmarks/results/bench_sweep.json. The machine may be shared:
the load average at the start of each measurement is recorded with it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import REPO_DAILY, print_table, save_json  # noqa: E402

START = "2020-07-01"
END = "2025-12-29"
GRID: dict[str, list[Any]] = {
    "rsi_period": [14, 20, 30, 40, 50],
    "rsi_buy_threshold": [30, 35, 40, 45, 50],
    "rsi_sell_threshold": [60, 65, 70, 75],
    "stop_loss_pct": [0.05, 0.08, 0.10, 0.12, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40],
}
TARGET_WALL_S = 0.5
TARGET_RSS_MB = 400.0
BIG_GRID: dict[str, list[Any]] = {
    "rsi_buy_threshold": [float(v) for v in range(30, 50)],
    "rsi_sell_threshold": [float(v) for v in range(55, 80)],
    "stop_loss_pct": [round(0.04 + 0.01 * i, 2) for i in range(25)],
    "adx_threshold": [10.0, 12.5, 15.0, 17.5, 20.0, 22.5, 25.0, 27.5],
}
BIG_TARGET_WALL_S = 6.0
BIG_TARGET_RSS_MB = 500.0


def _load() -> tuple[Any, Any]:
    from datetime import date

    from contracts.settings import Settings
    from strategy.marketdata import CsvProvider

    s = Settings()
    bars = dict(CsvProvider(REPO_DAILY).load(list(s.universe), end=date.fromisoformat(END)))
    return bars, s


def _vm_hwm_mb(pid: str) -> float | None:
    """Peak RSS (VmHWM) of a live process. Not getrusage: ru_maxrss survives exec, so a child
    forked from a big parent would report the parent's peak."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "VmHWM" not in fields:
        return None
    return int(fields["VmHWM"].split()[0]) / 1024.0


def _rss_mb() -> tuple[float, float]:
    """Peak RSS of this process and the largest peak among its live children (the loky
    workers are still alive here)."""
    own = _vm_hwm_mb("self") or 0.0
    kids = 0.0
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="utf-8")
        except OSError:
            continue
        ppid = stat.rsplit(")", 1)[1].split()[1]
        if ppid == me:
            kids = max(kids, _vm_hwm_mb(entry.name) or 0.0)
    return own, kids


def child_compile() -> dict[str, Any]:
    """First compiled `run_batch` call: numba import + compile (or cache load)."""
    t0 = time.perf_counter()
    from datetime import date

    import numpy as np

    from strategy.backtest.engine import compute_indicators, prepare_market, run_batch
    from strategy.params import param_vector

    bars, s = _load()
    m = prepare_market(bars, s.universe, s.benchmark, date.fromisoformat(START), date(2020, 7, 31))
    ind = compute_indicators(
        m, rsi_period=40, regime_ma_long=120, ma_short_period=60, adx_period=30
    )
    p = param_vector(s.strategy, s.guardrails)[None, :]
    t1 = time.perf_counter()
    run_batch(m, ind, np.repeat(p, 2, axis=0), 1e7)
    t2 = time.perf_counter()
    return {"setup_s": t1 - t0, "first_run_batch_s": t2 - t1}


def child_sweep(mode: str, jobs: int, repeat: int) -> dict[str, Any]:
    """`run_sweep` of GRID: the first call in this process, then `repeat` warm calls."""
    from datetime import date

    from strategy.backtest.sweep import run_sweep

    bars, s = _load()
    start, end = date.fromisoformat(START), date.fromisoformat(END)
    kw: dict[str, Any] = {}
    if mode != "auto":
        kw = {"backend": mode, "n_jobs": jobs}
    t0 = time.perf_counter()
    df = run_sweep(bars, s, GRID, start, end, **kw)
    first = time.perf_counter() - t0
    warm = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        again = run_sweep(bars, s, GRID, start, end, **kw)
        warm.append(time.perf_counter() - t0)
        assert again.equals(df)
    own, kids = _rss_mb()
    out = {
        "combinations": len(df),
        "execution": df.attrs["execution"],
        "first_s": first,
        "warm_median_s": statistics.median(warm),
        "warm_min_s": min(warm),
        "kernel_s": df.attrs["kernel_s"],
        "rss_mb": own,
        "worker_rss_mb": kids,
        "best": df.iloc[0][list(GRID) + ["sharpe"]].to_dict(),
    }
    if mode == "threads":
        # The hand-written fused prange floor, in this process, between sweeps of the same grid.
        from bench_floor import floor_measure

        floor = floor_measure(GRID, None, START, END, repeat)
        again = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            run_sweep(bars, s, GRID, start, end, **kw)
            again.append(time.perf_counter() - t0)
        out["floor"] = floor
        out["warm_after_floor_median_s"] = statistics.median(again)
    return out


def child_big(mode: str, jobs: int) -> dict[str, Any]:
    """`run_sweep` of BIG_GRID on all 14 tickers, in this fresh process (kernels cached)."""
    import hashlib
    from datetime import date

    from contracts.settings import Settings
    from strategy.backtest.sweep import run_sweep
    from strategy.marketdata import CsvProvider

    tickers = sorted(p.stem for p in REPO_DAILY.glob("*.csv"))
    s = Settings(universe=tickers)
    bars = dict(CsvProvider(REPO_DAILY).load(tickers, end=date.fromisoformat(END)))
    start, end = date.fromisoformat(START), date.fromisoformat(END)
    run_sweep(bars, s, {"rsi_buy_threshold": [40.0, 45.0]}, start, end, backend="inprocess")
    cpu0, t0 = time.process_time(), time.perf_counter()
    df = run_sweep(bars, s, BIG_GRID, start, end, backend=mode, n_jobs=jobs)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    # On a shared machine the wall time says more about the neighbours than about the sweep:
    # the idle-machine projection is the serial CPU plus the batches' CPU split over the
    # threads (the batches are independent; the GIL is released while they run).
    serial = cpu - df.attrs["kernel_cpu_s"]
    workers = int(str(df.attrs["execution"]).rsplit("x", 1)[1])
    digest = hashlib.sha256(df.drop(columns=[]).to_numpy(dtype=float).tobytes()).hexdigest()
    return {
        "combinations": len(df), "tickers": len(tickers), "execution": df.attrs["execution"],
        "wall_s": wall, "cpu_s": cpu, "rss_mb": _rss_mb()[0], "result_sha256": digest[:16],
        "kernel_cpu_s": df.attrs["kernel_cpu_s"], "serial_cpu_s": serial,
        "idle_projection_s": serial + df.attrs["kernel_cpu_s"] / workers,
    }  # fmt: skip


def child_python(sample: int) -> dict[str, Any]:
    """Pure-Python kernel on `sample` combinations, the compiled kernel on all 1,000, and a
    loop of `run_backtest` on 20 (both extrapolated linearly to 1,000)."""
    from datetime import date

    import numpy as np

    from strategy.backtest.engine import (
        compute_indicators,
        prepare_market,
        run_backtest,
        run_batch,
    )
    from strategy.backtest.grid import expand_grid, parse_grid
    from strategy.backtest.sweep import _plan_tasks

    bars, s = _load()
    m = prepare_market(bars, s.universe, s.benchmark, date.fromisoformat(START),
                       date.fromisoformat(END))  # fmt: skip
    combos = expand_grid(s, parse_grid(GRID)).combinations
    _, tasks = _plan_tasks(combos, 1, None)
    params = np.concatenate([t.params for t in tasks])
    ind = compute_indicators(
        m, rsi_period=40, regime_ma_long=120, ma_short_period=60, adx_period=30
    )
    rng = np.random.default_rng(1)
    pick = params[rng.choice(len(params), size=sample, replace=False)]
    t0 = time.perf_counter()
    py = run_batch(m, ind, pick, 1e7, compiled=False)
    py_s = time.perf_counter() - t0
    run_batch(m, ind, pick, 1e7)  # load the compiled kernel
    t0 = time.perf_counter()
    run_batch(m, ind, params, 1e7)
    jit_s = time.perf_counter() - t0
    same = np.allclose(py, run_batch(m, ind, pick, 1e7), rtol=1e-12, equal_nan=True)
    # The naive alternative: a Python loop calling the (compiled) run_backtest per combination.
    loop = [combos[int(i)] for i in rng.choice(len(combos), size=20, replace=False)]
    start, end = date.fromisoformat(START), date.fromisoformat(END)
    run_backtest(bars, s, start, end)
    t0 = time.perf_counter()
    for c in loop:
        run_backtest(bars, c.settings(s), start, end)
    loop_s = time.perf_counter() - t0
    return {
        "sample": sample,
        "python_sample_s": py_s,
        "python_per_combo_s": py_s / sample,
        "python_1000_extrapolated_s": py_s / sample * len(params),
        "compiled_kernel_1000_s": jit_s,
        "run_backtest_loop_1000_extrapolated_s": loop_s / len(loop) * len(params),
        "python_equals_compiled": bool(same),
        "window_sessions": int(m.end_idx - m.start_idx + 1),
        "warmup_sessions": int(m.start_idx),
    }


def _spawn(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False,
        env={**os.environ, **(env or {})}, cwd=REPO,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_wall_s"] = wall
    res["load_avg_1m"] = load
    return res


def _cli_sweep() -> dict[str, Any]:
    krx = str(Path(sys.executable).with_name("krx"))
    sets = [f"{k}={','.join(str(v) for v in vals)}" for k, vals in GRID.items()]
    cmd = [krx, "sweep", "--data", f"csv:{REPO_DAILY}", "--start", START, "--end", END]
    for item in sets:
        cmd += ["--set", item]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
    return {"wall_s": time.perf_counter() - t0, "load_avg_1m": load}


def measure_big() -> dict[str, Any]:
    """The 100,000-combination sweep on every core (threads) and on one core."""
    cores = os.cpu_count() or 1
    threads = _spawn(["--child", "big", "threads", str(cores)])
    one = _spawn(["--child", "big", "inprocess", "1"])
    return {"threads": threads, "one_core": one, "cores": cores,
            "identical": threads["result_sha256"] == one["result_sha256"],
            "speedup": one["wall_s"] / threads["wall_s"]}


def big_rows(big: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key in ("threads", "one_core"):
        b = big[key]
        note = (f"{b['tickers']} tickers; CPU {b['cpu_s']:.1f} s (batches {b['kernel_cpu_s']:.1f}, "
                f"serial {b['serial_cpu_s']:.1f}); idle-machine projection "
                f"{b['idle_projection_s']:.1f} s; peak RSS {b['rss_mb']:.0f} MB; "
                f"load {b['load_avg_1m']:.1f}")
        if key == "threads":
            note += (f"; {big['speedup']:.2f}x one core; identical to one core: "
                     f"{big['identical']}; target <= {BIG_TARGET_WALL_S:.0f} s: "
                     f"{b['wall_s'] <= BIG_TARGET_WALL_S}, <= {BIG_TARGET_RSS_MB:.0f} MB: "
                     f"{b['rss_mb'] <= BIG_TARGET_RSS_MB}")
        rows.append(_row(f"sweep 100,000 [{b['execution']}]", b["wall_s"], 1, note,
                         rss_mb=b["rss_mb"], cpu_s=b["cpu_s"]))
    return rows


def measure(repeat: int = 5, python_sample: int = 50) -> dict[str, Any]:
    """Every measurement of this script (each in a fresh child process)."""
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        cold = _spawn(["--child", "compile"], env)
        cached = _spawn(["--child", "compile"], env)
    sweeps = {
        f"{mode}x{jobs}": _spawn(["--child", "sweep", mode, str(jobs), str(repeat)])
        for mode, jobs in (("auto", 0), ("loky", 2), ("threads", 2))
    }
    py = _spawn(["--child", "python", str(python_sample)])
    return {
        "window": [START, END],
        "grid": GRID,
        "repeat": repeat,
        "compile": {"cold": cold, "cached": cached},
        "sweeps": sweeps,
        "python": py,
        "cli": _cli_sweep(),
        "python_over_default_sweep": py["python_1000_extrapolated_s"]
        / sweeps["autox0"]["warm_median_s"],
    }


def _row(name: str, seconds: float, n: int, note: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name, "universe": "default (5)", "n": n, "median_ms": seconds * 1000.0,
        "p95_ms": None, "min_ms": None, "note": note, **extra,
    }  # fmt: skip


def rows_from(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows in `bench_backtest`'s table format (name, universe, n, median_ms, ..., note)."""
    rows = []
    c = res["compile"]
    rows.append(
        _row(
            "sweep: compile run_batch (cold)",
            c["cold"]["first_run_batch_s"],
            1,
            f"empty NUMBA_CACHE_DIR; load {c['cold']['load_avg_1m']:.1f}",
        )
    )
    rows.append(
        _row(
            "sweep: load run_batch (cached)",
            c["cached"]["first_run_batch_s"],
            1,
            f"load {c['cached']['load_avg_1m']:.1f}",
        )
    )
    for key, sw in res["sweeps"].items():
        label = sw["execution"] + (" default" if key == "autox0" else "")
        rss = f"peak RSS {sw['rss_mb']:.0f} MB"
        if sw["worker_rss_mb"]:
            rss += f" + {sw['worker_rss_mb']:.0f} MB per worker"
        rows.append(
            _row(
                f"sweep 1,000 [{label}] first call",
                sw["first_s"],
                1,
                f"{rss}; load {sw['load_avg_1m']:.1f}",
                rss_mb=sw["rss_mb"],
                worker_rss_mb=sw["worker_rss_mb"],
            )
        )
        ok = ""
        if "floor" in sw:
            fl = sw["floor"]
            sweep_s = min(sw["warm_median_s"], sw["warm_after_floor_median_s"])
            rows.append(_row(
                "floor: fused prange loop, 1,000 (same process)", fl["loop_median_s"],
                res["repeat"],
                f"{fl['threads']} numba threads; + indicators {fl['with_indicators_median_s']:.3f}"
                f" s; equal to run_batch: {fl['equals_run_batch']}; the threads sweep is "
                f"{sweep_s / fl['loop_median_s']:.2f}x it (whole run_sweep), its batches "
                f"{sw['kernel_s'] / fl['loop_median_s']:.2f}x", ratio=sweep_s / fl["loop_median_s"],
            ))
        if key == "autox0":
            ok = (
                f"; target <= {TARGET_WALL_S} s: {sw['warm_median_s'] <= TARGET_WALL_S}, "
                f"<= {TARGET_RSS_MB:.0f} MB: {sw['rss_mb'] <= TARGET_RSS_MB}"
            )
        rows.append(
            _row(
                f"sweep 1,000 [{label}] warm",
                sw["warm_median_s"],
                res["repeat"],
                f"min {sw['warm_min_s'] * 1000:.0f} ms{ok}",
            )
        )
    py = res["python"]
    rows.append(
        _row(
            "sweep: compiled kernel only, 1,000",
            py["compiled_kernel_1000_s"],
            1,
            f"{py['window_sessions']} sessions + {py['warmup_sessions']} warm-up",
        )
    )
    rows.append(
        _row(
            "sweep: pure-Python kernel, 1,000 (extrapolated)",
            py["python_1000_extrapolated_s"],
            py["sample"],
            f"{py['sample']} combos measured x {1000 / py['sample']:.0f}; "
            f"{res['python_over_default_sweep']:.0f}x the default sweep; "
            f"equal to compiled: {py['python_equals_compiled']}",
        )
    )
    rows.append(
        _row(
            "sweep: loop of run_backtest, 1,000 (extrapolated)",
            py["run_backtest_loop_1000_extrapolated_s"],
            20,
            "20 combos timed x 50; compiled kernel, but prepare + indicators + tables each",
        )
    )
    rows.append(
        _row(
            "sweep: cold `krx sweep` process, 1,000",
            res["cli"]["wall_s"],
            1,
            "python start + imports + CSV + cached kernels + sweep",
        )
    )
    return rows  # fmt: skip


def sweep_rows() -> list[dict[str, Any]]:
    """The sweep measurements as `bench_backtest` rows (for its `ROW_FUNCTIONS`)."""
    return rows_from(measure())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="warm sweeps per mode (default 5)")
    ap.add_argument("--python-sample", type=int, default=50, help="pure-Python combos (50)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--big-only", action="store_true", help="only the 100,000 sweep")
    ap.add_argument("--no-big", action="store_true", help="skip the 100,000 sweep")
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "compile":
            res = child_compile()
        elif kind == "sweep":
            res = child_sweep(rest[0], int(rest[1]), int(rest[2]))
        elif kind == "big":
            res = child_big(rest[0], int(rest[1]))
        else:
            res = child_python(int(rest[0]))
        print(json.dumps(res, default=str))
        return 0

    res: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    if not args.big_only:
        res = measure(args.repeat, args.python_sample)
        rows = rows_from(res)
        py = res["python"]
        print(
            f"sweep of 1,000 combinations, default universe, {START}..{END} "
            f"({py['window_sessions']} sessions + {py['warmup_sessions']} warm-up), "
            f"{os.cpu_count()} CPUs  ({time.strftime('%F %T')})"
        )
    if not args.no_big:
        res["big"] = measure_big()
        rows += big_rows(res["big"])
        print(f"100,000 combinations x 14 tickers, {START}..{END}, {os.cpu_count()} CPUs")
    print_table(rows, ["name", "n", "median_ms", "note"])
    name = "bench_sweep_big" if args.big_only else "bench_sweep"
    path = save_json(name, {**res, "rows": rows, "load_avg": os.getloadavg()})
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
