"""Backtest and sweep on the PC, in-process through `strategy.backtest` (never over HTTP).

The base settings are the working copy when something was pulled (what the operator is
editing), else the defaults; `params` overrides StrategyParams fields. Bars come from the
PC's market-data spec (`KRX_PC_DATA`: csv:DIR | demo | auto).

Bounded so one request cannot hold the backend: a grid has at most `MAX_GRID_VALUES` values
per parameter and `MAX_GRID_COMBINATIONS` combinations (else 422 naming `grid`), bars are
loaded up to today at the latest (a far-future `end` costs nothing), and the routers run these
functions on their own capacity limiter (`RESEARCH_SLOTS`), never on the request threadpool.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from pydantic import ValidationError

from contracts.common import now_kst
from contracts.pc import BacktestRequest, SweepRequest, WalkForwardRequest
from contracts.settings import Settings
from pc_backend.errors import PcApiError
from pc_backend.workspace import Workspace
from strategy.backtest.serialize import plain

# A sweep or walk-forward the PC runs in one request: bounded so that it ends in seconds to a
# minute on one core (1,000 combinations over the sample years take ~0.3 s of kernel time).
# Worst case measured: 19,008 combinations in 19,008 indicator groups, ~32 s on a busy core.
# A walk-forward sweeps the grid once per window (~6 over the sample years): a lower bound.
MAX_GRID_COMBINATIONS = 20_000
MAX_WALKFORWARD_COMBINATIONS = 5_000
MAX_GRID_VALUES = 1_000
# Research requests running at once (the rest wait without holding a thread); more than
# `RESEARCH_QUEUE` waiting are refused with 429 RESEARCH_BUSY.
RESEARCH_SLOTS = 1
RESEARCH_QUEUE = 4


def _invalid(field: str, message: str) -> PcApiError:
    return PcApiError(422, "VALIDATION_ERROR", f"{field}: {message}", field=field)


def _input_field(message: str) -> str:
    """The request field a `BacktestInputError` is about (its message names it first)."""
    if message.startswith("end "):
        return "end"
    if message.startswith("start "):
        return "start"
    if "universe" in message or "ticker" in message or "bars loaded" in message:
        return "universe"
    return "start"


def base_settings(workspace: Workspace) -> Settings:
    if workspace.has_snapshot():
        return workspace.working("settings")  # type: ignore[return-value]
    return Settings()


def settings_for(base: Settings, params: dict[str, Any], universe: list[str] | None) -> Settings:
    """`base` with `params` (StrategyParams fields) and `universe`; 422 naming the field."""
    doc = base.model_dump(mode="json")
    unknown = sorted(set(params) - set(doc["strategy"]))
    if unknown:
        raise _invalid(f"params.{unknown[0]}", "not a strategy parameter")
    doc["strategy"].update(params)
    if universe is not None:
        doc["universe"] = universe
    try:
        return Settings.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        if loc[:1] == ["strategy"]:
            loc[0] = "params"
        return_field = ".".join(loc) or "params"
        raise _invalid(return_field, str(err["msg"])) from None


def _window(start: date, end: date) -> None:
    if end < start:
        raise _invalid("end", f"{end} is before start {start}")


def check_grid_size(grid: dict[str, list[Any]], limit: int = MAX_GRID_COMBINATIONS) -> None:
    """422 naming `grid.<name>` / `grid` for a grid beyond what one request may run."""
    for name, values in grid.items():
        if len(values) > MAX_GRID_VALUES:
            raise _invalid(f"grid.{name}", f"{len(values):,} values (at most "
                           f"{MAX_GRID_VALUES:,} per parameter)")
    n = math.prod(len(values) for values in grid.values())
    if n > limit:
        raise _invalid("grid", f"{n:,} combinations (at most {limit:,} per "
                       "request); narrow the grid or run `krx sweep` on the command line")


def load_bars(spec: str, settings: Settings, end: date) -> dict[str, Any]:
    """Bars of the universe and benchmark up to `end` (today at the latest). A window that
    ends before the data starts is the caller's: 422 naming `end`; data that cannot be had at
    all is 503 MARKET_DATA_UNAVAILABLE."""
    from strategy.marketdata import make_provider
    from strategy.marketdata.errors import MarketDataError, MarketDataUnavailable

    tickers = list(dict.fromkeys([*settings.universe, settings.benchmark]))
    upto = min(end, now_kst().date())  # no bar lies in the future
    try:
        provider = make_provider(spec, demo_end=upto)
        try:
            return dict(provider.load(tickers, end=upto))
        except MarketDataUnavailable:
            first = _first_common_bar(provider, tickers)
            if first is not None and end < first:
                raise _invalid("end", f"end {end} is before the market data starts ({first}); "
                               "pick an end on or after it") from None
            raise
    except MarketDataError as exc:
        raise PcApiError(503, "MARKET_DATA_UNAVAILABLE", f"{exc} (KRX_PC_DATA={spec})") from None
    except ValueError as exc:
        raise PcApiError(500, "CONFIG_ERROR", f"KRX_PC_DATA {spec!r}: {exc}") from None


def _first_common_bar(provider: Any, tickers: list[str]) -> date | None:
    """The first date every ticker has bars from (None when the data itself is missing)."""
    from strategy.marketdata.errors import MarketDataError

    try:
        frames = provider.load(tickers, end=now_kst().date())
    except MarketDataError:
        return None
    firsts = [frame.index[0].date() for frame in frames.values() if len(frame)]
    return max(firsts) if firsts else None


def backtest(workspace: Workspace, data_spec: str, body: BacktestRequest) -> dict[str, Any]:
    """Metrics, the per-session series (equity, benchmark, regime, chop, exposure), trades,
    fills and the per-year table of one run (`strategy.backtest.serialize`)."""
    from strategy.backtest.engine import BacktestInputError, run_backtest
    from strategy.backtest.serialize import result_api_json

    _window(body.start, body.end)
    settings = settings_for(base_settings(workspace), body.params, body.universe)
    bars = load_bars(data_spec, settings, body.end)
    try:
        result = run_backtest(bars, settings, body.start, body.end)
    except BacktestInputError as exc:
        raise _invalid(_input_field(str(exc)), str(exc)) from None
    return result_api_json(result)


def _prepare_grid_run(workspace: Workspace, data_spec: str, body: SweepRequest | WalkForwardRequest,
                      limit: int) -> tuple[Settings, dict[str, Any]]:
    """What a sweep and a walk-forward check first (window, objective, grid size; each a 422
    naming the field), then their base settings and bars."""
    from strategy.backtest.sweep import check_objective

    _window(body.start, body.end)
    try:
        check_objective(body.objective)
    except ValueError as exc:
        raise _invalid("objective", str(exc)) from None
    check_grid_size(body.grid, limit)
    settings = base_settings(workspace)
    return settings, load_bars(data_spec, settings, body.end)


def sweep(workspace: Workspace, data_spec: str, body: SweepRequest) -> dict[str, Any]:
    """The ranked sweep table (top `body.top` rows) and its run facts."""
    from strategy.backtest.engine import BacktestInputError
    from strategy.backtest.grid import GridError
    from strategy.backtest.sweep import run_sweep

    settings, bars = _prepare_grid_run(workspace, data_spec, body, MAX_GRID_COMBINATIONS)
    try:
        table = run_sweep(bars, settings, body.grid, body.start, body.end,
                          objective=body.objective, n_jobs=1)
    except GridError as exc:
        raise _invalid("grid", str(exc)) from None
    except BacktestInputError as exc:
        raise _invalid(_input_field(str(exc)), str(exc)) from None
    rows = [{k: plain(v) for k, v in r.items()}
            for r in table.head(body.top).to_dict(orient="records")]
    return {"rows": rows, "columns": list(table.columns),
            "attrs": {k: plain(v) if not isinstance(v, list) else v
                      for k, v in table.attrs.items()}}


def walkforward(workspace: Workspace, data_spec: str, body: WalkForwardRequest) -> dict[str, Any]:
    """Walk-forward validation of `grid` (`strategy.backtest.walkforward`): per-window choices,
    in-sample vs out-of-sample, the stitched OOS equity."""
    from strategy.backtest.engine import BacktestInputError
    from strategy.backtest.grid import GridError
    from strategy.backtest.walkforward import WalkForwardError, run_walkforward

    settings, bars = _prepare_grid_run(workspace, data_spec, body, MAX_WALKFORWARD_COMBINATIONS)
    try:
        result = run_walkforward(bars, settings, body.grid, body.start, body.end,
                                 train_months=body.train_months, test_months=body.test_months,
                                 step_months=body.step_months, objective=body.objective,
                                 n_jobs=1)
    except GridError as exc:
        raise _invalid("grid", str(exc)) from None
    except WalkForwardError as exc:
        raise _invalid("train_months", str(exc)) from None
    except BacktestInputError as exc:
        raise _invalid(_input_field(str(exc)), str(exc)) from None
    return result.to_dict()
