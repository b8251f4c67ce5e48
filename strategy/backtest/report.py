"""Backtest, sweep and walk-forward reports: plotly figure builders and the files that hold them.

The ``*_figure`` functions only build `plotly.graph_objects.Figure` objects from results (the
cockpit reuses them); the ``write_*`` functions are the only file I/O here. HTML reports are
self-contained: plotly.js is inlined once in the page head and nothing is loaded from the
network, so a report opens offline.
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

if TYPE_CHECKING:
    from strategy.backtest.engine import BacktestResult
    from strategy.backtest.walkforward import WalkForwardResult

# Figure titles (tests and the cockpit look for these).
TITLE_EQUITY = "Equity vs benchmark"
TITLE_DRAWDOWN = "Drawdown"
TITLE_TRADES = "Trades"
TITLE_PER_YEAR = "Per-year returns"
TITLE_METRICS = "Metrics"
TITLE_HEATMAP = "Sweep heatmap"
TITLE_TOP = "Top combinations"
TITLE_WF_WINDOWS = "Walk-forward windows"
TITLE_WF_EQUITY = "Stitched out-of-sample equity"

REGIME_COLORS = {
    "BULL": "rgba(46, 160, 67, 0.10)",
    "BEAR": "rgba(218, 54, 51, 0.10)",
    "UNKNOWN": "rgba(128, 128, 128, 0.12)",
}
CHOP_COLOR = "rgba(255, 153, 0, 0.45)"
# Chop periods are drawn as a strip along the top of the chart, above the regime bands.
_CHOP_STRIP = (0.95, 1.0)

# Metrics shown as percentages; the rest are plain numbers.
_PERCENT_METRICS = frozenset(
    {"total_return", "cagr", "mdd", "volatility", "win_rate", "exposure", "return"}
)
_MONEY_METRICS = frozenset(
    {
        "final_equity",
        "initial_capital",
        "total_costs",
        "total_commission",
        "total_tax",
        "total_slippage",
        "slippage_cost",
    }
)


# --- formatting ---------------------------------------------------------------------------


def format_value(name: str, value: Any) -> str:
    """`value` of column/metric `name` for display: fractions as %, KRW with separators."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "—"
        base = name.removeprefix("is_").removeprefix("oos_").removeprefix("benchmark_")
        if base in _PERCENT_METRICS or name.endswith("_pct") and abs(v) < 10:
            return f"{v * 100:.2f}%"
        if base in _MONEY_METRICS or abs(v) >= 1e5:
            return f"{v:,.0f}"
        if v == int(v) and abs(v) < 1e9:
            return f"{int(v)}"
        return f"{v:.4g}"
    return str(value)


def _table_figure(
    frame: pd.DataFrame,
    title: str,
    *,
    height: int | None = None,
    col_width: Sequence[int] | None = None,
) -> go.Figure:
    cells = [[format_value(str(c), v) for v in frame[c].tolist()] for c in frame.columns]
    fig = go.Figure(
        go.Table(
            columnwidth=list(col_width) if col_width else None,
            header={
                "values": [str(c) for c in frame.columns],
                "fill_color": "#e8eef5",
                "align": "left",
                "font": {"size": 12},
            },
            cells={"values": cells, "align": "left", "font": {"size": 12}, "height": 24},
        )
    )
    rows = len(frame)
    fig.update_layout(
        title=title,
        height=height or min(900, 110 + 26 * (rows + 1)),
        margin={"l": 20, "r": 20, "t": 50, "b": 10},
    )
    return fig


def _runs(values: pd.Series) -> list[tuple[Any, pd.Timestamp, pd.Timestamp]]:
    """Consecutive runs of equal values as (value, first date, date the next run starts)."""
    if values.empty:
        return []
    v = values.to_numpy()
    idx = pd.DatetimeIndex(values.index)
    change = np.flatnonzero(v[1:] != v[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [len(v) - 1]))
    return [(v[s], idx[s], idx[e]) for s, e in zip(starts, ends, strict=True)]


def _chop_flags(chop: pd.Series) -> pd.Series:
    """Chop as booleans (True = chop); accepts bools, 0/1 or 'CHOP'-like strings, NaN = no."""
    if chop.dtype == bool:
        return chop
    if chop.dtype == object:
        return chop.map(lambda x: str(x).upper() in ("TRUE", "CHOP", "YES", "1")).astype(bool)
    return chop.fillna(0).astype(float) > 0.5


def regime_shapes(regime: pd.Series, chop: pd.Series | None = None) -> list[dict[str, Any]]:
    """Layout shapes shading BULL/BEAR/UNKNOWN bands (full height) and CHOP periods (a strip
    along the top) for a date x-axis."""
    shapes: list[dict[str, Any]] = []
    for value, x0, x1 in _runs(regime.astype(str)):
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": x0,
                "x1": x1,
                "y0": 0,
                "y1": 1,
                "fillcolor": REGIME_COLORS.get(str(value), REGIME_COLORS["UNKNOWN"]),
                "line": {"width": 0},
                "layer": "below",
            }
        )
    if chop is not None and not chop.empty:
        for value, x0, x1 in _runs(_chop_flags(chop)):
            if value:
                shapes.append(
                    {
                        "type": "rect",
                        "xref": "x",
                        "yref": "paper",
                        "x0": x0,
                        "x1": x1,
                        "y0": _CHOP_STRIP[0],
                        "y1": _CHOP_STRIP[1],
                        "fillcolor": CHOP_COLOR,
                        "line": {"width": 0},
                        "layer": "below",
                    }
                )
    return shapes


def _legend_swatches(fig: go.Figure, with_chop: bool) -> None:
    # Shapes have no legend entries; invisible-data traces explain the colours.
    items = [(f"regime {k}", c) for k, c in REGIME_COLORS.items()]
    if with_chop:
        items.append(("CHOP (top strip)", CHOP_COLOR))
    for name, color in items:
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=name,
                hoverinfo="skip",
                marker={
                    "symbol": "square",
                    "size": 12,
                    "color": color.replace("0.10", "0.5").replace("0.12", "0.5"),
                },
            )
        )


# --- backtest figures ---------------------------------------------------------------------


def equity_figure(result: BacktestResult, *, title: str = TITLE_EQUITY) -> go.Figure:
    """Strategy equity and buy-and-hold benchmark equity (same initial capital) over the
    window, on regime bands (BULL/BEAR/UNKNOWN) with CHOP periods as a strip on top."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=result.equity.index,
            y=result.equity.to_numpy(),
            name="strategy",
            line={"color": "#1f4e9c", "width": 2},
        )
    )
    if result.benchmark is not None and len(result.benchmark):
        fig.add_trace(
            go.Scatter(
                x=result.benchmark.index,
                y=result.benchmark.to_numpy(),
                name="benchmark (buy & hold)",
                line={"color": "#777777", "width": 1.5},
            )
        )
    chop = getattr(result, "chop", None)
    regime = getattr(result, "regime", None)
    if regime is not None and len(regime):
        window = result.equity.index
        regime = regime.loc[(regime.index >= window[0]) & (regime.index <= window[-1])]
        if chop is not None:
            chop = chop.loc[(chop.index >= window[0]) & (chop.index <= window[-1])]
        fig.update_layout(shapes=regime_shapes(regime, chop))
        _legend_swatches(fig, chop is not None)
    fig.update_layout(
        title=title,
        yaxis_title="equity (KRW)",
        hovermode="x unified",
        height=480,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
    )
    return fig


def drawdown_series(equity: pd.Series) -> pd.Series:
    """Drawdown from the running peak as a fraction (<= 0)."""
    return equity / equity.cummax() - 1.0


def drawdown_figure(result: BacktestResult, *, title: str = TITLE_DRAWDOWN) -> go.Figure:
    """Drawdown (fraction below the running peak) of the strategy and the benchmark."""
    fig = go.Figure()
    dd = drawdown_series(result.equity)
    fig.add_trace(
        go.Scatter(
            x=dd.index,
            y=dd.to_numpy(),
            name="strategy",
            fill="tozeroy",
            line={"color": "#c0392b", "width": 1.2},
        )
    )
    if result.benchmark is not None and len(result.benchmark):
        bdd = drawdown_series(result.benchmark)
        fig.add_trace(
            go.Scatter(
                x=bdd.index,
                y=bdd.to_numpy(),
                name="benchmark",
                line={"color": "#777777", "width": 1, "dash": "dot"},
            )
        )
    fig.update_layout(
        title=title,
        yaxis_tickformat=".0%",
        hovermode="x unified",
        height=300,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
    )
    return fig


def traded_tickers(result: BacktestResult) -> list[str]:
    """Tickers with at least one fill, in order of first fill."""
    fills = result.fills
    if fills is None or fills.empty:
        return []
    return list(dict.fromkeys(fills.sort_values("date", kind="mergesort")["ticker"].astype(str)))


def trades_figure(
    result: BacktestResult,
    bars: Mapping[str, pd.DataFrame | pd.Series] | None = None,
    *,
    title: str = TITLE_TRADES,
) -> go.Figure:
    """Per traded ticker: its close (from `bars`: bar frames or close series; without them
    only the fills are drawn) with buy (▲) and sell (▼) fill markers at the fill price; a
    dropdown picks the ticker."""
    tickers = traded_tickers(result)
    fig = go.Figure()
    spans: list[tuple[str, int, int]] = []
    for k, ticker in enumerate(tickers):
        first = len(fig.data)
        visible = k == 0
        series = _close_of(bars.get(ticker)) if bars else None
        if series is not None and len(series):
            window = result.equity.index
            s = series.loc[(series.index >= window[0]) & (series.index <= window[-1])]
            fig.add_trace(
                go.Scatter(
                    x=s.index,
                    y=s.to_numpy(),
                    name=f"{ticker} close",
                    line={"color": "#555555", "width": 1.2},
                    visible=visible,
                )
            )
        f = result.fills[result.fills["ticker"].astype(str) == ticker]
        for side, symbol, color in (
            ("BUY", "triangle-up", "#1a9850"),
            ("SELL", "triangle-down", "#d73027"),
        ):
            part = f[f["side"].astype(str).str.upper() == side]
            hover = [
                f"{side} {int(q):,} @ {p:,.1f}<br>{r}"
                for q, p, r in zip(part["qty"], part["price"], part["reason"], strict=True)
            ]
            fig.add_trace(
                go.Scatter(
                    x=part["date"],
                    y=part["price"],
                    mode="markers",
                    name=f"{ticker} {side.lower()}",
                    marker={
                        "symbol": symbol,
                        "size": 11,
                        "color": color,
                        "line": {"width": 0.5, "color": "black"},
                    },
                    text=hover,
                    hoverinfo="text+x",
                    visible=visible,
                )
            )
        spans.append((ticker, first, len(fig.data)))
    if len(spans) > 1:
        n = len(fig.data)
        buttons = []
        for ticker, lo, hi in spans:
            vis = [lo <= i < hi for i in range(n)]
            buttons.append(
                {
                    "label": ticker,
                    "method": "update",
                    "args": [{"visible": vis}, {"title": f"{title}: {ticker}"}],
                }
            )
        fig.update_layout(
            updatemenus=[
                {
                    "buttons": buttons,
                    "direction": "down",
                    "x": 1.0,
                    "xanchor": "right",
                    "y": 1.15,
                    "yanchor": "top",
                }
            ]
        )
    shown = f"{title}: {spans[0][0]}" if spans else f"{title}: no fills"
    fig.update_layout(
        title=shown,
        yaxis_title="price (KRW)",
        height=420,
        margin={"l": 60, "r": 20, "t": 70, "b": 40},
    )
    return fig


def _close_of(data: pd.DataFrame | pd.Series | None) -> pd.Series | None:
    if isinstance(data, pd.DataFrame):
        return data["close"] if "close" in data.columns else None
    return data


def per_year_frame(result: BacktestResult) -> pd.DataFrame:
    """The result's per-year table with the benchmark's per-year return alongside."""
    frame = result.per_year.copy()
    bench = result.benchmark
    if bench is not None and len(bench) and "year" in frame.columns:
        year_end = bench.groupby(pd.DatetimeIndex(bench.index).year).last()
        prev = year_end.shift(1)
        prev.iloc[0] = bench.iloc[0]
        bret = year_end / prev - 1.0
        frame["benchmark_return"] = frame["year"].map(bret.to_dict())
    return frame


def per_year_figure(result: BacktestResult, *, title: str = TITLE_PER_YEAR) -> go.Figure:
    """Table: per-year return and MDD of the strategy, and the benchmark's return."""
    return _table_figure(per_year_frame(result), title)


def metrics_frame(result: BacktestResult) -> pd.DataFrame:
    """Every metric of the result formatted, with the benchmark's where the engine has one."""
    bench = result.meta.get("benchmark_metrics", {}) if isinstance(result.meta, dict) else {}
    rows = []
    for k, v in result.metrics.items():
        b = bench.get(k)
        rows.append((k, format_value(k, v), "" if b is None else format_value(k, b)))
    return pd.DataFrame(rows, columns=["metric", "strategy", "benchmark (buy & hold)"])


def metrics_figure(result: BacktestResult, *, title: str = TITLE_METRICS) -> go.Figure:
    """Table: every metric of the result (percentages, KRW), benchmark alongside."""
    return _table_figure(metrics_frame(result), title, col_width=[200, 160, 160])


def backtest_figures(
    result: BacktestResult, bars: Mapping[str, pd.DataFrame | pd.Series] | None = None
) -> list[go.Figure]:
    """Every figure of the backtest report, in page order."""
    return [
        equity_figure(result),
        drawdown_figure(result),
        trades_figure(result, bars),
        per_year_figure(result),
        metrics_figure(result),
    ]


# --- sweep figures ------------------------------------------------------------------------


def sweep_heatmap_figure(
    sweep: pd.DataFrame, x: str, y: str, objective: str, *, title: str | None = None
) -> go.Figure:
    """Heatmap of `objective` over parameters `x` and `y`; every other swept parameter is
    aggregated by max (the best achievable at each (x, y)). With ``x == y`` (a one-parameter
    sweep) the heatmap is a single row over `x`."""
    for col in (x, y, objective):
        if col not in sweep.columns:
            raise KeyError(f"sweep results have no column {col!r}")
    if x == y:
        best = sweep.groupby(x, sort=True)[objective].max()
        table = pd.DataFrame([best.to_numpy()], index=[objective], columns=best.index)
    else:
        table = sweep.pivot_table(index=y, columns=x, values=objective, aggfunc="max", dropna=False)
    z = table.to_numpy(dtype=float)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(c) for c in table.columns],
            y=[str(i) for i in table.index],
            colorscale="RdYlGn",
            colorbar={"title": objective},
            text=[[format_value(objective, v) for v in row] for row in z],
            texttemplate="%{text}",
            hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{objective}=%{{z:.4g}}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title or f"{TITLE_HEATMAP}: {objective} by {x} × {y} (max over other parameters)",
        xaxis={"title": x, "type": "category"},
        yaxis={"title": y, "type": "category"},
        height=520,
        margin={"l": 80, "r": 20, "t": 60, "b": 60},
    )
    return fig


def sweep_top_frame(sweep: pd.DataFrame, objective: str, n: int = 20) -> pd.DataFrame:
    """The best `n` rows (the frame is ranked already) with the swept parameters and the key
    metrics (objective first)."""
    from strategy.backtest.engine import METRIC_COLUMNS

    metrics = [c for c in METRIC_COLUMNS if c in sweep.columns]
    params = [c for c in sweep.columns if c not in metrics and c not in ("rank", "combo_id")]
    key = [objective] + [
        m
        for m in ("cagr", "mdd", "sharpe", "calmar", "total_return", "n_trades", "win_rate")
        if m != objective and m in metrics
    ]
    cols = [c for c in ("rank",) if c in sweep.columns] + params + key
    return sweep.head(n)[cols].reset_index(drop=True)


def sweep_top_figure(sweep: pd.DataFrame, objective: str, n: int = 20) -> go.Figure:
    """Table of the best `n` combinations by `objective`."""
    return _table_figure(
        sweep_top_frame(sweep, objective, n),
        f"{TITLE_TOP} (top {min(n, len(sweep))} by {objective})",
    )


# --- walk-forward figures -----------------------------------------------------------------


def walkforward_windows_figure(wf: WalkForwardResult) -> go.Figure:
    """Table: per window its train/test dates, best train parameters, IS and OOS objective."""
    return _table_figure(wf.windows, f"{TITLE_WF_WINDOWS} (objective: {wf.objective})")


def walkforward_equity_figure(wf: WalkForwardResult) -> go.Figure:
    """The stitched out-of-sample equity (test windows chained by returns), the benchmark over
    the same sessions chained the same way, and a dotted line at each test-window start."""
    fig = go.Figure()
    eq = wf.oos_equity
    fig.add_trace(
        go.Scatter(
            x=eq.index,
            y=eq.to_numpy(),
            name="out-of-sample (stitched)",
            line={"color": "#1f4e9c", "width": 2},
        )
    )
    bench = getattr(wf, "oos_benchmark", None)
    if bench is not None and len(bench):
        fig.add_trace(
            go.Scatter(
                x=bench.index,
                y=bench.to_numpy(),
                name="benchmark (stitched)",
                line={"color": "#777777", "width": 1.5},
            )
        )
    shapes = [
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": d,
            "x1": d,
            "y0": 0,
            "y1": 1,
            "line": {"color": "#999999", "width": 1, "dash": "dot"},
        }
        for d in pd.to_datetime(wf.windows["test_start"])
    ]
    gap = wf.gap
    obj = wf.objective
    fig.update_layout(
        title=(
            f"{TITLE_WF_EQUITY} — mean IS {obj} {format_value(obj, wf.is_mean)}, "
            f"mean OOS {format_value(obj, wf.oos_mean)}, gap (IS − OOS) {format_value(obj, gap)} "
            f"over {wf.n_compared}/{len(wf.windows)} windows"
        ),
        shapes=shapes,
        yaxis_title="equity (KRW)",
        hovermode="x unified",
        height=460,
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
    )
    return fig


# --- files --------------------------------------------------------------------------------

_CSS = """
body { font-family: -apple-system, 'Segoe UI', 'Noto Sans KR', sans-serif; margin: 24px;
       color: #222; max-width: 1280px; }
h1 { font-size: 22px; margin-bottom: 4px; }
p.sub { color: #666; margin-top: 0; }
div.fig { margin: 18px 0; }
"""


def figures_html(figures: Sequence[go.Figure], title: str, subtitle: str = "") -> str:
    """One self-contained HTML page: plotly.js inlined once, then each figure in order."""
    from plotly.offline import get_plotlyjs

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if subtitle:
        parts.append(f'<p class="sub">{html.escape(subtitle)}</p>')
    config = {"displaylogo": False, "responsive": True}
    for fig in figures:
        div = fig.to_html(include_plotlyjs=False, full_html=False, config=config)
        parts.append(f'<div class="fig">{div}</div>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _write_text(path: Path | str, text: str) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(text)
    return out


def write_backtest_report(
    result: BacktestResult,
    path: Path | str,
    *,
    title: str | None = None,
    bars: Mapping[str, pd.DataFrame | pd.Series] | None = None,
) -> Path:
    """Write the backtest report (equity vs benchmark on regime/chop bands, drawdown, trades
    per ticker, per-year table, metrics) as one offline HTML file; returns its path. Pass the
    run's `bars` to draw each traded ticker's close under its fills."""
    eq = result.equity
    span = f"{eq.index[0]:%Y-%m-%d} → {eq.index[-1]:%Y-%m-%d}" if len(eq) else ""
    page = figures_html(backtest_figures(result, bars), title or "Backtest report", span)
    return _write_text(path, page)


def write_sweep_report(
    sweep: pd.DataFrame,
    path: Path | str,
    *,
    x: str,
    y: str,
    objective: str | None = None,
    top_n: int = 20,
    title: str | None = None,
) -> Path:
    """Write the sweep report (heatmap of `objective` over `x` × `y`, top-N table) as one
    offline HTML file; `objective` defaults to the one the sweep was ranked by."""
    objective = objective or str(sweep.attrs.get("objective", "sharpe"))
    a = sweep.attrs
    sub = (
        f"{a.get('start', '')} → {a.get('end', '')}; {len(sweep)} combinations"
        f" ({a.get('n_skipped', 0)} skipped by cross-field rules)"
    )
    figs = [sweep_heatmap_figure(sweep, x, y, objective), sweep_top_figure(sweep, objective, top_n)]
    return _write_text(path, figures_html(figs, title or "Parameter sweep", sub))


def write_walkforward_report(
    wf: WalkForwardResult, path: Path | str, *, title: str | None = None
) -> Path:
    """Write the walk-forward report (stitched OOS equity, windows table) as one offline HTML."""
    sub = (
        f"train {wf.train_months} m / test {wf.test_months} m / step {wf.step_months} m; "
        f"{len(wf.windows)} windows; objective {wf.objective}"
    )
    figs = [walkforward_equity_figure(wf), walkforward_windows_figure(wf)]
    return _write_text(path, figures_html(figs, title or "Walk-forward validation", sub))


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
