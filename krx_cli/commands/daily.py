"""`krx daily`: run the daily cycle without any server (SPEC.md §1 step 1).

Exit codes (krx_cli.commands._common): 0 OK, 2 blocked / warn / holiday / stale or a bad
argument (one line, nothing written), 1 failure. The report is rendered before the cycle
writes anything, and printing never fails on the console's encoding (cp949 included).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from krx_cli.commands._common import (
    EXIT_BLOCKED,
    EXIT_FAILURE,
    EXIT_USAGE,
    JSON_STDOUT,
    add_data_dir,
    add_data_source,
    add_json_out,
    safe_console,
    use_color,
    write_json_out,
)
from krx_common.i18n import LANGS, lang_from_env

if TYPE_CHECKING:
    from contracts.portfolio import Portfolio
    from contracts.settings import Settings
    from oci_backend.notify import Notifier
    from oci_backend.paths import DataPaths
    from oci_backend.store import Store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("daily", help="run the daily cycle: data → signals → plan → summary")
    p.add_argument(
        "--asof",
        type=date.fromisoformat,
        default=None,
        help="replay this session (YYYY-MM-DD) instead of the last completed one",
    )
    p.add_argument(
        "--replay", action="store_true",
        help="the data dir is a replay root (made one when it holds no state yet); --asof "
             "runs only there — a live data root refuses it",
    )
    add_data_source(p)
    add_data_dir(p)
    add_json_out(p, "the ops summary")
    p.add_argument("--lang", choices=LANGS, default=None,
                   help="language of the morning text: this flag, else $KRX_LANG, else the "
                        "locale (LC_ALL / LC_MESSAGES / LANG ko_KR* → ko), else en; the words "
                        "come from krx_common.i18n")
    p.set_defaults(handler=run)


def data_root(args: argparse.Namespace) -> Path | None:
    if args.data_dir is not None:
        return Path(args.data_dir)
    if args.data.strip().lower().partition(":")[0] == "demo":
        from oci_backend.paths import demo_data_root

        return demo_data_root()
    return None


def _state(store: Store) -> tuple[Portfolio | None, Settings | None]:
    """Portfolio and settings for the report; None when unreadable (the cycle says why)."""
    from krx_common.atomic import StoreError

    try:
        return store.portfolio(), store.settings()
    except (StoreError, OSError, ValueError):
        return None, None


def run(args: argparse.Namespace) -> int:
    safe_console()
    from contracts.plan import OrderPlan
    from contracts.summary import OpsSummary
    from krx_common.atomic import StoreError
    from oci_backend.config import OciConfig
    from oci_backend.notify import Notifier
    from oci_backend.paths import data_paths
    from oci_backend.pipeline import AsofRefused, CycleBusy, check_asof, run_cycle
    from oci_backend.render import render_cycle
    from oci_backend.replay_root import mark_replay_root
    from oci_backend.store import Store

    # Bad arguments are usage errors: one line, exit 2, before the store is even opened.
    from strategy.marketdata import make_provider

    root = data_root(args)
    paths = data_paths(root)
    try:
        if args.asof is not None:
            # The cycle's asof rule, checked before --replay marks the root: a refused asof
            # writes nothing.
            check_asof(paths, args.asof, replay=args.replay or paths.is_replay)
        make_provider(args.data)
        if args.replay:
            mark_replay_root(paths, label=f"krx daily --asof {args.asof}", data_spec=args.data)
    except ValueError as exc:  # AsofRefused included
        print(f"krx daily: {exc}", file=sys.stderr)
        return EXIT_USAGE
    color = use_color(sys.stdout)
    lang = args.lang or lang_from_env(os.environ)
    try:
        store = Store(paths)

        def render(summary: OpsSummary, plan: OrderPlan | None) -> str:
            if args.json == JSON_STDOUT:
                return summary.model_dump_json(indent=2)
            portfolio, settings = _state(store)
            return render_cycle(summary, plan, portfolio=portfolio, settings=settings,
                                color=color, lang=lang)

        # The cron/timer run is the normal daily path: it sends the summary and incidents
        # (once per kind per day; off unless apprise URLs are configured).
        notifier = Notifier(store, OciConfig().notify_urls)
        result = run_cycle(store, data_spec=args.data, asof=args.asof, actor="cli",
                           notifier=notifier.on_cycle, render=render, requested=True)
    except AsofRefused as exc:
        print(f"krx daily: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CycleBusy as exc:
        print(f"krx daily: {exc}", file=sys.stderr)
        return EXIT_BLOCKED
    except StoreError as exc:
        print(f"krx daily: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(result.text)
    # With `--json -` stdout is the JSON alone: the step's result goes to stderr, and a skipped
    # step says nothing (a script reading both streams gets the JSON and what matters).
    code = _reconcile_step(store, paths, notifier,
                           out=sys.stderr if args.json == JSON_STDOUT else sys.stdout,
                           quiet_skip=args.json == JSON_STDOUT)
    if args.json not in (None, JSON_STDOUT):
        write_json_out(args.json, result.summary.model_dump_json(indent=2))
    if root is not None and args.data_dir is None and args.json != JSON_STDOUT:
        print(f"(demo data root: {root})")
    if EXIT_FAILURE in (result.exit_code, code):
        return EXIT_FAILURE
    return max(result.exit_code, code)


def _reconcile_step(store: Store, paths: DataPaths, notifier: Notifier, *, out: TextIO,
                    quiet_skip: bool = False) -> int:
    """The cycle's broker reconciliation (`oci_backend.reconcile.cycle_step`, the API's
    reconcile) when `KRX_KIS_CREDENTIALS_FILE` is set; one line printed. Exit code: 0 clean
    or skipped, 2 a drift (CRITICAL risk, audit INCIDENT, notification) or the broker
    unreachable, 1 a broker configuration OCI refuses (as its start-up does). A replay root
    is never reconciled with a broker."""
    from broker.protocol import BrokerError
    from oci_backend import reconcile
    from oci_backend.broker_link import BrokerLink, open_broker
    from oci_backend.config import ConfigError, OciConfig

    if paths.is_replay:
        if not quiet_skip:
            print("broker reconciliation: skipped (a replay root)", file=out)
        return 0
    cfg = OciConfig()
    try:
        link = open_broker(cfg, paths) if cfg.kis_credentials_file else BrokerLink()
        result, line = reconcile.cycle_step(store, link, notifier, actor="cli")
    except ConfigError as exc:
        print(f"krx daily: broker reconciliation not run: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except BrokerError as exc:
        print(f"krx daily: broker reconciliation failed: {exc.code}: {exc.message}",
              file=sys.stderr)
        return EXIT_BLOCKED
    if result is not None or not quiet_skip:
        print(line, file=out)
    return EXIT_BLOCKED if result is not None and not result.clean else 0
