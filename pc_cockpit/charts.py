"""Chart builders of the cockpit, apart from the pages.

The backtest figures are the ones of `strategy/backtest/figures.py` (no second copy): the PC
backend's JSON answer is read back into a `RemoteBacktest` carrying the attributes those
builders use (equity, benchmark, regime, chop, fills, per_year, metrics, meta).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import plotly.graph_objects as go

from pc_cockpit.fmt import GAIN_COLOR, LOSS_COLOR
from strategy.backtest import figures, frames, report

if TYPE_CHECKING:
    from strategy.backtest.engine import BacktestResult
    from strategy.backtest.walkforward import WalkForwardResult

# --- reading the backend's JSON back into series and frames ---------------------------------

# The fill table of `strategy.backtest.serialize` (what `figures.trades_figure` reads).
FILL_COLUMNS = ["date", "ticker", "side", "qty", "price", "notional", "commission", "tax",
                "slippage_cost", "reason"]


def to_series(data: Any, name: str = "") -> pd.Series:
    """A date-indexed series from the shapes a JSON API uses for one: `{date: value}`,
    `[[date, value], ...]`, `[{"date": d, "value": v}, ...]`, or `{"dates"|"index": [...],
    "values"|"data": [...]}`. Empty when `data` is None."""
    if data is None:
        return pd.Series(dtype=float, name=name)
    if isinstance(data, pd.Series):
        return data
    if isinstance(data, Mapping):
        keys = set(data)
        idx_key = next((k for k in ("dates", "index", "date", "x") if k in keys), None)
        val_key = next((k for k in ("values", "data", "value", "y") if k in keys), None)
        if idx_key and val_key:
            return pd.Series(list(data[val_key]), index=pd.to_datetime(list(data[idx_key])),
                             name=name)
        return pd.Series(list(data.values()), index=pd.to_datetime(list(data.keys())), name=name)
    rows = list(data)
    if not rows:
        return pd.Series(dtype=float, name=name)
    if isinstance(rows[0], Mapping):
        frame = pd.DataFrame(rows)
        date_col = "date" if "date" in frame.columns else frame.columns[0]
        value_col = next((c for c in (name, "value") if c and c in frame.columns),
                         [c for c in frame.columns if c != date_col][0])
        return pd.Series(frame[value_col].to_list(), index=pd.to_datetime(frame[date_col]),
                         name=name)
    return pd.Series([r[1] for r in rows], index=pd.to_datetime([r[0] for r in rows]), name=name)


def to_frame(data: Any) -> pd.DataFrame:
    """A frame from records (`[{...}]`), pandas' split orient (`{"columns", "data"}`) or
    columns (`{col: [...]}`); empty when `data` is None."""
    if data is None:
        return pd.DataFrame()
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        if "columns" in data and "data" in data:
            return pd.DataFrame(data["data"], columns=data["columns"])
        return pd.DataFrame(dict(data))
    return pd.DataFrame(list(data))


def _series_table(payload: Mapping[str, Any]) -> pd.DataFrame | None:
    """The per-session table when the answer holds one (`series` / `daily` records)."""
    for key in ("series", "daily", "curves"):
        value = payload.get(key)
        if isinstance(value, list) and value and isinstance(value[0], Mapping):
            frame = pd.DataFrame(value)
            frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("date")))
            return frame
        if isinstance(value, Mapping) and ("dates" in value or "date" in value):
            frame = pd.DataFrame({k: v for k, v in value.items() if k not in ("dates", "date")})
            frame.index = pd.DatetimeIndex(pd.to_datetime(list(value.get("dates",
                                                                         value.get("date")))))
            return frame
    return None


@dataclass
class RemoteBacktest:
    """A backtest answered by the PC backend, shaped like `strategy.backtest.BacktestResult`
    for the figure builders of `strategy/backtest/figures.py`."""

    metrics: dict[str, float]
    equity: pd.Series
    benchmark: pd.Series
    regime: pd.Series
    chop: pd.Series | None  # None when the answer has no chop series (no strip drawn)
    fills: pd.DataFrame
    trades: pd.DataFrame
    per_year: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> RemoteBacktest:
        """Read the PC backend's `POST /backtest` answer (`series: {name: {dates, values}}`
        with equity/benchmark/regime/chop, `fills`, `trades`, `per_year`, `metrics`, ...);
        other common series shapes are accepted."""
        table = _series_table(payload)
        raw = payload.get("series")
        named: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}

        def pick(name: str, *alts: str) -> pd.Series:
            for key in (name, *alts):
                if table is not None and key in table.columns:
                    return table[key].rename(name)
                if key in named:
                    return to_series(named[key], name)
                if key in payload and not isinstance(payload[key], int | float | str):
                    return to_series(payload[key], name)
            return pd.Series(dtype=float, name=name)

        meta = dict(payload.get("meta") or {})
        if "benchmark_metrics" in payload and "benchmark_metrics" not in meta:
            meta["benchmark_metrics"] = payload["benchmark_metrics"]
        fills = to_frame(payload.get("fills"))
        if fills.empty:  # no fills: the columns the trades figure reads, no rows
            fills = pd.DataFrame(columns=FILL_COLUMNS)
        fills["date"] = pd.to_datetime(fills["date"])
        return cls(
            metrics={k: (float(v) if v is not None else float("nan"))
                     for k, v in dict(payload.get("metrics") or {}).items()},
            equity=pick("equity").astype(float),
            benchmark=pick("benchmark").astype(float),
            regime=pick("regime").astype(str),
            chop=chop if len(chop := pick("chop")) else None,
            fills=fills,
            trades=to_frame(payload.get("trades")),
            per_year=to_frame(payload.get("per_year")),
            meta=meta,
            params=dict(payload.get("params") or {}),
        )

    @property
    def start(self) -> str:
        return f"{self.equity.index[0]:%Y-%m-%d}" if len(self.equity) else ""

    @property
    def end(self) -> str:
        return f"{self.equity.index[-1]:%Y-%m-%d}" if len(self.equity) else ""


# --- figures --------------------------------------------------------------------------------


def benchmark_regime_figure(result: RemoteBacktest, *, title: str,
                            benchmark_name: str = "benchmark") -> go.Figure:
    """The benchmark (indexed) over the window on the regime bands and the chop strip of
    `figures.regime_shapes` (the same colours as every backtest report)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=result.benchmark.index, y=result.benchmark.to_numpy(),
                             name=benchmark_name, line={"color": "#333333", "width": 1.8}))
    if len(result.regime):
        fig.update_layout(shapes=figures.regime_shapes(result.regime, result.chop))
    fig.update_layout(title=title, height=320, hovermode="x unified",
                      margin={"l": 50, "r": 20, "t": 50, "b": 30}, showlegend=False)
    return fig


def whatif_figure(edited: RemoteBacktest, current: RemoteBacktest, *, title: str,
                  edited_name: str, current_name: str) -> go.Figure:
    """Both equity curves overlaid on the edited run's benchmark and regime bands (the
    report's equity figure with the current run's curve added)."""
    fig = figures.equity_figure(_as_result(edited), title=title)
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
        rows.append({labels[0]: k, labels[1]: frames.format_value(k, a),
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


def sweep_frame(payload: Mapping[str, Any] | Sequence[Any]) -> pd.DataFrame:
    """The sweep table of the backend's answer (`rows`/`results`/`table`, or the list)."""
    if isinstance(payload, Mapping):
        for key in ("rows", "results", "table", "sweep"):
            if key in payload:
                return to_frame(payload[key])
        return to_frame(payload)
    return to_frame(payload)


def sweep_heatmap(frame: pd.DataFrame, x: str, y: str, objective: str) -> go.Figure:
    return figures.sweep_heatmap_figure(frame, x, y, objective)


# --- the report's backtest figures on a RemoteBacktest --------------------------------------
# The report's builders read only the attributes RemoteBacktest has; `cast` says so to mypy.


def _as_result(result: RemoteBacktest) -> BacktestResult:
    return cast("BacktestResult", result)


def equity_figure(result: RemoteBacktest) -> go.Figure:
    return figures.equity_figure(_as_result(result))


def drawdown_figure(result: RemoteBacktest) -> go.Figure:
    return figures.drawdown_figure(_as_result(result))


def trades_figure(result: RemoteBacktest) -> go.Figure:
    return figures.trades_figure(_as_result(result))


def per_year_frame(result: RemoteBacktest) -> pd.DataFrame:
    return frames.per_year_frame(_as_result(result))


def report_html(result: RemoteBacktest, title: str = "Backtest report") -> str:
    """The offline HTML report of the run (plotly.js inlined), as `krx backtest --report`."""
    return report.figures_html(figures.backtest_figures(_as_result(result)), title,
                               f"{result.start} → {result.end}")


def session_window(start: date, end: date) -> tuple[date, date]:
    """[start, end] moved onto XKRX sessions (start forward, end back): a backtest window
    must begin and end on sessions."""
    from strategy import calendar

    s = start if calendar.is_session(start) else calendar.next_session(start)
    e = end if calendar.is_session(end) else calendar.previous_session(end)
    return s, e


@dataclass
class RemoteWalkForward:
    """A walk-forward answered by the PC backend (`WalkForwardResult.to_dict()`), shaped for
    `figures.walkforward_equity_figure`."""

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
    def from_json(cls, payload: Mapping[str, Any]) -> RemoteWalkForward:
        def num(key: str) -> float | None:
            v = payload.get(key)
            return None if v is None else float(v)

        return cls(
            objective=str(payload.get("objective", "sharpe")),
            is_mean=num("is_mean"), oos_mean=num("oos_mean"), gap=num("gap"),
            n_compared=int(payload.get("n_compared") or 0),
            windows=to_frame(payload.get("windows")),
            oos_equity=to_series(payload.get("oos_equity"), "oos_equity").astype(float),
            oos_metrics=dict(payload.get("oos_metrics") or {}),
        )


def walkforward_figure(wf: RemoteWalkForward) -> go.Figure:
    """The report's stitched out-of-sample equity figure."""
    return figures.walkforward_equity_figure(cast("WalkForwardResult", wf))
