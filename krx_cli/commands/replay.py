"""`krx replay`: run a session range end to end through OCI's own code on a replay data root
(cycle → ticket → fill → next cycle) and compare the result with `run_backtest`.

`krx replay init --data-dir DIR [--set K=V ...]` only creates an empty replay root (settings,
portfolio with the initial cash, the replay marker; no cycle run), ready for
`krx oci serve --data-dir DIR`, whose `POST /api/v1/ops/cycle {"asof": ...}` then replays the
sessions one at a time."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from krx_cli.commands._common import (
    CommandError,
    add_data_source,
    add_settings_args,
    add_window,
    build_settings,
    guarded,
    load_bars,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="replay sessions through the cycle, tickets and fills on a replay data root, "
             "then compare with the backtest")
    add_data_source(p, default=None)
    add_window(p, required=False)
    _root_args(p, data_dir_help="the replay data root to create (a new or empty directory; "
                                "default a temporary one)")
    p.set_defaults(handler=run)
    verbs = p.add_subparsers(dest="replay_command", metavar="VERB")
    init = verbs.add_parser(
        "init", help="create an empty replay root ready to serve (krx oci serve --data-dir "
                     "DIR); no cycle is run")
    _root_args(init, data_dir_help="the replay root to create (a new or empty directory)",
               data_dir_required=True)
    add_data_source(init, default="demo")
    init.set_defaults(handler=run_init)


def _root_args(p: argparse.ArgumentParser, *, data_dir_help: str,
               data_dir_required: bool = False) -> None:
    """What a replay root is made of: settings, --set, the execution mode, the directory."""
    add_settings_args(p)
    p.add_argument("--set", action="append", default=[], metavar="K=V",
                   help="a StrategyParams field, e.g. --set rsi_period=14 (repeatable)")
    p.add_argument("--mode", choices=["DRY_RUN", "MANUAL"], default="DRY_RUN",
                   help="execution mode: DRY_RUN paper fills, or MANUAL with the operator's "
                        "fills at the next open recorded as fills (default DRY_RUN)")
    p.add_argument("--data-dir", type=Path, default=None, required=data_dir_required,
                   help=data_dir_help)


def run_init(args: argparse.Namespace) -> int:
    return guarded("replay init", _run_init, args, ValueError)


def _run_init(args: argparse.Namespace) -> int:
    from oci_backend.paths import data_paths
    from oci_backend.replay_root import create_replay_root

    root: Path = args.data_dir
    _require_empty(root)
    settings = _settings(args)
    label = f"krx replay init {args.mode} " + " ".join(args.set)
    store = create_replay_root(data_paths(root), label=label.strip(), data_spec=args.data,
                               settings=settings)
    print(f"replay root: {root} (revision {store.revision()}, {args.mode}, cash "
          f"{settings.strategy.initial_capital:,.0f} KRW)")
    print(f"serve it:    krx oci serve --data-dir {root} --data {args.data}")
    print('replay a day: POST /api/v1/ops/cycle {"asof": "YYYY-MM-DD"}')
    return 0


def _require_empty(root: Path) -> None:
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise CommandError(f"--data-dir {root} is not empty: a replay root needs a new or "
                           "empty directory")


def run(args: argparse.Namespace) -> int:
    from strategy.backtest.engine import BacktestInputError
    from strategy.marketdata.errors import MarketDataError

    return guarded("replay", _run, args, BacktestInputError, MarketDataError, ValueError)


def _settings(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from contracts.settings import ExecutionMode, StrategyParams

    settings = build_settings(args.params, args.universe, args.benchmark)
    update: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or key not in StrategyParams.model_fields:
            raise CommandError(f"--set {item!r}: expected K=V with K one of "
                               f"{', '.join(StrategyParams.model_fields)}")
        update[key] = value
    try:
        strategy = StrategyParams.model_validate(
            {**settings.strategy.model_dump(), **update})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CommandError(f"--set: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return settings.model_copy(update={"strategy": strategy,
                                       "execution_mode": ExecutionMode(args.mode)})


def _run(args: argparse.Namespace) -> int:
    from oci_backend.paths import data_paths
    from oci_backend.replay import InProcessBackend, compare_with_backtest, run_replay
    from oci_backend.replay_root import create_replay_root
    from oci_backend.tickets import opens_from_bars

    if not args.data:
        raise CommandError("--data is required (e.g. csv:data/krx/daily)")
    missing = [flag for flag, value in (("--start", args.start), ("--end", args.end))
               if value is None]
    if missing:
        raise CommandError(f"{' and '.join(missing)} required (YYYY-MM-DD), or `krx replay "
                           "init --data-dir DIR` for an empty replay root")
    if args.end < args.start:
        raise CommandError(f"--end {args.end} is before --start {args.start}")
    settings = _settings(args)
    bars = load_bars(args.data, settings, args.end)
    if args.data_dir is not None:
        _require_empty(args.data_dir)
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="krx-replay-"))
    label = f"{args.mode} {args.start}..{args.end} " + " ".join(args.set)
    store = create_replay_root(data_paths(root), label=label.strip(), data_spec=args.data,
                               settings=settings, start=args.start, end=args.end)
    result = run_replay(InProcessBackend(store, args.data), args.start, args.end,
                        opens=opens_from_bars(bars))
    cmp = compare_with_backtest(result, bars, store.settings(), args.start, args.end)
    last = result.days[-1]
    print(f"replay root: {root}")
    print(f"sessions {cmp.sessions}, tickets {result.tickets}, fills {cmp.fills}, "
          f"{result.seconds:.1f} s ({1000 * result.seconds / max(cmp.sessions, 1):.1f} ms "
          f"per session)")
    print(f"final equity {last.equity:,.0f} KRW, cash {last.cash:,.0f} KRW, holdings "
          f"{last.holdings or '-'}")
    print(f"vs run_backtest: max |equity diff| {cmp.max_equity_diff:,.4f} KRW, max |cash "
          f"diff| {cmp.max_cash_diff:,.4f} KRW, holdings "
          f"{'equal' if cmp.holdings_equal else 'DIFFER'}, fills "
          f"{'equal' if cmp.fills_equal else 'DIFFER'}")
    if not cmp.equal_to_the_won:
        print(f"NOT equal to the backtest: {cmp.first_difference}")
        return 1
    print("equal to the backtest to the won")
    return 0
