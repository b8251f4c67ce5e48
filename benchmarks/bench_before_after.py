"""This checkout against another (`--baseline-repo`, e.g. the commit before a change) in one
run, interleaved: the parameter sweep (1,000 and 100,000 combinations) and the daily cycle.

    .venv/bin/python benchmarks/bench_before_after.py --baseline-repo DIR [--repeat 5]
        [--big-repeat 5] [--no-big]

Every measurement runs in a fresh child process whose `sys.path` starts with the checkout it
measures, so each side runs its own code through the API it had then (`run_sweep`, `run_cycle`,
`krx daily`); the rounds alternate which side goes first, so the neighbours' load on a shared
machine hits both alike. Per round and side:

- sweep 1,000 (bench_sweep's GRID, default universe, threads on every core): the median of 3
  warm `run_sweep` calls, their process CPU, and a hash of the ranked frame;
- sweep 100,000 (bench_sweep's BIG_GRID, 14 tickers, threads on every core): one call after a
  warm-up sweep, wall and process CPU, hash;
- daily cycle in-process: the median of 10 warm `run_cycle` calls on a replay root of the
  sample data (`data/krx/daily`, as-of 2025-12-29);
- daily cycle cold: one `krx daily --asof 2025-12-29` process on such a root.

Prints before/after medians, the ratio after/before (< 1 is faster), whether the sweeps'
results are identical, and the load average; writes benchmarks/results/bench_before_after.json.
Process CPU seconds are printed next to the wall: on a shared machine they move less.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ASOF = "2025-12-29"


# --- children (run with the measured checkout first on sys.path) ------------------------------


def _frame_hash(df: Any) -> str:
    return hashlib.sha256(df.to_numpy(dtype=float).tobytes()).hexdigest()[:16]


def _sweep_inputs(big: bool) -> tuple[Any, Any, dict[str, Any], Any, Any]:
    from datetime import date

    from bench_sweep import BIG_GRID, END, GRID, START

    from contracts.settings import Settings
    from strategy.marketdata import CsvProvider

    daily = Path.cwd() / "data" / "krx" / "daily"
    tickers = sorted(p.stem for p in daily.glob("*.csv"))
    s = Settings(universe=tickers) if big else Settings()
    bars = dict(CsvProvider(daily).load(list(s.universe), end=date.fromisoformat(END)))
    return bars, s, (BIG_GRID if big else GRID), date.fromisoformat(START), date.fromisoformat(END)


def child_sweep(big: bool, warm: int) -> dict[str, Any]:
    from strategy.backtest.sweep import run_sweep

    bars, s, grid, start, end = _sweep_inputs(big)
    jobs = os.cpu_count() or 1
    # Kernels loaded, indicators' first call paid: what a warm process pays per sweep.
    run_sweep(bars, s, {"rsi_buy_threshold": [40.0, 45.0]}, start, end, backend="inprocess")
    walls, cpus, digest, execution = [], [], "", ""
    for _ in range(warm):
        c0, t0 = time.process_time(), time.perf_counter()
        df = run_sweep(bars, s, grid, start, end, backend="threads", n_jobs=jobs)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        digest, execution = _frame_hash(df), str(df.attrs["execution"])
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
            "combinations": len(df), "sha256": digest, "execution": execution,
            "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    status = Path("/proc/self/status").read_text(encoding="utf-8")
    line = next(x for x in status.splitlines() if x.startswith("VmHWM"))
    return int(line.split()[1]) / 1024.0


def _replay_root(tmp: str, spec: str, tickers: list[str]) -> tuple[Any, list[str]]:
    """A data root where `--asof` is allowed, built the way this checkout builds one, and the
    extra `krx daily` flags it needs."""
    from contracts import Settings
    from oci_backend.paths import data_paths

    try:
        from oci_backend.replay_root import create_replay_root
    except ImportError:  # before the structure work: any root took an as-of
        from oci_backend.store import Store, atomic_write_model

        store = Store(data_paths(tmp))
        store.initialize()
        s = store.settings().model_copy(update={"universe": tickers})
        atomic_write_model(store.paths.settings, Settings.model_validate(s.model_dump()))
        return store, []
    return create_replay_root(data_paths(tmp), label="bench", data_spec=spec,
                              settings=Settings(universe=tickers)), ["--replay"]


def child_daily(calls: int) -> dict[str, Any]:
    from datetime import date

    from oci_backend.pipeline import run_cycle

    daily = Path.cwd() / "data" / "krx" / "daily"
    spec = f"csv:{daily}"
    tickers = sorted(p.stem for p in daily.glob("*.csv"))
    asof = date.fromisoformat(ASOF)
    with tempfile.TemporaryDirectory(prefix="krx-ba-") as tmp:
        store, _ = _replay_root(tmp, spec, tickers)
        first = time.perf_counter()
        res = run_cycle(store, data_spec=spec, asof=asof, actor="bench")
        first = time.perf_counter() - first
        assert res.exit_code == 0, res.summary.message
        walls = []
        for _ in range(calls):
            t0 = time.perf_counter()
            res = run_cycle(store, data_spec=spec, asof=asof, actor="bench")
            walls.append(time.perf_counter() - t0)
            assert res.exit_code == 0, res.summary.message
    return {"wall_s": statistics.median(walls), "min_s": min(walls), "first_s": first}


def child_daily_root(tmp: str) -> dict[str, Any]:
    daily = Path.cwd() / "data" / "krx" / "daily"
    tickers = sorted(p.stem for p in daily.glob("*.csv"))
    _, flags = _replay_root(tmp, f"csv:{daily}", tickers)
    return {"flags": flags}


# --- parent ------------------------------------------------------------------------------


def _child_env(repo: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KRX_OCI_", "KRX_PC_")) and k not in ("KRX_ID", "KRX_PW")}
    env["PYTHONPATH"] = str(repo)
    return env


def _spawn(repo: Path, args: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    out = subprocess.run(cmd, cwd=repo, env=_child_env(repo), capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise SystemExit(f"child {args} in {repo} failed:\n{out.stderr[-4000:]}")
    res: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return res


def _krx_daily(repo: Path, tmp: Path) -> float:
    root = tmp / f"root-{time.monotonic_ns()}"
    root.mkdir()
    flags = _spawn(repo, ["daily-root", str(root)])["flags"]
    cmd = [sys.executable, "-m", "krx_cli.main", "daily", *flags, "--data",
           f"csv:{repo / 'data' / 'krx' / 'daily'}", "--asof", ASOF, "--data-dir", str(root)]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=repo, env=_child_env(repo), check=True, capture_output=True)
    wall = time.perf_counter() - t0
    shutil.rmtree(root, ignore_errors=True)
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-repo", type=Path, required=False, default=None)
    ap.add_argument("--repeat", type=int, default=5, help="rounds (each side once a round)")
    ap.add_argument("--big-repeat", type=int, default=5, help="rounds with the 100,000 sweep")
    ap.add_argument("--no-big", action="store_true")
    ap.add_argument("--name", default="bench_before_after")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        import bench_sweep  # noqa: F401  (it puts this checkout on sys.path: go before it)

        sys.path.insert(0, str(Path.cwd()))  # the measured checkout first
        kind, *rest = args.child
        if kind == "sweep":
            res = child_sweep(rest[0] == "big", int(rest[1]))
        elif kind == "daily":
            res = child_daily(int(rest[0]))
        else:
            res = child_daily_root(rest[0])
        import strategy

        res["code"] = str(Path(strategy.__file__).parents[1])  # which checkout really ran
        print(json.dumps(res))
        return 0

    sides = {"after": REPO}
    if args.baseline_repo is not None:
        sides = {"before": args.baseline_repo.resolve(), "after": REPO}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {s: {} for s in sides}
    loads: list[float] = []
    for repo in sides.values():  # compile/load each side's kernels once, untimed
        _spawn(repo, ["sweep", "small", "1"])
    big_rounds = 0 if args.no_big else min(args.big_repeat, args.repeat)
    with tempfile.TemporaryDirectory(prefix="krx-ba-") as tmp:
        for i in range(args.repeat):
            order = list(sides.items()) if i % 2 == 0 else list(reversed(sides.items()))
            for name, repo in order:
                loads.append(os.getloadavg()[0])
                r = runs[name]
                r.setdefault("sweep_1000", []).append(_spawn(repo, ["sweep", "small", "3"]))
                if i < big_rounds:
                    r.setdefault("sweep_100000", []).append(_spawn(repo, ["sweep", "big", "1"]))
                r.setdefault("daily_inprocess", []).append(_spawn(repo, ["daily", "10"]))
                r.setdefault("daily_cold", []).append({"wall_s": _krx_daily(repo, Path(tmp))})
                print(f"round {i + 1}/{args.repeat} {name}: load {loads[-1]:.1f}", flush=True)

    rows = []
    for metric in runs["after"]:
        row: dict[str, Any] = {"name": metric}
        for side in sides:
            vals = runs[side][metric]
            row[f"{side}_s"] = statistics.median(v["wall_s"] for v in vals)
            if "cpu_s" in vals[0]:
                row[f"{side}_cpu_s"] = statistics.median(v["cpu_s"] for v in vals)
            if "peak_rss_mb" in vals[0]:
                row[f"{side}_rss_mb"] = max(v["peak_rss_mb"] for v in vals)
        row["n"] = len(runs["after"][metric])
        if "before" in sides:
            row["ratio"] = row["after_s"] / row["before_s"]
            if "after_cpu_s" in row:
                row["cpu_ratio"] = row["after_cpu_s"] / row["before_cpu_s"]
            hashes = {v.get("sha256") for s in sides for v in runs[s][metric]}
            if None not in hashes:
                row["identical"] = len(hashes) == 1
        rows.append(row)
    from _common import print_table, save_json

    cols = ["name", "n", *[f"{s}_s" for s in sides], *[f"{s}_cpu_s" for s in sides],
            "ratio", "cpu_ratio", "identical"]
    print(f"\n{', '.join(f'{k}={v}' for k, v in sides.items())}; {os.cpu_count()} CPUs; "
          f"load at each measurement: median {statistics.median(loads):.1f}, "
          f"{min(loads):.1f}..{max(loads):.1f}")
    print_table(rows, cols)
    path = save_json(args.name, {"sides": {k: str(v) for k, v in sides.items()}, "rows": rows,
                                 "runs": runs, "loads": loads,
                                 "load_avg_end": os.getloadavg()})
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
