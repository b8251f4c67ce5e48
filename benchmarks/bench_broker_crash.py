"""Crash drill of the broker send: SIGKILL the real OCI backend (BROKER_PAPER, against the
real KIS fake) at every point around a send — before the intent, after the intent, after the
HTTP call, after the order number is stored — at each line of the ticket, and around the fill
record, >= 100 kills in all over two tickets: one buy, and one sell with two buys (sells go
first); after each ticket: orders placed twice at the fake, lines lost, buys placed before a
sell, unclean reconciliations (tests/oci_backend/broker_crash.py).

    .venv/bin/python benchmarks/bench_broker_crash.py [--kills 100] [--multi-share 0.7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "oci_backend"), str(REPO / "tests" / "broker"),
                str(REPO / "benchmarks")]

from _common import percentile, print_table, save_json  # noqa: E402
from broker_crash import (  # noqa: E402
    MULTI,
    SINGLE,
    BrokerCrashReport,
    run_broker_crash_drill,
    scenario_fake,
)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=100, help="kills in all (both tickets)")
    ap.add_argument("--multi-share", type=float, default=0.7,
                    help="the share of the kills on the one-sell-two-buys ticket")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="per ticket: stop after the round that passes this many seconds")
    args = ap.parse_args()
    started = time.monotonic()
    multi_kills = round(args.kills * args.multi_share)
    reports: list[tuple[str, BrokerCrashReport]] = []
    for scenario, kills in ((MULTI, multi_kills), (SINGLE, args.kills - multi_kills)):
        with tempfile.TemporaryDirectory() as tmp, scenario_fake(scenario, Path(tmp)) as kis:
            report = run_broker_crash_drill(kis, Path(tmp), kills, scenario=scenario,
                                            budget_s=args.budget_s)
        reports.append((scenario.name, report))
        print(f"{scenario.name}: {report.kills} kills in {report.rounds} rounds", flush=True)
    rows = []
    for name, report in reports:
        restart_ms = [s * 1000 for s in report.restart_s]
        rows.append({"ticket": name, "kills": report.kills, "rounds": report.rounds,
                     "lines": report.lines, "orders_at_fake": report.orders_at_fake,
                     "placed_twice": report.placed_twice, "lines_lost": report.lines_lost,
                     "buys_before_a_sell": report.buys_before_a_sell,
                     "unclean_reconciliations": report.unclean_reconciliations,
                     "points_not_reached": report.not_reached,
                     "restart_p50_ms": round(percentile(restart_ms, 0.5), 1),
                     "restart_p99_ms": round(percentile(restart_ms, 0.99), 1)})
    total = sum(r.kills for _, r in reports)
    print_table(rows, list(rows[0]))
    for name, report in reports:
        print(f"\n{name}: kills by point:", dict(report.kills_by_point))
        print(f"{name}: send kills by line (0 = first sent):",
              dict(sorted(report.kills_by_line.items())))
    print(f"\n{total} kills in all, wall {time.monotonic() - started:.0f} s")
    violations = [v for _, r in reports for v in r.violations]
    for v in violations[:20]:
        print("VIOLATION:", v)
    save_json("bench_broker_crash", {
        "rows": rows, "kills": total,
        "kills_by_point": {n: dict(r.kills_by_point) for n, r in reports},
        "kills_by_line": {n: dict(r.kills_by_line) for n, r in reports},
        "violations": violations[:100]})
    return 1 if violations or total < args.kills else 0


if __name__ == "__main__":
    sys.exit(main())
