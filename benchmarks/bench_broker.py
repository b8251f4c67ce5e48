"""Broker mode: submit → broker acknowledgement (the ticket SENT, every line's order number
stored) p50/p99 against the KIS fake, and ms per session of a BROKER_PAPER replay through the
real OCI API (the fake in open-fill mode by default: every order fills at the session's open,
the backtest's execution model; reconciled after every session's cycle and every ticket),
against the same replay in DRY_RUN through the API — the baseline, measured in the same
process; the broker replay's final equity against `run_backtest` and the Δ in won (target 0),
with any difference explained line by line (tests/oci_backend/broker_stack.explain_differences;
`--fill-mode limit` shows the limit engine's).

    .venv/bin/python benchmarks/bench_broker.py [--start 2025-01-02 --end 2025-12-29]
                                                [--fill-mode open|limit]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "oci_backend"), str(REPO / "tests" / "broker"),
                str(REPO / "benchmarks")]

from _common import percentile, print_table, save_json  # noqa: E402
from broker_stack import (  # noqa: E402
    FakeBrokerSession,
    broker_env,
    explain_differences,
    register,
    write_credentials,
)
from fake_kis_server import running_fake_kis  # noqa: E402
from oci_server import REPO_DAILY, new_token, start_server, stop_server  # noqa: E402

DATA = f"csv:{REPO_DAILY}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 2))
    ap.add_argument("--end", type=date.fromisoformat, default=date(2025, 12, 29))
    ap.add_argument("--fill-mode", choices=["open", "limit"], default="open",
                    help="the fake's fill mode (open: at the open whatever the limit)")
    ap.add_argument("--four", action="store_true",
                    help="the four-parameter set of benchmarks/replay_year.py (more trades)")
    args = ap.parse_args()
    four = {"rsi_period": 14, "rsi_buy_threshold": 45.0, "rsi_sell_threshold": 60.0,
            "adx_threshold": 10.0} if args.four else {}
    window = (args.start, args.end)

    from contracts.settings import ExecutionMode, Settings
    from oci_backend.paths import data_paths
    from oci_backend.replay import compare_with_backtest, run_replay
    from oci_backend.replay_http import HttpBackend
    from oci_backend.replay_root import create_replay_root
    from strategy.backtest.engine import run_backtest
    from strategy.marketdata import make_provider

    rows: list[dict[str, object]] = []
    explained: list[str] = []
    unexplained: list[str] = []
    acks: list[float] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for mode in (ExecutionMode.DRY_RUN, ExecutionMode.BROKER_PAPER):
            settings = Settings(execution_mode=mode)
            settings = settings.model_copy(update={
                "strategy": settings.strategy.model_copy(update=four)})
            bars = make_provider(DATA).load(
                list(dict.fromkeys([settings.benchmark, *settings.universe])), end=args.end)
            root = tmp / f"root-{mode.value}"
            create_replay_root(data_paths(root), label=f"bench {mode.value}", data_spec=DATA,
                               settings=settings)
            if mode is ExecutionMode.DRY_RUN:
                server = start_server(root, tmp / "dry.log", token=new_token(), data_spec=DATA,
                                      timeout=240)
                try:
                    with server.client() as client:
                        result = run_replay(HttpBackend(client), *window)
                finally:
                    stop_server(server)
                records = []
            else:
                keys = write_credentials(tmp)
                with running_fake_kis(tmp_dir=tmp, session_date=args.start.isoformat(),
                                      cash=settings.strategy.initial_capital,
                                      rate_limit=50, fill_mode=args.fill_mode) as kis:
                    register(kis, keys)
                    server = start_server(root, tmp / "broker.log", token=new_token(),
                                          data_spec=DATA, timeout=240,
                                          env=broker_env(kis, keys, KRX_KIS_RATE_LIMIT="50"))
                    try:
                        with server.client() as client:
                            session = FakeBrokerSession(kis, client)
                            result = run_replay(HttpBackend(client), *window, broker=session)
                            records = HttpBackend(client).tickets()
                            acks = session.acks_ms
                    finally:
                        stop_server(server)
                explained, unexplained = explain_differences(records, bars,
                                                             settings.strategy.slippage)
            cmp = compare_with_backtest(result, bars, settings, *window)
            bt = run_backtest(bars, settings, *window)
            final_delta = result.days[-1].equity - float(bt.equity.iloc[-1])
            label = f"{mode.value} replay over the API" + (" (four)" if four else "")
            if mode is ExecutionMode.BROKER_PAPER:
                label += f" ({args.fill_mode}-fill fake)"
            rows.append({"name": label, "sessions": cmp.sessions,
                         "tickets": result.tickets, "fills": cmp.fills,
                         "seconds": round(result.seconds, 1),
                         "ms_per_session": round(1000 * result.seconds / cmp.sessions, 1),
                         "reconciled": result.reconciliations,
                         "unclean": len(result.unclean),
                         "unclean_sessions": [d.isoformat() for d in result.unclean],
                         "final_equity_replay": round(result.days[-1].equity, 2),
                         "final_equity_backtest": round(float(bt.equity.iloc[-1]), 2),
                         "final_equity_delta_won": round(final_delta, 2),
                         "max_equity_diff": round(cmp.max_equity_diff, 2)})
            print(rows[-1], flush=True)
    base, broker = rows
    broker["x_dry_run"] = round(float(broker["ms_per_session"])  # type: ignore[arg-type]
                                / float(base["ms_per_session"]), 2)  # type: ignore[arg-type]
    ack = {"name": "submit → broker ack (SENT)", "n": len(acks),
           "p50_ms": round(percentile(acks, 0.5), 1), "p99_ms": round(percentile(acks, 0.99), 1)}
    print()
    print_table(rows, ["name", "sessions", "tickets", "fills", "seconds", "ms_per_session",
                       "x_dry_run", "reconciled", "unclean"])
    print()
    print_table(rows, ["name", "final_equity_replay", "final_equity_backtest",
                       "final_equity_delta_won", "max_equity_diff"])
    print(f"\nreconciliation: {broker['reconciled']} reconciled, {broker['unclean']} unclean "
          f"({broker['sessions']} sessions: one after each session's cycle, plus one after "
          f"each of {broker['tickets']} tickets)")
    print()
    print_table([ack], list(ack))
    print("\ndifferences from run_backtest, line by line:")
    for line in explained:
        print("  explained:", line)
    for line in unexplained:
        print("  UNEXPLAINED:", line)
    name = "bench_broker_four" if four else "bench_broker"
    if args.fill_mode != "open":
        name += f"_{args.fill_mode}"
    path = save_json(name,
                     {"rows": rows, "ack": ack, "explained": explained,
                      "unexplained": unexplained, "fill_mode": args.fill_mode})
    print(f"\nwrote {path}")
    return 1 if unexplained or broker["unclean"] else 0


if __name__ == "__main__":
    sys.exit(main())
