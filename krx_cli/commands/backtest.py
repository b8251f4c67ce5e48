"""`krx backtest`: one backtest of the strategy settings on daily bars, printed as tables."""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING, Any

from krx_cli.commands._common import (
    CommandError,
    add_data_source,
    add_json_out,
    add_report_args,
    add_settings_args,
    add_window,
    build_settings,
    guarded,
    research_errors,
    text_beside_json,
    write_json_out,
)
from strategy.backtest.serialize import result_json

if TYPE_CHECKING:
    from strategy.backtest.engine import BacktestResult

__all__ = ["register", "render"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backtest", help="backtest the strategy on daily bars")
    add_data_source(p)
    add_window(p)
    add_settings_args(p)
    add_json_out(p, "metrics, per-year, trades and run notes")
    add_report_args(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from strategy.backtest.engine import BacktestInputError
    from strategy.marketdata.errors import MarketDataError

    # ValueError: e.g. end before start, caught by the engine
    return guarded("backtest", _run, args, BacktestInputError, MarketDataError, ValueError)


def _run(args: argparse.Namespace) -> int:
    from strategy.backtest.engine import run_backtest
    from strategy.research import prepare_backtest

    settings = build_settings(args.params, args.universe, args.benchmark)
    if args.end < args.start:
        raise CommandError(f"--end {args.end} is before --start {args.start}")
    setup = research_errors(lambda: prepare_backtest(settings, args.data, args.start, args.end))
    bars = setup.bars
    result = run_backtest(bars, settings, args.start, args.end)
    with text_beside_json(args.json):
        print(render(result))
    if args.json is not None:
        write_json_out(args.json, json.dumps(result_json(result), indent=2, ensure_ascii=False))
    with text_beside_json(args.json):
        return _report(args, result, bars)


def _report(args: argparse.Namespace, result: BacktestResult, bars: Any) -> int:
    if args.report is not None:
        try:
            from strategy.backtest.report import write_backtest_report
        except ImportError:
            raise CommandError(
                "--report needs strategy.backtest.report.write_backtest_report, which this "
                "installation does not have; the backtest itself ran (see above)"
            ) from None
        path = write_backtest_report(result, args.report, bars=bars, plotly=args.report_plotly)
        print(f"report: {path}")
    return 0


# --- output ---------------------------------------------------------------------------------

_PERCENT = {"total_return", "cagr", "mdd", "volatility", "win_rate", "exposure", "return"}
_WON = {"final_equity", "total_costs", "total_commission", "total_tax", "total_slippage"}
_COUNT = {"n_trades", "n_fills"}


def format_metric(name: str, value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if name in _PERCENT:
        return f"{value * 100:,.2f} %"
    if name in _WON:
        return f"{value:,.0f} KRW"
    if name in _COUNT:
        return f"{int(value):,d}"
    return f"{value:,.3f}"


def _label(code: str) -> str:
    """The code with its Korean name when the ticker master knows it."""
    from contracts.instruments import instrument, is_known

    return f"{code} {instrument(code).name_ko}" if is_known(code) else code


def render(result: BacktestResult) -> str:
    """The metrics table (strategy vs buy-and-hold benchmark), per-year table and notes."""
    meta = result.meta
    bench = meta["benchmark_metrics"]
    lines = [
        f"Backtest {meta['start']} → {meta['end']} ({meta['sessions']} sessions, "
        f"{meta['warmup_sessions']} warm-up), universe "
        f"{', '.join(_label(c) for c in meta['universe'])}, benchmark {_label(meta['benchmark'])}",
        "",
        f"{'metric':<18} {'strategy':>18} {'buy & hold':>18}",
    ]
    for name, value in result.metrics.items():
        other = format_metric(name, bench[name]) if name in bench else ""
        lines.append(f"{name:<18} {format_metric(name, value):>18} {other:>18}")
    if meta.get("mdd_peak_date"):
        lines.append(f"{'mdd peak→trough':<18} {meta['mdd_peak_date']} → {meta['mdd_trough_date']}")
    lines += ["", f"{'year':<6} {'return':>10} {'mdd':>10}"]
    py = result.per_year
    for year, ret, mdd in zip(py["year"], py["return"], py["mdd"], strict=True):
        lines.append(
            f"{year:<6} {format_metric('return', float(ret)):>10} "
            f"{format_metric('mdd', float(mdd)):>10}"
        )
    if len(result.open_positions):
        held = ", ".join(
            f"{_label(str(p.ticker))} ×{p.qty}"
            for p in result.open_positions.itertuples(index=False)
        )
        lines += ["", f"open at end (marked at close): {held}"]
    notes = [*meta["warmup_notes"], *meta["data_notes"]]
    if meta["guard_blocked_sessions"]:
        notes.append(f"guardrails blocked the buys of {meta['guard_blocked_sessions']} session(s)")
    if meta["halted_orders"]:
        notes.append(f"{meta['halted_orders']} order(s) dropped on trading halts")
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)

