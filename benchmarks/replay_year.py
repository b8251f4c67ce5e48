"""Year replays through OCI's own code, timed per simulated session, and checked against the
backtest to the won.

For 2024 and 2025, with the default parameters and with rsi_period=14, rsi_buy_threshold=45,
rsi_sell_threshold=60, adx_threshold=10, in DRY_RUN and in MANUAL (the operator's fills at
the open posted as fills): each replay runs on a fresh replay data root, in-process (the
pipeline and ticket functions) and through the real API (uvicorn on loopback, `HttpBackend`).
The baseline row per window is `run_backtest` on the same bars, in the same process.

    .venv/bin/python benchmarks/replay_year.py            # everything (about 5 minutes)
    .venv/bin/python benchmarks/replay_year.py --quick    # 2025, defaults, both modes
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_DAILY, print_table, save_json  # noqa: E402
from bench_oci_api import start_server, stop_server  # noqa: E402

DATA = f"csv:{REPO_DAILY}"
FOUR = {"rsi_period": 14, "rsi_buy_threshold": 45.0, "rsi_sell_threshold": 60.0,
        "adx_threshold": 10.0}
YEARS = {2024: (date(2024, 1, 2), date(2024, 12, 30)),
         2025: (date(2025, 1, 2), date(2025, 12, 29))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2025, defaults, both modes")
    ap.add_argument("--no-api", action="store_true", help="in-process replays only")
    args = ap.parse_args()

    from contracts.settings import ExecutionMode, Settings
    from oci_backend.paths import data_paths
    from oci_backend.replay import InProcessBackend, compare_with_backtest, run_replay
    from oci_backend.replay_http import HttpBackend
    from oci_backend.replay_root import create_replay_root
    from oci_backend.tickets import opens_from_bars
    from strategy.backtest.engine import run_backtest
    from strategy.marketdata import make_provider

    base = Settings()
    bars = make_provider(DATA).load(list(dict.fromkeys([base.benchmark, *base.universe])),
                                    end=date(2025, 12, 29))
    opens = opens_from_bars(bars)
    years = [2025] if args.quick else [2024, 2025]
    param_sets = {"defaults": {}} if args.quick else {"defaults": {}, "four": FOUR}
    ways = ["in-process"] + ([] if args.no_api else ["api"])
    run_backtest(bars, base, *YEARS[2025])  # compile the kernels outside the timings
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for year in years:
            window = YEARS[year]
            for pname, update in param_sets.items():
                settings = base.model_copy(update={
                    "strategy": base.strategy.model_copy(update=update)})
                t0 = time.perf_counter()
                bt = run_backtest(bars, settings, *window)
                secs = time.perf_counter() - t0
                n = len(bt.equity)
                rows.append({"name": f"{year} {pname} run_backtest (baseline)", "sessions": n,
                             "fills": len(bt.fills), "seconds": secs,
                             "ms_per_day": 1000 * secs / n, "equal": "-"})
                for mode in (ExecutionMode.DRY_RUN, ExecutionMode.MANUAL):
                    for way in ways:
                        root = Path(tmp) / f"{year}-{pname}-{mode.value}-{way}"
                        store = create_replay_root(
                            data_paths(root), label=f"bench {year} {pname} {mode.value}",
                            data_spec=DATA,
                            settings=settings.model_copy(update={"execution_mode": mode}))
                        if way == "api":
                            server = start_server(root, Path(tmp) / f"{root.name}.log")
                            try:
                                with server.client() as client:
                                    result = run_replay(HttpBackend(client), *window,
                                                        opens=opens)
                            finally:
                                stop_server(server)
                        else:
                            result = run_replay(InProcessBackend(store, DATA), *window,
                                                opens=opens)
                        cmp = compare_with_backtest(result, bars, store.settings(), *window)
                        rows.append({
                            "name": f"{year} {pname} {mode.value} {way}",
                            "sessions": cmp.sessions, "fills": cmp.fills,
                            "seconds": result.seconds,
                            "ms_per_day": 1000 * result.seconds / cmp.sessions,
                            "x_backtest": result.seconds / secs,
                            "max_equity_diff": cmp.max_equity_diff,
                            "equal": "yes" if cmp.equal_to_the_won else
                                     f"NO: {cmp.first_difference}",
                        })
                        print(f"{rows[-1]['name']}: {result.seconds:.1f} s, equal "
                              f"{rows[-1]['equal']}", flush=True)
    print()
    print_table(rows, ["name", "sessions", "fills", "seconds", "ms_per_day", "x_backtest",
                       "max_equity_diff", "equal"])
    path = save_json("replay_year", {"rows": rows})
    print(f"\nwrote {path}")
    return 0 if all(r["equal"] in ("yes", "-") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
