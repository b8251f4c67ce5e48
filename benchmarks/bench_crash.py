"""Crash drill: SIGKILL the real OCI backend N times (default 200) under streamed PUSHes of
portfolio + settings and ticket submits with idempotency keys; invariants checked after every
restart (tests/reliability/crash_harness).

    .venv/bin/python benchmarks/bench_crash.py [--kills 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "oci_backend"), str(REPO / "tests" / "reliability"),
                str(REPO / "benchmarks")]

from _common import percentile, print_table, save_json  # noqa: E402
from crash_harness import run_crash_drill  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=200)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_crash_drill(Path(tmp) / "data", Path(tmp), args.kills, seed=args.seed)
    restart_ms = [s * 1000 for s in report.restart_s]
    row = {"kills": report.kills, "push_attempts": report.attempts,
           "acked": len(report.acked), "ticket_submits": report.submits,
           "tickets_acked": len(report.tickets), "errors": report.errors,
           "violations": len(report.violations),
           "restart_p50_ms": round(percentile(restart_ms, 0.5), 1),
           "restart_p99_ms": round(percentile(restart_ms, 0.99), 1)}
    print_table([row], list(row))
    for v in report.violations[:20]:
        print("VIOLATION:", v)
    save_json("bench_crash", {"rows": [row], "violations": report.violations[:100]})
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
