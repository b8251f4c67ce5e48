"""`krx sweep`: backtest every combination of a parameter grid and rank them.

Also holds the argument and loading helpers `krx walkforward` shares (data, settings, grid).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from contracts.settings import Settings

EXIT_USAGE = 2


class CommandError(Exception):
    """A user-facing failure: printed as ``krx <verb>: <message>``, exit code 2."""


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments every grid command takes: data, base settings, grid, window, objective, jobs."""
    p.add_argument(
        "--data",
        default="auto",
        help="market data: csv:DIR | demo | pykrx | fdr | auto (default auto)",
    )
    p.add_argument(
        "--params",
        type=Path,
        default=None,
        help="YAML or JSON of StrategyParams fields to sweep around (others keep their "
        "defaults); an optional 'guardrails' mapping sets Guardrails fields (as krx backtest)",
    )
    p.add_argument(
        "--universe",
        default=None,
        help="comma-separated tickers (default: 069500,229200,091160,305720,005930)",
    )
    p.add_argument("--benchmark", default=None, help="regime benchmark (default 069500)")
    p.add_argument(
        "--grid",
        type=Path,
        default=None,
        help="YAML grid: {param: [values] | {start, stop, step} | value}",
    )
    p.add_argument(
        "--set",
        dest="set_items",
        action="append",
        default=[],
        metavar="K=A:B:S",
        help="grid entry: name=start:stop:step (inclusive), name=a,b,c or name=v; "
        "repeatable; overrides the same name in --grid",
    )
    p.add_argument(
        "--start",
        type=date.fromisoformat,
        required=True,
        help="first decision session (YYYY-MM-DD); earlier bars are warm-up",
    )
    p.add_argument(
        "--end", type=date.fromisoformat, required=True, help="last session (YYYY-MM-DD)"
    )
    p.add_argument(
        "--objective",
        default="sharpe",
        help="metric to rank by: sharpe, sortino, cagr, calmar, total_return, ... (default sharpe)",
    )
    p.add_argument(
        "--jobs", type=int, default=None, help="parallel jobs (default: all cores; 1 = in-process)"
    )
    p.add_argument(
        "--backend",
        default=None,
        help="joblib backend: loky (processes), threading, inprocess "
        "(default: loky, or dask with --dask)",
    )
    p.add_argument(
        "--dask",
        default=None,
        metavar="ADDRESS",
        help="run batches on the dask.distributed scheduler at ADDRESS",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="backtest a parameter grid and rank the combinations")
    add_run_arguments(p)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write all results here (.csv, or .parquet when pyarrow is installed)",
    )
    p.add_argument("--report", type=Path, default=None, help="write an HTML report here")
    p.add_argument("--heatmap-x", default=None, help="report heatmap x parameter (default: 1st)")
    p.add_argument("--heatmap-y", default=None, help="report heatmap y parameter (default: 2nd)")
    p.add_argument("--top", type=int, default=10, help="rows of the printed table (default 10)")
    p.set_defaults(handler=run)


def load_grid(args: argparse.Namespace) -> dict[str, list[Any]]:
    """The validated grid from --grid and --set (GridError names the parameter at fault)."""
    from strategy.backtest.sweep import (
        GridError,
        canonical_param,
        parse_grid,
        parse_grid_yaml,
        parse_set_items,
    )

    spec: dict[str, Any] = {}
    if args.grid is not None:
        try:
            with open(args.grid, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise CommandError(f"cannot read grid file {args.grid}: {exc.strerror}") from None
        try:
            spec.update(parse_grid_yaml(text))
        except GridError as exc:
            raise CommandError(f"{args.grid}: {exc}") from None
    spec.update({canonical_param(k): v for k, v in parse_set_items(args.set_items).items()})
    if not spec:
        raise CommandError("give a grid: --grid FILE.yaml and/or --set name=start:stop:step")
    return parse_grid(spec)


def load_settings(args: argparse.Namespace) -> Settings:
    """Base settings from --params/--universe/--benchmark, exactly as `krx backtest` reads them."""
    from krx_cli.commands import backtest

    try:
        return backtest.build_settings(args.params, args.universe, args.benchmark)
    except backtest.CommandError as exc:
        raise CommandError(str(exc)) from None


def load_bars(spec: str, settings: Settings, end: date) -> dict[str, pd.DataFrame]:
    """Bars for the universe and benchmark up to `end`, with all history before (warm-up)."""
    from strategy.marketdata import make_provider
    from strategy.marketdata.errors import MarketDataError

    tickers = list(dict.fromkeys([*settings.universe, settings.benchmark]))
    try:
        provider = make_provider(spec, demo_end=end)
        return dict(provider.load(tickers, end=end))
    except MarketDataError as exc:
        raise CommandError(str(exc)) from None
    except ValueError as exc:
        raise CommandError(f"--data {spec!r}: {exc}") from None


@contextlib.contextmanager
def parallel_context(args: argparse.Namespace) -> Iterator[None]:
    """joblib configured for --dask (a distributed.Client on that scheduler), else nothing."""
    if not args.dask:
        yield
        return
    try:
        from distributed import Client
    except ImportError:
        raise CommandError("--dask needs dask[distributed] installed") from None
    from joblib import parallel_config

    with Client(args.dask) as _client, parallel_config(backend="dask"):
        yield


def show_progress(args: argparse.Namespace) -> bool:
    return bool(sys.stderr.isatty()) if args.progress is None else bool(args.progress)


def print_table(frame: pd.DataFrame) -> None:
    from strategy.backtest.report import format_value

    text = frame.copy()
    for col in text.columns:
        text[col] = [format_value(str(col), v) for v in text[col].tolist()]
    print(text.to_string(index=False))


def run(args: argparse.Namespace) -> int:
    from strategy.backtest.engine import BacktestInputError
    from strategy.backtest.sweep import GridError

    try:
        return _run(args)
    except (CommandError, GridError, BacktestInputError) as exc:
        print(f"krx sweep: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    from strategy.backtest.report import sweep_top_frame, write_sweep_report, write_sweep_results
    from strategy.backtest.sweep import check_objective, run_sweep

    grid = load_grid(args)
    check_objective(args.objective)
    names = list(grid)
    hx = args.heatmap_x or names[0]
    hy = args.heatmap_y or (names[1] if len(names) > 1 else names[0])
    if args.report is not None:
        for flag, name in (("--heatmap-x", hx), ("--heatmap-y", hy)):
            if name not in grid:
                raise CommandError(f"{flag} {name!r} is not a swept parameter ({', '.join(names)})")
    settings = load_settings(args)
    bars = load_bars(args.data, settings, args.end)
    with parallel_context(args):
        df = run_sweep(
            bars,
            settings,
            grid,
            args.start,
            args.end,
            objective=args.objective,
            n_jobs=args.jobs,
            backend=args.backend,
            progress=show_progress(args),
        )
    a = df.attrs
    print(
        f"{len(df)} combinations on {args.start}..{args.end} in {a['n_groups']} indicator "
        f"group(s); {a['n_skipped']} skipped (cross-field rules); ranked by {args.objective}; "
        f"ran {a['execution']}"
    )
    for reason in a["skipped"][:3]:
        print(f"  skipped: {reason}")
    print_table(sweep_top_frame(df, args.objective, args.top))
    if args.out is not None:
        try:
            print(f"results: {write_sweep_results(df, args.out)}")
        except ImportError as exc:
            raise CommandError(str(exc)) from None
    if args.report is not None:
        path = write_sweep_report(df, args.report, x=hx, y=hy, objective=args.objective)
        print(f"report: {path}")
    return 0
