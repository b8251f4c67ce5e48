"""Backtest, sweep and walk-forward reports as HTML files: the page, its tables and sections.

The figures come from `strategy.backtest.figures` and the tables from
`strategy.backtest.frames`; the ``write_*`` functions are the only file I/O of the reports.
Reports open offline: by default plotly.js is inlined once in the page head (one self-contained
file, ~5 MB); with ``plotly="local"`` the page loads ``plotly.min.js`` written once beside it (a
report is then a few hundred KB). Tables are plain HTML ``<section id=...>`` blocks (untruncated
headers, parseable), figures are plotly divs.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from strategy.backtest.figures import (
    GAIN_COLOR,
    LOSS_COLOR,
    TITLE_BUY_HOLD,
    TITLE_CONFIG,
    TITLE_EXECUTION,
    TITLE_EXPOSURE,
    TITLE_GRID_EDGE,
    TITLE_METRICS,
    TITLE_MONTHLY,
    TITLE_PER_TICKER,
    TITLE_PER_YEAR,
    TITLE_TOP,
    TITLE_TRADE_LIST,
    TITLE_TRADE_STATS,
    TITLE_WF_IS_OOS,
    TITLE_WF_NOTES,
    TITLE_WF_PARAMS,
    TITLE_WF_WINDOWS,
    TITLE_WORST_DD,
    drawdown_figure,
    equity_figure,
    exposure_figure,
    monthly_returns_figure,
    sweep_heatmap_figure,
    trades_figure,
    walkforward_equity_figure,
    walkforward_is_oos_figure,
    walkforward_params_figure,
)
from strategy.backtest.frames import (
    buy_and_hold_items,
    config_items,
    day_text,
    execution_items,
    format_value,
    metrics_frame,
    monthly_returns_frame,
    per_ticker_frame,
    per_year_frame,
    sweep_top_frame,
    trade_list_frame,
    trade_stats_items,
    worst_drawdowns_frame,
)
from strategy.backtest.sweep import grid_edge_warnings

if TYPE_CHECKING:
    from strategy.backtest.engine import BacktestResult
    from strategy.backtest.walkforward import WalkForwardResult

# Section ids of the HTML reports (tests and links use them).
SECTION_IDS = {
    TITLE_TRADE_LIST: "trade-list",
    TITLE_MONTHLY: "monthly-returns",
    TITLE_WORST_DD: "worst-drawdowns",
    TITLE_PER_TICKER: "per-ticker",
    TITLE_EXPOSURE: "exposure",
    TITLE_TRADE_STATS: "trade-stats",
    TITLE_CONFIG: "run-configuration",
    TITLE_METRICS: "metrics",
    TITLE_PER_YEAR: "per-year",
    TITLE_BUY_HOLD: "buy-and-hold",
    TITLE_GRID_EDGE: "grid-edges",
    TITLE_EXECUTION: "execution",
    TITLE_TOP: "top-combinations",
    TITLE_WF_WINDOWS: "windows",
    TITLE_WF_IS_OOS: "is-vs-oos",
    TITLE_WF_PARAMS: "chosen-parameters",
    TITLE_WF_NOTES: "window-notes",
}
PLOTLY_JS_NAME = "plotly.min.js"


class Section:
    """An HTML block of a report: ``<section id=...><h2>title</h2>body</section>``."""

    def __init__(self, title: str, body: str, *, note: str = "") -> None:
        self.title = title
        self.id = SECTION_IDS.get(title, title.lower().replace(" ", "-"))
        self.body = body
        self.note = note

    def html(self) -> str:
        note = f'<p class="note">{html.escape(self.note)}</p>' if self.note else ""
        return (f'<section id="{self.id}"><h2>{html.escape(self.title)}</h2>{note}'
                f"{self.body}</section>")


def _cell_class(name: str, value: Any, signed_cols: frozenset[str] = frozenset()) -> str:
    signed = ("pnl", "return", "expectancy", "mdd", "depth")  # P&L-like columns by name
    if not isinstance(value, int | float | np.integer | np.floating) or isinstance(value, bool):
        return ""
    v = float(value)
    if math.isnan(v) or v == 0 or not (name in signed_cols or any(k in name for k in signed)):
        return ""
    return ' class="gain"' if v > 0 else ' class="loss"'


def html_table(frame: pd.DataFrame, *, formats: Mapping[str, Any] | None = None,
               signed: Sequence[str] = (), wide: bool = False) -> str:
    """`frame` as an HTML table: full column names, values through `format_value` (or a
    per-column callable in `formats`), gains/losses classed for colour (P&L-like columns by
    name, plus the `signed` ones). `wide`: many columns; the headers wrap (at '_') and the
    cells are tighter, so the table fits the page instead of running off its edge."""
    formats = formats or {}
    signed_cols = frozenset(signed)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for rec in frame.itertuples(index=False, name=None):
        cells = []
        for col, v in zip(frame.columns, rec, strict=True):
            fmt = formats.get(str(col))
            text = fmt(v) if fmt is not None else format_value(str(col), v)
            cls = _cell_class(str(col), v, signed_cols)
            cells.append(f"<td{cls}>{html.escape(str(text))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if wide:  # a break opportunity after each '_' of the long column names
        head = head.replace("_", "_<wbr>")
    cls = "data wide" if wide else "data"
    return (f'<table class="{cls}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _kv_table(items: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in items)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def _as_return(v: Any) -> str:
    return format_value("return", v)


def trade_list_section(result: BacktestResult) -> Section:
    """The trade list: closed trades, then the positions still open at the end (marked at the
    last close, as `krx backtest` lists them)."""
    tl = trade_list_frame(result)
    n_open = len(result.open_positions) if result.open_positions is not None else 0
    note = f"{len(result.trades)} closed trade(s); P&L after costs"
    if n_open:
        note += f"; {n_open} position(s) still open at the end, marked at the last close"
    return Section(TITLE_TRADE_LIST, html_table(tl, formats={"entry_date": day_text,
                                                            "exit_date": day_text}), note=note)


def backtest_sections(result: BacktestResult) -> list[Section | go.Figure]:
    """The HTML tables of the backtest report and the figures between them, in page order."""
    dd = worst_drawdowns_frame(result.equity)
    monthly = monthly_returns_frame(result.equity)
    return [
        Section(TITLE_CONFIG, _kv_table(config_items(result))),
        Section(TITLE_METRICS, html_table(metrics_frame(result))),
        Section(TITLE_TRADE_STATS, _kv_table(trade_stats_items(result)),
                note="profit factor = gross profit / gross loss; expectancy = mean P&L per "
                     "closed trade"),
        monthly_returns_figure(result),
        Section(TITLE_MONTHLY, html_table(
            monthly.reset_index(), formats={str(c): _as_return for c in monthly.columns},
            signed=[str(c) for c in monthly.columns])),
        Section(TITLE_WORST_DD, html_table(dd, formats={"peak": day_text, "trough": day_text,
                                                        "recovery": day_text}),
                note="recovery: first session back at the peak (empty: not recovered)"),
        exposure_figure(result),
        Section(TITLE_PER_TICKER, html_table(per_ticker_frame(result))),
        trade_list_section(result),
    ]


# --- files --------------------------------------------------------------------------------

_CSS = """
body { font-family: -apple-system, 'Segoe UI', 'Noto Sans KR', sans-serif; margin: 24px;
       color: #222; max-width: 1280px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
p.sub { color: #666; margin-top: 0; }
p.note { color: #555; font-size: 13px; margin: 2px 0 8px; }
p.warn { color: #8a4b00; background: #fff4e0; padding: 6px 10px; border-radius: 4px; }
div.fig { margin: 18px 0; }
table.data, table.kv { border-collapse: collapse; font-size: 13px; }
table.data th, table.data td, table.kv th, table.kv td {
  border-bottom: 1px solid #e4e4e4; padding: 3px 10px; text-align: right; white-space: nowrap; }
table.data th { background: #e8eef5; position: sticky; top: 0; }
table.kv th { text-align: left; background: #f4f6f9; }
table.kv td { text-align: left; white-space: normal; }
section { overflow-x: auto; }
table.wide { font-size: 12px; }
table.wide th { white-space: normal; min-width: 3em; vertical-align: bottom; }
table.wide th, table.wide td { padding: 3px 5px; }
""" + f"td.gain {{ color: {GAIN_COLOR}; }} td.loss {{ color: {LOSS_COLOR}; }}\n"

PlotlyMode = str  # "inline" (self-contained) or "local" (plotly.min.js beside the report)


def _plotly_script(mode: PlotlyMode, out_dir: Path | None) -> str:
    from plotly.offline import get_plotlyjs

    if mode == "inline":
        return f'<script type="text/javascript">{get_plotlyjs()}</script>'
    if mode != "local":
        raise ValueError(f"plotly mode {mode!r}: choose inline or local")
    if out_dir is not None:
        write_plotly_js(out_dir)
    return f'<script type="text/javascript" src="{PLOTLY_JS_NAME}"></script>'


def write_plotly_js(out_dir: Path | str) -> Path:
    """Write the bundled plotly.min.js into `out_dir` once (rewritten only when it differs),
    for light reports that share it; returns its path."""
    from plotly.offline import get_plotlyjs

    target = Path(out_dir) / PLOTLY_JS_NAME
    text = get_plotlyjs()
    try:
        with open(target, encoding="utf-8") as fh:
            if fh.read() == text:
                return target
    except OSError:
        pass
    return _write_text(target, text)


def report_html(
    blocks: Sequence[go.Figure | Section | str],
    title: str,
    subtitle: str = "",
    *,
    plotly: PlotlyMode = "inline",
    out_dir: Path | None = None,
) -> str:
    """One HTML page: plotly.js (inlined, or `plotly.min.js` beside the page), then each
    block in order — a figure as a plotly div, a Section as its table, a string as HTML."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="ko"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        _plotly_script(plotly, out_dir),
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if subtitle:
        parts.append(f'<p class="sub">{html.escape(subtitle)}</p>')
    config = {"displaylogo": False, "responsive": True}
    for block in blocks:
        if isinstance(block, Section):
            parts.append(block.html())
        elif isinstance(block, str):
            parts.append(block)
        else:
            div = block.to_html(include_plotlyjs=False, full_html=False, config=config)
            name = html.escape(str(block.layout.title.text or ""), quote=True)
            parts.append(f'<div class="fig" data-title="{name}">{div}</div>')
    parts.append("</body></html>")
    return "\n".join(parts)


def figures_html(figures: Sequence[go.Figure], title: str, subtitle: str = "") -> str:
    """One self-contained HTML page: plotly.js inlined once, then each figure in order."""
    return report_html(figures, title, subtitle)


def _write_text(path: Path | str, text: str) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(text)
    return out


def _write_report(
    path: Path | str, blocks: Sequence[go.Figure | Section | str], title: str, subtitle: str,
    plotly: PlotlyMode,
) -> Path:
    out = Path(path)
    page = report_html(blocks, title, subtitle, plotly=plotly, out_dir=out.parent)
    return _write_text(out, page)


def write_backtest_report(
    result: BacktestResult,
    path: Path | str,
    *,
    title: str | None = None,
    bars: Mapping[str, pd.DataFrame | pd.Series] | None = None,
    plotly: PlotlyMode = "inline",
) -> Path:
    """Write the backtest report as one offline HTML file; returns its path.

    Run configuration, metrics (strategy vs buy & hold), trade statistics (profit factor,
    expectancy, best/worst trade), equity on regime/chop bands, drawdown, monthly-returns
    heatmap and table, worst drawdowns, exposure over time, per-ticker statistics, per-year
    table, trades per ticker and the trade list; codes carry their Korean names. Pass the
    run's `bars` to draw each traded ticker's close under its fills. ``plotly="local"``
    writes a light page that loads plotly.min.js from beside it.
    """
    eq = result.equity
    span = f"{eq.index[0]:%Y-%m-%d} → {eq.index[-1]:%Y-%m-%d}" if len(eq) else ""
    sections = backtest_sections(result)
    blocks: list[go.Figure | Section | str] = [
        *sections[:3], equity_figure(result), drawdown_figure(result), *sections[3:8],
        Section(TITLE_PER_YEAR, html_table(per_year_frame(result))),
        trades_figure(result, bars), sections[8],
    ]
    return _write_report(path, blocks, title or "Backtest report", span, plotly)


def write_sweep_report(
    sweep: pd.DataFrame,
    path: Path | str,
    *,
    x: str,
    y: str,
    objective: str | None = None,
    top_n: int = 20,
    title: str | None = None,
    plotly: PlotlyMode = "inline",
) -> Path:
    """Write the sweep report (execution mode, buy-and-hold reference, grid-edge warnings,
    heatmap of `objective` over `x` × `y`, top-N table) as one offline HTML file;
    `objective` defaults to the one the sweep was ranked by."""
    objective = objective or str(sweep.attrs.get("objective", "sharpe"))
    a = sweep.attrs
    sub = (
        f"{a.get('start', '')} → {a.get('end', '')}; {len(sweep)} combinations"
        f" ({a.get('n_skipped', 0)} skipped by cross-field rules); ranked by {objective}"
    )
    warnings = grid_edge_warnings(sweep, a.get("grid"), objective)
    edge_body = "".join(f'<p class="warn">{html.escape(w)}</p>' for w in warnings) or \
        "<p>every swept parameter's best value lies inside its grid</p>"
    blocks: list[go.Figure | Section | str] = [
        Section(TITLE_EXECUTION, _kv_table(execution_items(sweep))),
        Section(TITLE_BUY_HOLD, _kv_table(buy_and_hold_items(sweep, objective)),
                note="the benchmark held over the same window from the same capital"),
        Section(TITLE_GRID_EDGE, edge_body),
        sweep_heatmap_figure(sweep, x, y, objective),
        Section(f"{TITLE_TOP}", html_table(sweep_top_frame(sweep, objective, top_n)),
                note=f"top {min(top_n, len(sweep))} by {objective}"),
    ]
    return _write_report(path, blocks, title or "Parameter sweep", sub, plotly)


def write_walkforward_report(
    wf: WalkForwardResult, path: Path | str, *, title: str | None = None,
    plotly: PlotlyMode = "inline",
) -> Path:
    """Write the walk-forward report (stitched OOS equity, IS-vs-OOS chart, chosen parameters
    over time, window notes, windows table with full headers) as one offline HTML file."""
    from strategy.backtest.walkforward import window_notes

    sub = (
        f"train {wf.train_months} m / test {wf.test_months} m / step {wf.step_months} m; "
        f"{len(wf.windows)} windows; objective {wf.objective}"
    )
    notes = window_notes(wf)
    note_body = "".join(f"<p>{html.escape(n)}</p>" for n in notes) or \
        "<p>every window has a defined in-sample and out-of-sample objective and trades</p>"
    table = wf.windows.copy()
    blocks: list[go.Figure | Section | str] = [
        walkforward_equity_figure(wf),
        walkforward_is_oos_figure(wf),
        walkforward_params_figure(wf),
        Section(TITLE_WF_NOTES, note_body),
        Section(TITLE_WF_WINDOWS, html_table(table, wide=True, formats={
            c: day_text for c in ("train_start", "train_end", "test_start", "test_end")}),
            note=f"objective: {wf.objective}; is_ = best in-sample value on the train "
                 "window, oos_ = the chosen parameters on the test window"),
    ]
    return _write_report(path, blocks, title or "Walk-forward validation", sub, plotly)


def write_sweep_results(sweep: pd.DataFrame, path: Path | str) -> Path:
    """Write sweep results as CSV, or parquet when `path` ends in ``.parquet`` (needs pyarrow;
    ImportError says so when it is missing)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                f"writing {out} needs pyarrow; install it or write a .csv instead"
            ) from exc
        frame = sweep.copy()
        frame.attrs = {}
        frame.to_parquet(out, index=False)
    else:
        sweep.to_csv(out, index=False, encoding="utf-8")
    return out
