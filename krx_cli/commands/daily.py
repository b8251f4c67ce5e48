"""`krx daily`: run the daily cycle without any server (SPEC.md §1 step 1)."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("daily", help="run the daily cycle: data → signals → plan → summary")
    p.add_argument(
        "--asof",
        type=date.fromisoformat,
        default=None,
        help="replay this session (YYYY-MM-DD) instead of the last completed one",
    )
    p.add_argument(
        "--data",
        default="auto",
        help="market data: csv:DIR | demo | pykrx | fdr | auto (default auto)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data root holding state/ and reports/ (default $KRX_DATA_DIR or repo)",
    )
    p.add_argument("--json", action="store_true", help="print the summary JSON instead")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from oci_backend.config import OciConfig
    from oci_backend.notify import Notifier
    from oci_backend.paths import data_paths
    from oci_backend.pipeline import EXIT_BLOCKED, CycleBusy, run_cycle
    from oci_backend.store import Store, StoreError

    try:
        store = Store(data_paths(args.data_dir))
        # The cron/timer run is the normal daily path: it sends the summary and incidents
        # (once per kind per day; off unless apprise URLs are configured).
        notifier = Notifier(store, OciConfig().notify_urls)
        result = run_cycle(store, data_spec=args.data, asof=args.asof, actor="cli",
                           notifier=notifier.on_cycle)
    except CycleBusy as exc:
        print(f"krx daily: {exc}", file=sys.stderr)
        return EXIT_BLOCKED
    except StoreError as exc:
        print(f"krx daily: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(result.summary.model_dump_json(indent=2))
    else:
        from oci_backend.render import render_cycle

        print(render_cycle(result.summary, result.plan))
    return result.exit_code
