"""Research answers: one backtest, a sweep, a walk-forward (PC `POST /api/v1/backtest`,
`/sweep`, `/walkforward`; `krx backtest --json` writes the same `BacktestResponse`,
`krx walkforward --json` the same `WalkForwardResponse`).

Numbers that are undefined (a Sharpe on a flat curve, a NaN in a table) are `null`. Table rows
(trades, fills, per-year, sweep rows, walk-forward windows) are records of plain JSON values
whose columns are the engine's (`strategy.backtest`), listed in each field's description.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field

from contracts.common import Contract

# A metric value: a float, a count, or null when undefined.
Metric = float | int | None
Record = dict[str, Any]


class NumberSeries(Contract):
    """A per-session series: `values[i]` is the value on `dates[i]` (null when undefined)."""

    dates: list[date]
    values: list[float | None]


class RegimeSeries(Contract):
    """The regime per session: BULL, BEAR or UNKNOWN (warm-up)."""

    dates: list[date]
    values: list[str]


class FlagSeries(Contract):
    """A true/false per session (null while undefined, e.g. chop before ADX exists)."""

    dates: list[date]
    values: list[bool | None]


class BacktestSeries(Contract):
    equity: NumberSeries = Field(description="the strategy's equity (KRW) after each session")
    benchmark: NumberSeries = Field(description="buy-and-hold of the benchmark from the same "
                                                "capital")
    regime: RegimeSeries
    chop: FlagSeries = Field(description="ADX below the chop threshold (no new entries)")
    exposure: NumberSeries = Field(description="invested share of equity (0..1)")


class BacktestResponse(Contract):
    """One backtest run (`strategy.backtest.serialize.result_json`)."""

    metrics: dict[str, Metric] = Field(description="the strategy's metrics (total_return, "
                                                   "cagr, mdd, sharpe, n_trades, ...)")
    benchmark_metrics: dict[str, Metric] = Field(description="the same metrics of the "
                                                             "buy-and-hold benchmark")
    per_year: list[Record] = Field(description="rows: year, return, mdd, ...")
    params: dict[str, Any] = Field(description="the StrategyParams the run used")
    meta: dict[str, Any] = Field(description="run notes: start, end, sessions, warm-up, "
                                             "universe, benchmark, data notes, ...")
    trades: list[Record] = Field(description="round trips: ticker, entry/exit date and price, "
                                             "qty, reasons, return, ...")
    open_positions: list[Record] = Field(description="positions still held at the end")
    fills: list[Record] = Field(description="one row per executed order: date, ticker, side, "
                                            "qty, price, notional, commission, tax, "
                                            "slippage_cost, reason")
    order_events: list[Record] = Field(description="orders not filled as planned and why")
    series: BacktestSeries


class BuyAndHold(Contract):
    """The benchmark bought at the first close and held (what a sweep should beat)."""

    ticker: str
    total_return: float | None = None
    cagr: float | None = None
    mdd: float | None = None
    sharpe: float | None = None
    sortino: float | None = None
    calmar: float | None = None
    volatility: float | None = None


class SweepFacts(Contract):
    """How a sweep ran (`run_sweep`'s table attributes)."""

    objective: str
    n_combinations: int
    n_skipped: int
    skipped: list[str] = Field(description="the first skipped combinations and why")
    n_groups: int = Field(description="indicator groups the combinations shared")
    start: str
    end: str
    execution: str
    elapsed_s: float | None = None
    kernel_s: float | None = None
    kernel_cpu_s: float | None = None
    grid: dict[str, list[Any]]
    buy_and_hold: BuyAndHold | None = None


class SweepResponse(Contract):
    """The ranked sweep table (the top `top` rows) and how it ran."""

    rows: list[Record] = Field(description="rank, combo_id, the swept parameters, then the "
                                           "metric columns")
    columns: list[str]
    attrs: SweepFacts


class WalkForwardResponse(Contract):
    """Walk-forward validation (`WalkForwardResult.to_dict()`): per-window choices, in-sample
    vs out-of-sample, the stitched out-of-sample equity."""

    objective: str
    train_months: int
    test_months: int
    step_months: int
    grid: dict[str, list[Any]]
    is_mean: float | None = None
    oos_mean: float | None = None
    gap: float | None = Field(default=None, description="mean in-sample minus mean "
                                                        "out-of-sample objective")
    n_compared: int
    oos_metrics: dict[str, Metric]
    windows: list[Record] = Field(description="window, train/test start and end, the chosen "
                                              "parameters, is_<objective>, oos_<objective>, ...")
    oos_equity: dict[str, float | None] = Field(description="stitched out-of-sample equity "
                                                            "by date (YYYY-MM-DD)")

