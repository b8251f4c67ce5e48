"""`krx demo`: the whole loop on the embedded synthetic market, nothing external needed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_DEMO_DIR = Path(__file__).resolve().parents[2] / "state" / "demo"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the daily cycle on the synthetic demo market")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DEMO_DIR,
        help=f"demo data root (default {DEFAULT_DEMO_DIR})",
    )
    p.add_argument("--json", action="store_true", help="print the summary JSON instead")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from contracts.common import now_kst
    from oci_backend.paths import data_paths
    from oci_backend.pipeline import run_cycle
    from oci_backend.render import render_cycle
    from oci_backend.store import Store
    from strategy.calendar import last_completed_session

    store = Store(data_paths(args.data_dir))
    # The demo always shows the last completed session, weekends and holidays included.
    asof = last_completed_session(now_kst())
    result = run_cycle(store, data_spec="demo", asof=asof, actor="demo", wait_lock=True)
    if args.json:
        print(result.summary.model_dump_json(indent=2))
    else:
        print(render_cycle(result.summary, result.plan))
        print(f"\ndemo data root: {store.paths.root}", file=sys.stderr)
    return result.exit_code
