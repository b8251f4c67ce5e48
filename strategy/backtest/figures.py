"""Plotly figure builders of the backtest, sweep and walk-forward reports (the cockpit reuses
them): they only build `plotly.graph_objects.Figure` objects from results and the tables of
`strategy.backtest.frames`. Gains are red and losses blue (Korean convention).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from krx_common.defaults import GAIN_COLOR, LOSS_COLOR
from strategy.backtest.frames import (
    day_text,
    drawdown_series,
    format_value,
    instrument_label,
    metrics_frame,
    monthly_returns_frame,
    per_year_frame,
    sweep_top_frame,
    traded_tickers,
)

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
TITLE_TRADE_LIST = "Trade list"
TITLE_MONTHLY = "Monthly returns"
TITLE_WORST_DD = "Worst drawdowns"
TITLE_PER_TICKER = "Per-ticker statistics"
TITLE_EXPOSURE = "Exposure over time"
TITLE_TRADE_STATS = "Trade statistics"
TITLE_CONFIG = "Run configuration"
TITLE_BUY_HOLD = "Buy-and-hold reference"
TITLE_GRID_EDGE = "Grid edges"
TITLE_EXECUTION = "Execution"
TITLE_WF_IS_OOS = "In-sample vs out-of-sample"
TITLE_WF_PARAMS = "Chosen parameters over time"
TITLE_WF_NOTES = "Window notes"



REGIME_COLORS = {
    "BULL": "rgba(46, 160, 67, 0.10)",
    "BEAR": "rgba(218, 54, 51, 0.10)",
    "UNKNOWN": "rgba(128, 128, 128, 0.12)",
}
CHOP_COLOR = "rgba(255, 153, 0, 0.45)"
# Chop periods are drawn as a strip along the top of the chart, above the regime bands.
_CHOP_STRIP = (0.95, 1.0)


def _laid_out(fig: go.Figure, title: str, height: int, **layout: Any) -> go.Figure:
    """`fig` with its title, height and the house margins (60 px left for the axis labels)."""
    fig.update_layout(title=title, height=height,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40}, **layout)
    return fig

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
    shapes = [_band(x0, x1, 0, 1, REGIME_COLORS.get(str(value), REGIME_COLORS["UNKNOWN"]))
              for value, x0, x1 in _runs(regime.astype(str))]
    if chop is not None and not chop.empty:
        shapes += [_band(x0, x1, *_CHOP_STRIP, CHOP_COLOR)
                   for value, x0, x1 in _runs(_chop_flags(chop)) if value]
    return shapes


def _line(series: pd.Series, name: str, **line: Any) -> go.Scatter:
    """A line trace of `series` over its date index."""
    return go.Scatter(x=series.index, y=series.to_numpy(), name=name, line=line)


def _band(x0: Any, x1: Any, y0: float, y1: float, color: str) -> dict[str, Any]:
    """A filled rectangle from x0 to x1 (dates) and y0 to y1 (fractions of the plot height),
    drawn below the traces."""
    return {"type": "rect", "xref": "x", "yref": "paper", "x0": x0, "x1": x1, "y0": y0,
            "y1": y1, "fillcolor": color, "line": {"width": 0}, "layer": "below"}


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


def equity_figure(result: BacktestResult, *, title: str = TITLE_EQUITY) -> go.Figure:
    """Strategy equity and buy-and-hold benchmark equity (same initial capital) over the
    window, on regime bands (BULL/BEAR/UNKNOWN) with CHOP periods as a strip on top."""
    fig = go.Figure()
    fig.add_trace(_line(result.equity, "strategy", color="#1f4e9c", width=2))
    if result.benchmark is not None and len(result.benchmark):
        fig.add_trace(_line(result.benchmark, "benchmark (buy & hold)", color="#777777",
                            width=1.5))
    chop = getattr(result, "chop", None)
    regime = getattr(result, "regime", None)
    if regime is not None and len(regime):
        window = result.equity.index
        regime = regime.loc[(regime.index >= window[0]) & (regime.index <= window[-1])]
        if chop is not None:
            chop = chop.loc[(chop.index >= window[0]) & (chop.index <= window[-1])]
        fig.update_layout(shapes=regime_shapes(regime, chop))
        _legend_swatches(fig, chop is not None)
    return _laid_out(fig, title, 480, yaxis_title="equity (KRW)", hovermode="x unified")


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
            line={"color": LOSS_COLOR, "width": 1.2},  # losses blue (Korean convention)
        )
    )
    if result.benchmark is not None and len(result.benchmark):
        fig.add_trace(_line(drawdown_series(result.benchmark), "benchmark", color="#777777",
                            width=1, dash="dot"))
    return _laid_out(fig, title, 300, yaxis_tickformat=".0%", hovermode="x unified")


def trades_figure(
    result: BacktestResult,
    bars: Mapping[str, pd.DataFrame | pd.Series] | None = None,
    *,
    title: str = TITLE_TRADES,
) -> go.Figure:
    """Per traded ticker: its close (from `bars`: bar frames or close series; without them
    only the fills are drawn) with buy (▲) and sell (▼) fill markers at the fill price; a
    dropdown picks the ticker (labelled with its Korean name)."""
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
        for side, symbol, color in (  # Korean convention: buys red, sells blue
            ("BUY", "triangle-up", GAIN_COLOR),
            ("SELL", "triangle-down", LOSS_COLOR),
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
                    "label": instrument_label(ticker),
                    "method": "update",
                    "args": [{"visible": vis}, {"title": f"{title}: {instrument_label(ticker)}"}],
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
    shown = f"{title}: {instrument_label(spans[0][0])}" if spans else f"{title}: no fills"
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


def per_year_figure(result: BacktestResult, *, title: str = TITLE_PER_YEAR) -> go.Figure:
    """Table: per-year return and MDD of the strategy, and the benchmark's return."""
    return _table_figure(per_year_frame(result), title)


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


def monthly_returns_figure(result: BacktestResult, *, title: str = TITLE_MONTHLY) -> go.Figure:
    """Heatmap of monthly returns (years × months), gains red and losses blue."""
    table = monthly_returns_frame(result.equity)
    months = [c for c in table.columns if c != "total"]
    z = table[months].to_numpy(dtype=float) if len(table) else np.zeros((0, 12))
    text = [[format_value("return", v) for v in row] for row in z]
    lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 0.01
    fig = go.Figure(go.Heatmap(
        z=z, x=months, y=[str(y) for y in table.index], text=text, texttemplate="%{text}",
        hovertemplate="%{y} %{x}: %{text}<extra></extra>", zmid=0, zmin=-lim, zmax=lim,
        colorscale=[[0, LOSS_COLOR], [0.5, "#ffffff"], [1, GAIN_COLOR]],
        colorbar={"title": "return", "tickformat": ".0%"},
    ))
    return _laid_out(fig, title, 140 + 40 * len(table),
                     yaxis={"type": "category", "autorange": "reversed"})


def exposure_figure(result: BacktestResult, *, title: str = TITLE_EXPOSURE) -> go.Figure:
    """Invested fraction of equity per session, and the number of positions held."""
    fig = go.Figure()
    ex = result.exposure
    if ex is not None and len(ex):
        fig.add_trace(go.Scatter(x=ex.index, y=ex.to_numpy(), name="invested / equity",
                                 fill="tozeroy", line={"color": "#1f4e9c", "width": 1}))
    pos = result.positions
    if pos is not None and len(pos):
        held = (pos.to_numpy() > 0).sum(axis=1)
        fig.add_trace(go.Scatter(x=pos.index, y=held, name="positions held", yaxis="y2",
                                 line={"color": "#777777", "width": 1, "shape": "hv"}))
    fig.update_layout(
        title=title, yaxis={"title": "exposure", "tickformat": ".0%", "rangemode": "tozero"},
        yaxis2={"title": "positions", "overlaying": "y", "side": "right", "rangemode": "tozero",
                "dtick": 1},
        hovermode="x unified", height=300, margin={"l": 60, "r": 60, "t": 50, "b": 40},
    )
    return fig


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
            hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{objective}=%{{text}}<extra></extra>",
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


def sweep_top_figure(sweep: pd.DataFrame, objective: str, n: int = 20) -> go.Figure:
    """Table of the best `n` combinations by `objective`."""
    return _table_figure(
        sweep_top_frame(sweep, objective, n),
        f"{TITLE_TOP} (top {min(n, len(sweep))} by {objective})",
    )


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


def walkforward_is_oos_figure(wf: WalkForwardResult) -> go.Figure:
    """Per window, the in-sample objective of the chosen parameters beside its
    out-of-sample value; an undefined value is marked on the axis and named in the hover."""
    obj = wf.objective
    w = wf.windows
    labels = [f"#{int(i)} {day_text(t)}" for i, t in zip(w["window"], w["test_start"], strict=True)]
    fig = go.Figure()
    for col, name, color in ((f"is_{obj}", "in-sample (train, best)", "#9aa9c4"),
                             (f"oos_{obj}", "out-of-sample (test)", "#1f4e9c")):
        vals = w[col].astype(float).to_numpy()
        text = [format_value(obj, v) if np.isfinite(v) else "undefined" for v in vals]
        fig.add_trace(go.Bar(x=labels, y=np.where(np.isfinite(vals), vals, 0.0), name=name,
                             marker_color=color, text=text, textposition="outside",
                             hovertemplate="%{x}: %{text}<extra>" + name + "</extra>"))
    fig.update_layout(
        title=f"{TITLE_WF_IS_OOS}: {obj} per window (gap {format_value(obj, wf.gap)})",
        barmode="group", yaxis_title=obj, height=380,
        margin={"l": 60, "r": 20, "t": 50, "b": 60},
    )
    return fig


def walkforward_params_figure(wf: WalkForwardResult) -> go.Figure:
    """Each swept parameter's chosen value over the test windows (a step line)."""
    w = wf.windows
    fig = go.Figure()
    names = [n for n in getattr(wf, "grid", {}) if n in w.columns]
    for n in names:
        fig.add_trace(go.Scatter(x=pd.to_datetime(w["test_start"]), y=w[n], name=n,
                                 mode="lines+markers", line={"shape": "hv"}))
    return _laid_out(fig, f"{TITLE_WF_PARAMS} (at each test-window start)", 320,
                     yaxis_title="chosen value")
