"""`krx sweep`: backtest every combination of a parameter grid and rank them."""

from __future__ import annotations

import argparse
from pathlib import Path

from krx_cli.commands._common import (
    CommandError,
    add_grid_run_args,
    add_report_args,
    guarded,
    load_grid,
    parallel_context,
    prepare_grid_setup,
    print_table,
    show_progress,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="backtest a parameter grid and rank the combinations")
    add_grid_run_args(p)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write all results here (.csv, or .parquet when pyarrow is installed)",
    )
    add_report_args(p)
    p.add_argument("--heatmap-x", default=None, help="report heatmap x parameter (default: 1st)")
    p.add_argument("--heatmap-y", default=None, help="report heatmap y parameter (default: 2nd)")
    p.add_argument("--top", type=int, default=10, help="rows of the printed table (default 10)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from strategy.backtest.engine import BacktestInputError
    from strategy.backtest.grid import GridError

    return guarded("sweep", _run, args, GridError, BacktestInputError)


def _run(args: argparse.Namespace) -> int:
    from strategy.backtest.frames import sweep_top_frame
    from strategy.backtest.report import write_sweep_report, write_sweep_results
    from strategy.backtest.sweep import grid_edge_warnings, run_sweep

    grid = load_grid(args)
    names = list(grid)
    hx = args.heatmap_x or names[0]
    hy = args.heatmap_y or (names[1] if len(names) > 1 else names[0])
    if args.report is not None:
        for flag, name in (("--heatmap-x", hx), ("--heatmap-y", hy)):
            if name not in grid:
                raise CommandError(f"{flag} {name!r} is not a swept parameter ({', '.join(names)})")
    setup = prepare_grid_setup(args, grid)
    with parallel_context(args):
        df = run_sweep(
            setup.bars,
            setup.settings,
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
        f"ran {a['execution']} in {a.get('elapsed_s', float('nan')):.1f} s"
    )
    for reason in a["skipped"][:3]:
        print(f"  skipped: {reason}")
    print_table(sweep_top_frame(df, args.objective, args.top))
    bh = a.get("buy_and_hold")
    if bh:
        print(
            f"buy & hold {bh['ticker']}: {args.objective} "
            f"{bh.get(args.objective, float('nan')):.3f}, total return "
            f"{bh['total_return']:.2%}"
        )
    for warning in grid_edge_warnings(df, grid, args.objective):
        print(f"warning: {warning}")
    if args.out is not None:
        try:
            print(f"results: {write_sweep_results(df, args.out)}")
        except ImportError as exc:
            raise CommandError(str(exc)) from None
    if args.report is not None:
        path = write_sweep_report(df, args.report, x=hx, y=hy, objective=args.objective,
                                  plotly=args.report_plotly)
        print(f"report: {path}")
    return 0
