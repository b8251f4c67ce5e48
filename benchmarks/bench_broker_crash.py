"""Crash drill of the broker send: SIGKILL the real OCI backend (BROKER_PAPER, against the
real KIS fake) at every point around a send — before the intent, after the intent, after the
HTTP call, after the order number is stored — and around the fill record, >= 100 kills;
after each ticket: orders placed twice at the fake, lines lost, unclean reconciliations
(tests/oci_backend/broker_crash.py).

    .venv/bin/python benchmarks/bench_broker_crash.py [--kills 100]
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
from broker_crash import SESSION, run_broker_crash_drill  # noqa: E402
from fake_kis_server import running_fake_kis  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--budget-s", type=float, default=None,
                    help="stop after the round that passes this many seconds")
    args = ap.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, running_fake_kis(
            tmp_dir=Path(tmp), session_date=SESSION, cash=10_000_000) as kis:
        report = run_broker_crash_drill(kis, Path(tmp), args.kills, budget_s=args.budget_s)
    restart_ms = [s * 1000 for s in report.restart_s]
    row = {"kills": report.kills, "rounds": report.rounds, "lines": report.lines,
           "orders_at_fake": report.orders_at_fake, "placed_twice": report.placed_twice,
           "lines_lost": report.lines_lost,
           "unclean_reconciliations": report.unclean_reconciliations,
           "points_not_reached": report.not_reached,
           "restart_p50_ms": round(percentile(restart_ms, 0.5), 1),
           "restart_p99_ms": round(percentile(restart_ms, 0.99), 1),
           "wall_s": round(time.monotonic() - started, 1)}
    print_table([row], list(row))
    print("kills by point:", dict(report.kills_by_point))
    for v in report.violations[:20]:
        print("VIOLATION:", v)
    save_json("bench_broker_crash", {"rows": [row], "kills_by_point": dict(report.kills_by_point),
                                     "violations": report.violations[:100]})
    return 1 if report.violations or report.kills < args.kills else 0


if __name__ == "__main__":
    sys.exit(main())
