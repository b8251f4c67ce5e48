"""Daily-cycle latency on the 14 real tickers: warm in-process and as a cold `krx daily` process.

Rows:
- core (warm): load (csv, in-process cache) + validate + indicators + signals + plan, 14 tickers
- core, uncached load: the same with the parsed-CSV cache cleared before every run (baseline)
- run_cycle (warm): the whole cycle incl. the atomic, fsynced writes of plan/summary/audit
- cold process: `krx daily --replay --asof 2025-12-29` (on a replay root) as a fresh
  process, vs `python -c pass` baseline
Targets: core ≤ 50 ms warm; cold process ≤ 2.5 s.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_DAILY, print_table, save_json, summarize, time_calls  # noqa: E402

ASOF = date(2025, 12, 29)
ALL_TICKERS = sorted(p.stem for p in REPO_DAILY.glob("*.csv"))


def core_cycle() -> object:
    from contracts import Portfolio, Settings
    from strategy import calendar
    from strategy.marketdata import make_provider
    from strategy.marketdata.validation import ensure_valid
    from strategy.planner import plan_orders
    from strategy.signals import decide, to_signals

    settings = Settings(universe=ALL_TICKERS)
    portfolio = Portfolio.default()
    provider = make_provider(f"csv:{REPO_DAILY}")
    bars = provider.load(ALL_TICKERS, end=ASOF)
    for t, df in bars.items():
        sessions = calendar.session_days(df.index[0].date(), df.index[-1].date())
        ensure_valid(t, df, sessions)
    d = decide(bars, ASOF, portfolio, settings)
    to_signals(d, settings)
    return plan_orders(d, portfolio, settings, fill_year=calendar.next_session(ASOF).year)


def main() -> int:
    from strategy.marketdata import csv_provider

    rows = []
    rows.append(summarize("core (warm)", time_calls(core_cycle, repeat=50, warmup=3)))

    def uncached() -> object:
        csv_provider.clear_csv_cache()
        return core_cycle()

    rows.append(summarize("core, uncached CSV parse (baseline)", time_calls(uncached, 20)))

    from contracts import Settings
    from oci_backend.paths import data_paths
    from oci_backend.pipeline import run_cycle
    from oci_backend.replay_root import create_replay_root

    with tempfile.TemporaryDirectory() as tmp:
        # A replay root: `--asof` runs only there (a live root refuses a chosen session).
        spec = f"csv:{REPO_DAILY}"
        store = create_replay_root(data_paths(tmp), label="bench", data_spec=spec,
                                   settings=Settings(universe=ALL_TICKERS))

        def full() -> object:
            res = run_cycle(store, data_spec=spec, asof=ASOF, actor="bench")
            assert res.exit_code == 0, res.summary.message
            return res

        rows.append(summarize("run_cycle (warm, incl. fsync writes)", time_calls(full, 30)))

        krx = str(Path(sys.executable).with_name("krx"))
        cmd = [krx, "daily", "--replay", "--data", spec, "--asof", ASOF.isoformat(),
               "--data-dir", tmp]

        def cold() -> None:
            subprocess.run(cmd, check=True, capture_output=True)

        def bare() -> None:
            subprocess.run([sys.executable, "-c", "pass"], check=True)

        rows.append(summarize("python -c pass (baseline)", time_calls(bare, 10)))
        rows.append(summarize("cold `krx daily` process", time_calls(cold, 10)))

    base = rows[1]["median_ms"]
    for r in rows[:3]:
        r["vs_uncached"] = r["median_ms"] / base
    rows[4]["vs_bare_python"] = rows[4]["median_ms"] / rows[3]["median_ms"]
    targets = {"core (warm)": 50.0, "cold `krx daily` process": 2500.0}
    for r in rows:
        if r["name"] in targets:
            r["target_ms"] = targets[r["name"]]
            r["ok"] = r["median_ms"] <= targets[r["name"]]
    print(f"daily cycle, {len(ALL_TICKERS)} real tickers, as-of {ASOF}  ({time.strftime('%F %T')})")
    print_table(rows, ["name", "n", "median_ms", "p95_ms", "min_ms", "vs_uncached",
                       "vs_bare_python", "target_ms", "ok"])
    path = save_json("bench_daily", {"asof": str(ASOF), "tickers": ALL_TICKERS, "rows": rows})
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
