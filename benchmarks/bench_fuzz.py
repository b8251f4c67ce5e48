"""schemathesis against the real OCI backend with more examples than CI: without a token,
in negative mode and with a token; prints the generated case counts and failures.

    .venv/bin/python benchmarks/bench_fuzz.py [--examples 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "oci_backend"), str(REPO / "tests" / "reliability"),
                str(REPO / "benchmarks")]

from _common import print_table, save_json  # noqa: E402
from fuzz_harness import run_schemathesis  # noqa: E402
from oci_server import REPO_DAILY, hash_tree, new_token, start_server, stop_server  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=100)
    args = ap.parse_args()
    rows = []
    for name, authed, mode, excluded in (
        ("no token", False, "all", ()), ("negative", True, "negative", ("/api/v1/ops/cycle",)),
        ("with token", True, "all", ()),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "data"
            root.mkdir()
            server = start_server(root, Path(tmp) / "server.log", token=new_token(),
                                  data_spec=f"csv:{REPO_DAILY}")
            try:
                before = hash_tree(root / "state")
                t0 = time.monotonic()
                run = run_schemathesis(server.base_url, server.token if authed else None,
                                       max_examples=args.examples, mode=mode, timeout=3600,
                                       exclude_paths=excluded)
                unchanged = hash_tree(root / "state") == before
                leaked = server.token in server.output()
            finally:
                stop_server(server)
        rows.append({"run": name, "cases": run.generated, "passed": run.passed,
                     "exit": run.returncode, "seconds": round(time.monotonic() - t0, 1),
                     "state_unchanged": unchanged if name != "with token" else "-",
                     "token_in_log": leaked})
        if run.returncode:
            print(run.output[-3000:])
    print_table(rows, list(rows[0]))
    save_json("bench_fuzz", {"rows": rows, "examples": args.examples})
    return 0 if all(r["exit"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
