"""Soak: mixed traffic at a fixed rate for 5 minutes (snapshot 30/s, ticket list 5/s, PUSH 4/s)
against a real OCI backend, then snapshot throughput with wrk at 32 connections.

    .venv/bin/python benchmarks/bench_soak.py [--seconds 300]

Targets: error rate 0, RSS growth < 10 % and fds flat between the first and the last minute;
wrk snapshot >= 1,000 req/s with p99 <= 20 ms.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "oci_backend"), str(REPO / "tests" / "reliability"),
                str(REPO / "benchmarks")]

from _common import print_table, save_json  # noqa: E402
from oci_server import REPO_DAILY, new_token, start_server, stop_server  # noqa: E402
from soak_harness import run_soak, wrk_snapshot  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "data").mkdir()
        server = start_server(Path(tmp) / "data", Path(tmp) / "server.log", token=new_token(),
                              data_spec=f"csv:{REPO_DAILY}")
        try:
            result = run_soak(server, args.seconds)
            wrk = wrk_snapshot(server)
        finally:
            stop_server(server)
    span = min(60.0, args.seconds / 5)
    rss0, rss1, fd0, fd1 = result.growth(span)
    row = {"seconds": args.seconds, "requests": result.requests, "errors": len(result.errors),
           "p50_ms": round(result.p(0.50), 1), "p99_ms": round(result.p(0.99), 1),
           "p99_snapshot_ms": round(result.p(0.99, "snapshot"), 1),
           "p99_push_ms": round(result.p(0.99, "push"), 1),
           "rss_first_kb": rss0, "rss_last_kb": rss1,
           "rss_growth_pct": round((rss1 / rss0 - 1) * 100, 2), "fds_first": fd0, "fds_last": fd1}
    print_table([row], list(row))
    if wrk:
        print_table([wrk], list(wrk))
    ok = (not result.errors and rss1 < rss0 * 1.1 and fd1 <= fd0
          and (not wrk or (wrk["rps"] >= 1000 and wrk["p99_ms"] <= 20)))
    save_json("bench_soak", {"rows": [row], "wrk": wrk, "errors": result.errors[:20],
                             "targets_met": ok})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
