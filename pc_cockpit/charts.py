"""Chart builders of the cockpit, apart from the pages.

The backtest figures are the ones of `strategy/backtest/figures.py` (no second copy): the PC
backend's typed answer (`contracts.research.BacktestResponse`, the one JSON form of a backtest)
is read into a `RemoteBacktest` carrying the attributes those builders use (equity, benchmark,
regime, chop, fills, per_year, metrics, meta).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import plotly.graph_objects as go

from contracts.research import (
    BacktestResponse,
    BacktestSeries,
    SweepResponse,
    WalkForwardResponse,
)
from krx_common.defaults import GAIN_COLOR, LOSS_COLOR
from pc_cockpit.i18n import TEXT, t
from strategy.backtest import figures, frames, report

if TYPE_CHECKING:
    from strategy.backtest.engine import BacktestResult
    from strategy.backtest.walkforward import WalkForwardResult

# --- the backend's typed answers as series and frames ---------------------------------------

# The fill table of `strategy.backtest.serialize` (what `figures.trades_figure` reads).
FILL_COLUMNS = ["date", "ticker", "side", "qty", "price", "notional", "commission", "tax",
                "slippage_cost", "reason"]


def _series(dates: Sequence[date], values: Sequence[Any], name: str) -> pd.Series:
    return pd.Series(list(values), index=pd.DatetimeIndex(pd.to_datetime(list(dates))),
                     name=name)


def _frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None
           ) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(columns) if columns is not None else None)


@dataclass
class RemoteSeries:
    """The per-session series of a run (`contracts.research.BacktestSeries`) as pandas
    series: what the equity figure reads."""

    equity: pd.Series
    benchmark: pd.Series
    regime: pd.Series
    chop: pd.Series | None  # None when the run has no chop session at all (no strip drawn)

    @classmethod
    def from_model(cls, series: BacktestSeries) -> RemoteSeries:
        chop = _series(series.chop.dates, series.chop.values, "chop")
        return cls(
            equity=_series(series.equity.dates, series.equity.values, "equity").astype(float),
            benchmark=_series(series.benchmark.dates, series.benchmark.values,
                              "benchmark").astype(float),
            regime=_series(series.regime.dates, series.regime.values, "regime").astype(str),
            chop=chop if len(chop) else None,
        )


@dataclass
class RemoteBacktest:
    """A backtest answered by the PC backend (`contracts.research.BacktestResponse`), shaped
    like `strategy.backtest.BacktestResult` for the figure builders of
    `strategy/backtest/figures.py`."""

    metrics: dict[str, float]
    equity: pd.Series
    benchmark: pd.Series
    regime: pd.Series
    chop: pd.Series | None  # None when the run has no chop session at all (no strip drawn)
    fills: pd.DataFrame
    trades: pd.DataFrame
    per_year: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    open_positions: pd.DataFrame = field(default_factory=pd.DataFrame)

    @classmethod
    def from_model(cls, answer: BacktestResponse) -> RemoteBacktest:
        s = RemoteSeries.from_model(answer.series)
        fills = _frame(answer.fills, None if answer.fills else FILL_COLUMNS)
        fills["date"] = pd.to_datetime(fills["date"])
        return cls(
            metrics={k: (float(v) if v is not None else float("nan"))
                     for k, v in answer.metrics.items()},
            equity=s.equity, benchmark=s.benchmark, regime=s.regime, chop=s.chop,
            fills=fills,
            trades=_frame(answer.trades),
            open_positions=_frame(answer.open_positions),
            per_year=_frame(answer.per_year),
            meta={**answer.meta, "benchmark_metrics": answer.benchmark_metrics},
            params=dict(answer.params),
        )

    @property
    def start(self) -> str:
        return f"{self.equity.index[0]:%Y-%m-%d}" if len(self.equity) else ""

    @property
    def end(self) -> str:
        return f"{self.equity.index[-1]:%Y-%m-%d}" if len(self.equity) else ""


# --- figures --------------------------------------------------------------------------------


def overview_figure(series: RemoteSeries, *, title: str,
                    names: Mapping[str, str]) -> go.Figure:
    """The report's equity figure (strategy equity and buy-and-hold of the benchmark from the
    same capital, on the regime bands and the chop strip), its legend entries renamed by
    `names` (keys: the report's trace names, e.g. "strategy", "regime BEAR")."""
    fig = figures.equity_figure(cast("BacktestResult", series), title=title)
    for trace in fig.data:
        trace.name = names.get(str(trace.name), trace.name)
    fig.update_layout(height=400, showlegend=True,
                      legend={"orientation": "h", "y": -0.15, "x": 0})
    return fig


def whatif_figure(edited: RemoteBacktest, current: RemoteBacktest, *, title: str,
                  edited_name: str, current_name: str) -> go.Figure:
    """Both equity curves overlaid on the edited run's benchmark and regime bands (the
    report's equity figure with the current run's curve added)."""
    fig = localized(figures.equity_figure(_as_result(edited), title=title))
    fig.data[0].name = edited_name
    fig.add_trace(go.Scatter(x=current.equity.index, y=current.equity.to_numpy(),
                             name=current_name,
                             line={"color": "#e67e22", "width": 2, "dash": "dash"}))
    return fig


def metrics_side_by_side(current: RemoteBacktest, edited: RemoteBacktest,
                         labels: Sequence[str]) -> pd.DataFrame:
    """Metric, current, edited and the change, formatted like the reports."""
    names = [k for k in edited.metrics if k in current.metrics] or list(edited.metrics)
    rows = []
    for k in names:
        a, b = current.metrics.get(k), edited.metrics.get(k)
        delta = (b - a) if a is not None and b is not None else None
        words = t(f"metric.{k}") if f"metric.{k}" in TEXT else k
        rows.append({labels[0]: f"{words} ({k})" if words != k else k, "_key": k,
                     labels[1]: frames.format_value(k, a),
                     labels[2]: frames.format_value(k, b),
                     "Δ": frames.format_value(k, delta) if delta is not None else "",
                     "_delta": delta})
    return pd.DataFrame(rows)


def metric_color(name: str, delta: float | None) -> str:
    """Red when the change is good for the operator, blue when bad (drawdown and volatility
    are better lower)."""
    if delta is None or delta == 0 or pd.isna(delta):
        return ""
    better_low = name in ("mdd_duration", "volatility", "total_costs", "total_commission",
                          "total_tax", "total_slippage")
    # mdd is negative: a larger (less negative) value is better, like a return.
    good = (delta < 0) if better_low else (delta > 0)
    return f"color: {GAIN_COLOR if good else LOSS_COLOR}"


def sweep_frame(answer: SweepResponse) -> pd.DataFrame:
    """The sweep table of the backend's answer, its columns in the engine's order."""
    return _frame(answer.rows, answer.columns)


def sweep_heatmap(frame: pd.DataFrame, x: str, y: str, objective: str) -> go.Figure:
    return figures.sweep_heatmap_figure(frame, x, y, objective)


# --- the report's backtest figures on a RemoteBacktest --------------------------------------
# The report's builders read only the attributes RemoteBacktest has; `cast` says so to mypy.


def _as_result(result: RemoteBacktest) -> BacktestResult:
    return cast("BacktestResult", result)


def equity_figure(result: RemoteBacktest) -> go.Figure:
    return localized(figures.equity_figure(_as_result(result)))


def drawdown_figure(result: RemoteBacktest) -> go.Figure:
    return localized(figures.drawdown_figure(_as_result(result)))


def trades_figure(result: RemoteBacktest) -> go.Figure:
    return localized(figures.trades_figure(_as_result(result)))


# The report's figure labels (strategy.backtest.figures) → catalogue keys; a trace named
# "<ticker> close|buy|sell" keeps its ticker.
_FIGURE_LABELS = {
    "strategy": "chart.strategy", "benchmark (buy & hold)": "chart.benchmark",
    "regime BULL": "chart.regime_bull", "regime BEAR": "chart.regime_bear",
    "regime UNKNOWN": "chart.regime_unknown", "CHOP (top strip)": "chart.chop_strip",
    "equity (KRW)": "chart.axis_equity", "price (KRW)": "chart.axis_price",
    figures.TITLE_EQUITY: "chart.title_equity", figures.TITLE_DRAWDOWN: "chart.title_drawdown",
    figures.TITLE_TRADES: "chart.title_trades", "no fills": "chart.no_fills",
}
_SUFFIXES = {" close": "chart.close", " buy": "action.BUY", " sell": "action.SELL"}


def figure_label(label: str, lang: str | None = None) -> str:
    """A label of the report's figures in the session's language (unknown labels unchanged)."""
    key = _FIGURE_LABELS.get(label)
    if key is not None:
        return t(key, lang)
    head, sep, rest = label.partition(": ")
    if sep and head in _FIGURE_LABELS:  # "Trades: 069500 KODEX 200"
        return f"{t(_FIGURE_LABELS[head], lang)}: {figure_label(rest, lang)}"
    for suffix, skey in _SUFFIXES.items():
        if label.endswith(suffix):
            return f"{label[: -len(suffix)]} {t(skey, lang)}"
    return label


def localized(fig: go.Figure, lang: str | None = None) -> go.Figure:
    """`fig` (a report figure) with its trace names, title, axis titles and menu titles in the
    session's language: the report stays English, the cockpit follows the operator."""
    for trace in fig.data:
        if getattr(trace, "name", None):
            trace.name = figure_label(trace.name, lang)
    title = fig.layout.title.text if fig.layout.title else None
    if title:
        fig.update_layout(title_text=figure_label(title, lang))
    for axis in ("xaxis", "yaxis"):
        ax = getattr(fig.layout, axis, None)
        if ax is not None and ax.title is not None and ax.title.text:
            ax.title.text = figure_label(ax.title.text, lang)
    for menu in fig.layout.updatemenus or ():
        for button in menu.buttons or ():
            for arg in button.args or ():
                if isinstance(arg, dict) and isinstance(arg.get("title"), str):
                    arg["title"] = figure_label(arg["title"], lang)
    return fig


def per_year_frame(result: RemoteBacktest) -> pd.DataFrame:
    return frames.per_year_frame(_as_result(result))


def report_html(result: RemoteBacktest, title: str = "Backtest report") -> str:
    """The offline HTML report of the run (plotly.js inlined): the report's figures, then its
    trade list with the positions still open at the end, as `krx backtest` lists them."""
    r = _as_result(result)
    return report.report_html([*figures.backtest_figures(r), report.trade_list_section(r)],
                              title, f"{result.start} → {result.end}")


def session_window(start: date, end: date) -> tuple[date, date]:
    """[start, end] moved onto XKRX sessions (start forward, end back): a backtest window
    must begin and end on sessions."""
    from strategy import calendar

    s = start if calendar.is_session(start) else calendar.next_session(start)
    e = end if calendar.is_session(end) else calendar.previous_session(end)
    return s, e


@dataclass
class RemoteWalkForward:
    """A walk-forward answered by the PC backend (`contracts.research.WalkForwardResponse`),
    shaped for `figures.walkforward_equity_figure`."""

    objective: str
    is_mean: float | None
    oos_mean: float | None
    gap: float | None
    n_compared: int
    windows: pd.DataFrame
    oos_equity: pd.Series
    oos_metrics: dict[str, Any]
    oos_benchmark: pd.Series | None = None

    @classmethod
    def from_model(cls, answer: WalkForwardResponse) -> RemoteWalkForward:
        return cls(
            objective=answer.objective, is_mean=answer.is_mean, oos_mean=answer.oos_mean,
            gap=answer.gap, n_compared=answer.n_compared, windows=_frame(answer.windows),
            oos_equity=_series([date.fromisoformat(d) for d in answer.oos_equity],
                               list(answer.oos_equity.values()), "oos_equity").astype(float),
            oos_metrics=dict(answer.oos_metrics),
        )


def walkforward_figure(wf: RemoteWalkForward) -> go.Figure:
    """The report's stitched out-of-sample equity figure."""
    return figures.walkforward_equity_figure(cast("WalkForwardResult", wf))
