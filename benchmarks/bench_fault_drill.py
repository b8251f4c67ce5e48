"""Fault drill: the real OCI backend on a tmpfs data root of its own through a damaged journal,
a deleted stop file, a full disk, a clock stepped back and a read-only remount, one after the
other (tests/reliability/fault_drill_harness). Needs root (`mount -t tmpfs`).

    .venv/bin/python benchmarks/bench_fault_drill.py [--size 16m]
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
from fault_drill_harness import run_fault_drill  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="16m", help="the tmpfs data root's size")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_fault_drill(Path(tmp), size=args.size)
    rows = [{"fault": r.fault, "/health said": r.health[:70],
             "refused": "; ".join(x.split(":")[0] for x in r.refused),
             "recovered": "yes" if r.recovered else "NO",
             "files unchanged": "yes" if r.unchanged else "NO", "s": r.seconds}
            for r in report.rows]
    print_table(rows, list(rows[0]))
    print(f"data root: {report.mount}; first three faults served by one process: "
          f"{report.one_process}; tracebacks in the logs: {report.tracebacks}")
    for problem in report.problems:
        print("PROBLEM:", problem)
    save_json("bench_fault_drill", report.as_json())
    return 1 if report.problems or report.tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
