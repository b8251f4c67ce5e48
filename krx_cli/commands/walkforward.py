"""`krx walkforward`: choose grid parameters in sample, score them out of sample, per window."""

from __future__ import annotations

import argparse
import json
from typing import Any

from krx_cli.commands._common import (
    add_grid_run_args,
    add_json_out,
    add_report_args,
    guarded,
    load_grid,
    parallel_context,
    prepare_grid_setup,
    print_table,
    show_progress,
    text_beside_json,
    write_json_out,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "walkforward", help="walk-forward validation: sweep each train window, test the best"
    )
    add_grid_run_args(p)
    p.add_argument("--train-months", type=int, default=24, help="train window (default 24)")
    p.add_argument("--test-months", type=int, default=6, help="test window (default 6)")
    p.add_argument("--step-months", type=int, default=6, help="window step (default 6)")
    p.add_argument(
        "--min-test-sessions",
        type=int,
        default=20,
        help="drop a last test window shorter than this (default 20)",
    )
    add_report_args(p)
    add_json_out(p, "the result (windows, gap, stitched OOS equity)", dest="json_out")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from strategy.backtest.engine import BacktestInputError
    from strategy.backtest.grid import GridError
    from strategy.backtest.walkforward import WalkForwardError

    return guarded("walkforward", _run, args, GridError, BacktestInputError, WalkForwardError)


def _run(args: argparse.Namespace) -> int:
    from strategy.backtest.report import write_walkforward_report
    from strategy.backtest.serialize import walkforward_model

    grid = load_grid(args)
    setup = prepare_grid_setup(args, grid)
    with text_beside_json(args.json_out):
        wf = _run_and_print(args, grid, setup)
    if args.json_out is not None:
        write_json_out(args.json_out, json.dumps(
            walkforward_model(wf).model_dump(mode="json"), indent=2, ensure_ascii=False))
    if args.report is not None:
        with text_beside_json(args.json_out):
            print(f"report: {write_walkforward_report(wf, args.report, plotly=args.report_plotly)}")
    return 0


def _run_and_print(args: argparse.Namespace, grid: Any, setup: Any) -> Any:
    from strategy.backtest.walkforward import run_walkforward, window_notes

    with parallel_context(args):
        wf = run_walkforward(
            setup.bars,
            setup.settings,
            grid,
            args.start,
            args.end,
            train_months=args.train_months,
            test_months=args.test_months,
            step_months=args.step_months,
            objective=args.objective,
            min_test_sessions=args.min_test_sessions,
            n_jobs=args.jobs,
            backend=args.backend,
            progress=show_progress(args),
        )
    obj = wf.objective
    cols = [
        "window",
        "train_start",
        "train_end",
        "test_start",
        "test_end",
        *grid,
        f"is_{obj}",
        f"oos_{obj}",
        "oos_total_return",
        "oos_n_trades",
    ]
    print_table(wf.windows[[c for c in cols if c in wf.windows.columns]])
    for note in window_notes(wf):
        print(f"note: {note}")
    m = wf.oos_metrics
    print(
        f"mean IS {obj} {wf.is_mean:.3f}  mean OOS {obj} {wf.oos_mean:.3f}  "
        f"gap (IS - OOS) {wf.gap:.3f}  over {wf.n_compared} of {len(wf.windows)} windows "
        "(both defined)"
    )
    print(
        f"stitched OOS: total return {m['total_return']:.2%}  CAGR {m['cagr']:.2%}  "
        f"MDD {m['mdd']:.2%}  Sharpe {m['sharpe']:.3f}"
    )
    return wf
