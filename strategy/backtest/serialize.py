"""A `BacktestResult` as JSON: the one serializer `krx backtest --json` and the PC backend's
`POST /api/v1/backtest` both call (NaN/inf → null, dates as YYYY-MM-DD, numpy scalars as
Python numbers).

`result_model` is the contract (`contracts.research.BacktestResponse`: metrics, tables, fills
and the per-session series as `{"dates", "values"}` lists), `result_json` the same as plain
JSON; `sweep_model` and `walkforward_model` are a sweep's and a walk-forward's contracts.
"""

from __future__ import annotations

import math
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from contracts.research import (
        BacktestResponse,
        BacktestSeries,
        SweepResponse,
        WalkForwardResponse,
    )
    from strategy.backtest.engine import BacktestResult
    from strategy.backtest.walkforward import WalkForwardResult

__all__ = ["plain", "records", "result_json", "result_model", "series_json", "series_model",
           "sweep_model", "walkforward_model"]


def plain(value: Any) -> Any:
    """`value` with non-finite floats as None, dates as ISO strings, numpy scalars unwrapped
    (recursively through dicts, lists and tuples)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return plain(value.item())
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of `frame` as plain dicts."""
    return [plain(r) for r in frame.to_dict(orient="records")]


def _day(d: Any) -> str:
    return d.date().isoformat() if hasattr(d, "date") and callable(d.date) else str(d)


def series_json(series: pd.Series) -> dict[str, list[Any]]:
    """`{"dates": [YYYY-MM-DD...], "values": [...]}` of a date-indexed series (NaN → null)."""
    return {"dates": [_day(d) for d in series.index],
            "values": [plain(v) for v in series.tolist()]}


def result_model(result: BacktestResult) -> BacktestResponse:
    """A backtest as its contract (`contracts.research.BacktestResponse`): metrics (strategy
    and buy-and-hold benchmark), per-year table, parameters, run notes, round-trip trades, open
    positions, fills (one row per executed order: date, ticker, side, qty, price, notional,
    costs, reason), order events, and the per-session series as `{"dates", "values"}`:
    equity, benchmark (buy-and-hold equity), regime (BULL/BEAR/UNKNOWN), chop (true/false,
    null while ADX is undefined) and exposure."""
    from contracts.research import BacktestResponse

    return BacktestResponse.model_validate({
        "metrics": plain(result.metrics),
        "benchmark_metrics": plain(result.meta["benchmark_metrics"]),
        "per_year": records(result.per_year),
        "params": plain(result.params),
        "meta": plain({k: v for k, v in result.meta.items() if k != "benchmark_metrics"}),
        "trades": records(result.trades),
        "open_positions": records(result.open_positions),
        "fills": records(result.fills),
        "order_events": records(result.order_events),
        "series": series_model(result),
    })


def series_model(result: BacktestResult) -> BacktestSeries:
    """The per-session series of a run (`contracts.research.BacktestSeries`): equity,
    benchmark (buy-and-hold equity), regime (BULL/BEAR/UNKNOWN), chop (true/false, null while
    ADX is undefined) and exposure. Reads no table that needs the compiled metrics."""
    from contracts.research import BacktestSeries

    return BacktestSeries.model_validate({
        "equity": series_json(result.equity),
        "benchmark": series_json(result.benchmark),
        "regime": {"dates": [_day(d) for d in result.regime.index],
                   "values": [str(v) for v in result.regime.tolist()]},
        "chop": series_json(result.chop),
        "exposure": series_json(result.exposure),
    })


def result_json(result: BacktestResult) -> dict[str, Any]:
    """`result_model` as plain JSON (what `krx backtest --json` writes)."""
    return result_model(result).model_dump(mode="json")


def sweep_model(table: pd.DataFrame, top: int | None = None) -> SweepResponse:
    """A ranked sweep table (`run_sweep`; its first `top` rows) and how it ran (its attrs) as
    the contract (`contracts.research.SweepResponse`)."""
    from contracts.research import SweepResponse

    rows = table if top is None else table.head(top)
    return SweepResponse.model_validate({
        "rows": records(rows), "columns": [str(c) for c in table.columns],
        "attrs": {k: plain(v) for k, v in table.attrs.items()}})


def walkforward_model(result: WalkForwardResult) -> WalkForwardResponse:
    """A walk-forward as the contract (`contracts.research.WalkForwardResponse`): what the PC
    backend answers and `krx walkforward --json` writes."""
    from contracts.research import WalkForwardResponse

    return WalkForwardResponse.model_validate(result.to_dict())
