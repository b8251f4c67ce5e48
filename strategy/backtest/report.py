"""Backtest, sweep and walk-forward reports: plotly figure builders and the files that hold them.

The ``*_figure`` functions only build `plotly.graph_objects.Figure` objects from results and
the ``*_frame`` functions the tables behind them (the cockpit reuses both); the ``write_*``
functions are the only file I/O here. Reports open offline: by default plotly.js is inlined
once in the page head (one self-contained file, ~5 MB); with ``plotly="local"`` the page loads
``plotly.min.js`` written once beside it (a report is then a few hundred KB). Tables are plain
HTML ``<section id=...>`` blocks (untruncated headers, parseable), figures are plotly divs.
Numbers go through one formatter, `format_value`; gains are red and losses blue (Korean
convention).
"""

from __future__ import annotations

import calendar
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from krx_common.defaults import GAIN_COLOR, LOSS_COLOR

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
    {"total_return", "cagr", "mdd", "volatility", "win_rate", "exposure", "return", "depth",
     "avg_return", "best_return", "worst_return", "expectancy_pct"}
)
# Ratios shown with three decimals (the objective columns of sweeps and walk-forwards).
_RATIO_METRICS = frozenset({"sharpe", "sortino", "calmar", "turnover", "profit_factor", "pf"})
_MONEY_METRICS = frozenset(
    {
        "final_equity",
        "initial_capital",
        "total_costs",
        "total_commission",
        "total_tax",
        "total_slippage",
        "slippage_cost",
        "pnl",
        "total_pnl",
        "unrealized_pnl",
        "expectancy_krw",
        "avg_win_krw",
        "avg_loss_krw",
        "entry_price",
        "exit_price",
    }
)


# --- formatting ---------------------------------------------------------------------------


def format_value(name: str, value: Any) -> str:
    """`value` of column/metric `name` for display — the one number format of every report
    and table the CLI prints: fractions as % (2 decimals), KRW with separators (no
    decimals), ratios (Sharpe, Sortino, Calmar, profit factor) with 3 decimals, NaN as —."""
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
        if base in _RATIO_METRICS:
            return f"{v:.3f}"
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
            line={"color": LOSS_COLOR, "width": 1.2},  # losses blue (Korean convention)
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


# --- names, HTML tables -------------------------------------------------------------------


def instrument_label(code: str) -> str:
    """`069500 KODEX 200`: the code with its Korean name when the ticker master knows it."""
    from contracts.instruments import instrument, is_known

    code = str(code)
    return f"{code} {instrument(code).name_ko}" if is_known(code) else code


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
               signed: Sequence[str] = ()) -> str:
    """`frame` as an HTML table: full column names, values through `format_value` (or a
    per-column callable in `formats`), gains/losses classed for colour (P&L-like columns by
    name, plus the `signed` ones)."""
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
    return (f'<table class="data"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _kv_table(items: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in items)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def _as_return(v: Any) -> str:
    return format_value("return", v)


def _date(v: Any) -> str:
    if v is None or v == "" or bool(pd.isna(v)):
        return ""
    return f"{pd.Timestamp(v):%Y-%m-%d}"


# --- backtest tables ----------------------------------------------------------------------


def trade_list_frame(result: BacktestResult) -> pd.DataFrame:
    """Closed trades (then positions still open at the end, marked at the close): ticker with
    its Korean name, entry/exit date and price, qty, P&L (KRW and %), holding days, reasons."""
    t = result.trades
    cols = ["ticker", "entry_date", "entry_price", "exit_date", "exit_price", "qty", "pnl",
            "return", "holding_days", "entry_reason", "exit_reason"]
    rows: list[dict[str, Any]] = []
    if t is not None and len(t):
        for r in t.to_dict(orient="records"):
            rows.append({c: r.get(c) for c in cols})
    op = result.open_positions
    if op is not None and len(op):
        for r in op.to_dict(orient="records"):
            entry = float(r.get("entry_price") or math.nan)
            last = r.get("last_close", r.get("close", math.nan))
            pnl = r.get("unrealized_pnl", math.nan)
            rows.append({
                "ticker": r.get("ticker"), "entry_date": r.get("entry_date"),
                "entry_price": entry, "exit_date": None, "exit_price": last,
                "qty": r.get("qty"), "pnl": pnl,
                "return": (float(last) / entry - 1.0) if entry and last == last else math.nan,
                "holding_days": r.get("holding_days"), "entry_reason": r.get("entry_reason", ""),
                "exit_reason": "OPEN (marked at the last close)",
            })
    frame = pd.DataFrame(rows, columns=cols)
    frame.insert(1, "name", [instrument_label(c).partition(" ")[2] for c in frame["ticker"]])
    return frame


def trade_stats(result: BacktestResult) -> dict[str, Any]:
    """Closed-trade statistics: count, win rate, profit factor (gross profit / gross loss),
    expectancy (mean P&L per trade, KRW and %), average win and loss, best and worst trade."""
    t = result.trades
    if t is None or not len(t):
        return {"n_trades": 0, "win_rate": math.nan, "profit_factor": math.nan,
                "expectancy_krw": math.nan, "expectancy_pct": math.nan, "avg_win_krw": math.nan,
                "avg_loss_krw": math.nan, "best_trade": "", "worst_trade": ""}
    pnl = t["pnl"].astype(float)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    gross_loss = -float(losses.sum())
    values = pnl.to_numpy()
    best, worst = t.iloc[int(np.argmax(values))], t.iloc[int(np.argmin(values))]

    def label(r: Any) -> str:
        return (f"{instrument_label(r['ticker'])} {_date(r['entry_date'])} → "
                f"{_date(r['exit_date'])}: {float(r['pnl']):+,.0f} KRW "
                f"({float(r['return']) * 100:+.2f}%)")

    return {
        "n_trades": len(t),
        "win_rate": float((pnl > 0).mean()),
        "profit_factor": float(wins.sum()) / gross_loss if gross_loss > 0 else math.inf,
        "expectancy_krw": float(pnl.mean()),
        "expectancy_pct": float(t["return"].astype(float).mean()),
        "avg_win_krw": float(wins.mean()) if len(wins) else math.nan,
        "avg_loss_krw": float(losses.mean()) if len(losses) else math.nan,
        "best_trade": label(best),
        "worst_trade": label(worst),
    }


def monthly_returns_frame(equity: pd.Series) -> pd.DataFrame:
    """Compounded return per calendar month (rows: years, columns: Jan..Dec) and per year
    (column ``total``).
    A month's return is its last equity over the previous month's last (the first month over
    the first equity value)."""
    if equity is None or not len(equity):
        return pd.DataFrame()
    idx = pd.DatetimeIndex(equity.index)
    month_end = equity.groupby([idx.year, idx.month]).last()
    prev = month_end.shift(1)
    prev.iloc[0] = float(equity.iloc[0])
    ret = month_end / prev - 1.0
    table = ret.unstack(level=1).reindex(columns=range(1, 13))
    table.index.name = "year"
    year_end = equity.groupby(idx.year).last()
    yprev = year_end.shift(1)
    yprev.iloc[0] = float(equity.iloc[0])
    table.columns = [calendar.month_abbr[int(m)] for m in table.columns]
    table["total"] = (year_end / yprev - 1.0).to_numpy()
    return table


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
    fig.update_layout(title=title, height=140 + 40 * len(table),
                      yaxis={"type": "category", "autorange": "reversed"},
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


def worst_drawdowns_frame(equity: pd.Series, n: int = 5) -> pd.DataFrame:
    """The `n` deepest drawdown periods: peak, trough and recovery dates (recovery = first
    session back at the peak; empty while not recovered), depth and lengths in sessions."""
    cols = ["rank", "peak", "trough", "recovery", "depth", "sessions_to_trough",
            "sessions_to_recover"]
    if equity is None or len(equity) < 2:
        return pd.DataFrame(columns=cols)
    v = equity.to_numpy(dtype=float)
    dates = pd.DatetimeIndex(equity.index)
    peak_val = np.maximum.accumulate(v)
    under = v < peak_val
    periods: list[dict[str, Any]] = []
    i = 0
    while i < len(v):
        if not under[i]:
            i += 1
            continue
        start = i - 1  # the peak session
        j = i
        while j < len(v) and under[j]:
            j += 1
        seg = v[i:j]
        k = i + int(np.argmin(seg))
        recovered = j < len(v)
        periods.append({
            "peak": dates[start], "trough": dates[k],
            "recovery": dates[j] if recovered else None,
            "depth": v[k] / v[start] - 1.0,
            "sessions_to_trough": k - start,
            "sessions_to_recover": (j - k) if recovered else None,
        })
        i = j
    periods.sort(key=lambda p: p["depth"])
    frame = pd.DataFrame(periods[:n], columns=cols[1:])
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame


def per_ticker_frame(result: BacktestResult) -> pd.DataFrame:
    """Per traded ticker: trades, win rate, total and average P&L, best and worst trade
    return, average holding days (closed trades)."""
    cols = ["ticker", "name", "trades", "win_rate", "total_pnl", "avg_return", "best_return",
            "worst_return", "avg_holding_days"]
    t = result.trades
    if t is None or not len(t):
        return pd.DataFrame(columns=cols)
    rows = []
    for code, g in t.groupby(t["ticker"].astype(str), sort=False):
        pnl = g["pnl"].astype(float)
        ret = g["return"].astype(float)
        rows.append({
            "ticker": code, "name": instrument_label(code).partition(" ")[2],
            "trades": len(g), "win_rate": float((pnl > 0).mean()),
            "total_pnl": float(pnl.sum()), "avg_return": float(ret.mean()),
            "best_return": float(ret.max()), "worst_return": float(ret.min()),
            "avg_holding_days": float(g["holding_days"].astype(float).mean()),
        })
    return pd.DataFrame(rows, columns=cols).sort_values("total_pnl", ascending=False)


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


def config_items(result: BacktestResult) -> list[tuple[str, str]]:
    """The run configuration: data window, universe (with names), benchmark, every strategy
    parameter, costs and guardrails — enough to re-run the report."""
    from strategy.rules import sell_tax_rate

    meta = result.meta if isinstance(result.meta, dict) else {}
    params = dict(result.params)
    guard = params.pop("guardrails", {}) or {}
    universe = params.pop("universe", meta.get("universe", []))
    bench = params.pop("benchmark", meta.get("benchmark", ""))
    years = sorted({d.year for d in pd.DatetimeIndex(result.equity.index)}) if len(
        result.equity) else []
    taxes = ", ".join(f"{y}: {sell_tax_rate(y, True) * 100:.2f}%" for y in years)
    items = [
        ("data window", f"{meta.get('start', '')} → {meta.get('end', '')} "
                        f"({meta.get('sessions', '')} sessions, "
                        f"{meta.get('warmup_sessions', '')} warm-up sessions before)"),
        ("universe", ", ".join(instrument_label(c) for c in universe)),
        ("benchmark", instrument_label(bench)),
        ("costs", f"commission {params.get('commission', math.nan) * 100:.3f}% per side, "
                  f"slippage {params.get('slippage', math.nan) * 100:.3f}%, "
                  f"stock sell tax by fill year ({taxes}; ETFs exempt)"),
    ]
    for k in ("commission", "slippage"):
        params.pop(k, None)
    items += [(k, format_value(k, v) if isinstance(v, float) else str(v))
              for k, v in params.items()]
    items += [(f"guardrails.{k}", format_value(k, v)) for k, v in guard.items()]
    notes = [*meta.get("warmup_notes", []), *meta.get("data_notes", [])]
    if notes:
        items.append(("notes", "; ".join(str(n) for n in notes)))
    return items


def trade_stats_items(result: BacktestResult) -> list[tuple[str, str]]:
    st = trade_stats(result)
    pf = st["profit_factor"]
    return [
        ("closed trades", str(st["n_trades"])),
        ("win rate", format_value("win_rate", st["win_rate"])),
        ("profit factor", "∞ (no losing trade)" if pf == math.inf else format_value("pf", pf)),
        ("expectancy", f"{format_value('pnl', st['expectancy_krw'])} KRW "
                       f"({format_value('return', st['expectancy_pct'])}) per trade"),
        ("average win", f"{format_value('pnl', st['avg_win_krw'])} KRW"),
        ("average loss", f"{format_value('pnl', st['avg_loss_krw'])} KRW"),
        ("best trade", st["best_trade"] or "—"),
        ("worst trade", st["worst_trade"] or "—"),
    ]


def backtest_sections(result: BacktestResult) -> list[Section | go.Figure]:
    """The HTML tables of the backtest report and the figures between them, in page order."""
    tl = trade_list_frame(result)
    dates = {"entry_date": _date, "exit_date": _date}
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
        Section(TITLE_WORST_DD, html_table(dd, formats={"peak": _date, "trough": _date,
                                                        "recovery": _date}),
                note="recovery: first session back at the peak (empty: not recovered)"),
        exposure_figure(result),
        Section(TITLE_PER_TICKER, html_table(per_ticker_frame(result))),
        Section(TITLE_TRADE_LIST, html_table(tl, formats=dates),
                note=f"{len(result.trades)} closed trade(s); P&L after costs"),
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


def walkforward_is_oos_figure(wf: WalkForwardResult) -> go.Figure:
    """Per window, the in-sample objective of the chosen parameters beside its
    out-of-sample value; an undefined value is marked on the axis and named in the hover."""
    obj = wf.objective
    w = wf.windows
    labels = [f"#{int(i)} {_date(t)}" for i, t in zip(w["window"], w["test_start"], strict=True)]
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
    fig.update_layout(title=f"{TITLE_WF_PARAMS} (at each test-window start)",
                      yaxis_title="chosen value", height=320,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


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
td.gain { color: #d62728; } td.loss { color: #1f5fbf; }
section { overflow-x: auto; }
"""

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


def grid_edge_warnings(sweep: pd.DataFrame, grid: Mapping[str, Sequence[Any]] | None = None,
                       objective: str | None = None) -> list[str]:
    """For each swept parameter with 3+ values whose best value sits on the first or last
    grid value: a warning that the optimum may lie outside the grid."""
    from strategy.backtest.sweep import grid_edge_warnings as edges

    return edges(sweep, grid, objective)


def buy_and_hold_items(sweep: pd.DataFrame, objective: str) -> list[tuple[str, str]]:
    bh = sweep.attrs.get("buy_and_hold") or {}
    if not bh or not len(sweep):
        return [("buy and hold", "not available for this sweep")]
    best = sweep.iloc[0]
    keys = [objective] + [k for k in ("total_return", "cagr", "mdd", "sharpe")
                          if k != objective]
    items = [("benchmark", instrument_label(str(bh.get("ticker", ""))))]
    for k in keys:
        if k in bh:
            items.append((k, f"buy & hold {format_value(k, bh[k])} · best combination "
                             f"{format_value(k, best.get(k))}"))
    n_beat = int((sweep[objective] > bh.get(objective, math.inf)).sum()) \
        if objective in bh else 0
    items.append(("combinations beating buy & hold", f"{n_beat} of {len(sweep)} on {objective}"))
    return items


def execution_items(sweep: pd.DataFrame) -> list[tuple[str, str]]:
    a = sweep.attrs
    secs = a.get("elapsed_s")
    return [
        ("window", f"{a.get('start', '')} → {a.get('end', '')}"),
        ("combinations", f"{len(sweep)} run, {a.get('n_skipped', 0)} skipped by cross-field "
                         f"rules, {a.get('n_groups', '')} indicator group(s)"),
        ("execution", str(a.get("execution", "unknown"))
         + (f", {secs:.1f} s" if isinstance(secs, float) else "")),
    ]


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
        Section(TITLE_WF_WINDOWS, html_table(table, formats={
            c: _date for c in ("train_start", "train_end", "test_start", "test_end")}),
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
