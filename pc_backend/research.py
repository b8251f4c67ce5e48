"""Backtest, sweep and walk-forward on the PC, in-process through `strategy.backtest` (never
over HTTP); the set-up (window, objective, grid bound, settings, bars) is `strategy.research`.

The base settings are the working copy when something was pulled (what the operator is
editing), else the defaults; `params` overrides StrategyParams fields. Bars come from the
PC's market-data spec (`KRX_PC_DATA`: csv:DIR | demo | auto).

Bounded so one request cannot hold the backend: a grid has at most `MAX_GRID_VALUES` values
per parameter and `MAX_GRID_COMBINATIONS` combinations (else a `ResearchInputError` naming
`grid`), bars are loaded up to today at the latest (a far-future `end` costs nothing), and the
routers run these functions on their own capacity limiter (`RESEARCH_SLOTS`), never on the
request threadpool. Errors carry no HTTP status: `pc_backend.errors` maps them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from contracts.common import now_kst
from contracts.pc import BacktestRequest, SweepRequest, WalkForwardRequest
from contracts.research import (
    BacktestResponse,
    BacktestSeries,
    SweepResponse,
    WalkForwardResponse,
)
from contracts.settings import Settings
from strategy.backtest.serialize import sweep_model, walkforward_model
from strategy.research import (
    DataSpecError,
    ResearchInputError,
    ResearchSetup,
    input_field,
    prepare_backtest,
    prepare_grid_run,
)

# A sweep or walk-forward the PC runs in one request: bounded so that it ends in seconds to a
# minute on one core (1,000 combinations over the sample years take ~0.3 s of kernel time).
# Worst case measured: 19,008 combinations in 19,008 indicator groups, ~32 s on a busy core.
# A walk-forward sweeps the grid once per window (~6 over the sample years): a lower bound.
MAX_GRID_COMBINATIONS = 20_000
MAX_WALKFORWARD_COMBINATIONS = 5_000
MAX_GRID_VALUES = 1_000
# Research requests running at once (the rest wait without holding a thread); more than
# `RESEARCH_QUEUE` waiting are refused (`ResearchBusy`).
RESEARCH_SLOTS = 1
RESEARCH_QUEUE = 4


class ResearchBusy(Exception):
    """`RESEARCH_QUEUE` research requests are already waiting."""

    retry_after_s = 5


class MarketDataUnreadable(Exception):
    """The PC's market data (`KRX_PC_DATA`) cannot be had; the message names the spec."""


class DataSpecUnusable(Exception):
    """`KRX_PC_DATA` itself is unusable (a configuration error of the PC)."""


def preload() -> None:
    """Import what a backtest needs (pandas, the engine, the market-data providers): ~1-3 s
    on a 2-core PC that the first PULL's Overview chart would otherwise wait for. Run in a
    background thread at start-up; numba stays unloaded until a compiled run needs it."""
    import strategy.backtest.engine  # noqa: F401
    import strategy.backtest.serialize  # noqa: F401
    import strategy.marketdata  # noqa: F401


def _today() -> date:
    return now_kst().date()


@contextmanager
def _guard_data(spec: str) -> Iterator[None]:
    """The set-up's market-data errors as the PC's, naming `KRX_PC_DATA`."""
    from strategy.marketdata.errors import MarketDataError

    try:
        yield
    except MarketDataError as exc:
        raise MarketDataUnreadable(f"{exc} (KRX_PC_DATA={spec})") from None
    except DataSpecError as exc:
        raise DataSpecUnusable(f"KRX_PC_DATA {spec!r}: {exc.reason}") from None


def backtest(base: Settings, data_spec: str, body: BacktestRequest) -> BacktestResponse:
    """Metrics, the per-session series (equity, benchmark, regime, chop, exposure), trades,
    fills and the per-year table of one run (`strategy.backtest.serialize`)."""
    from strategy.backtest.engine import BacktestInputError, run_backtest
    from strategy.backtest.serialize import result_model

    with _guard_data(data_spec):
        setup = prepare_backtest(base, data_spec, body.start, body.end, params=body.params,
                                 universe=body.universe, today=_today())
    try:
        result = run_backtest(setup.bars, setup.settings, body.start, body.end)
    except BacktestInputError as exc:
        raise ResearchInputError(input_field(str(exc)), str(exc)) from None
    return result_model(result)


def backtest_series(base: Settings, data_spec: str, body: BacktestRequest) -> BacktestSeries:
    """The per-session series of the same run as `backtest` (equity, buy-and-hold benchmark,
    regime, chop, exposure), with the kernel run as plain Python: no numba to load or compile,
    so the Overview chart costs tens of milliseconds even on a freshly started backend or right
    after an install (the compiled kernel's first load is seconds, its first compile ~20 s)."""
    from strategy.backtest.engine import BacktestInputError, run_backtest
    from strategy.backtest.serialize import series_model

    with _guard_data(data_spec):
        setup = prepare_backtest(base, data_spec, body.start, body.end, params=body.params,
                                 universe=body.universe, today=_today())
    try:
        result = run_backtest(setup.bars, setup.settings, body.start, body.end, compiled=False)
    except BacktestInputError as exc:
        raise ResearchInputError(input_field(str(exc)), str(exc)) from None
    return series_model(result)


def _grid_setup(base: Settings, data_spec: str, body: SweepRequest | WalkForwardRequest,
                limit: int) -> ResearchSetup:
    with _guard_data(data_spec):
        return prepare_grid_run(base, data_spec, body.start, body.end, grid=body.grid,
                                objective=body.objective, max_combinations=limit,
                                max_values=MAX_GRID_VALUES, today=_today())


def sweep(base: Settings, data_spec: str, body: SweepRequest) -> SweepResponse:
    """The ranked sweep table (top `body.top` rows) and its run facts."""
    from strategy.backtest.engine import BacktestInputError
    from strategy.backtest.grid import GridError
    from strategy.backtest.sweep import run_sweep

    setup = _grid_setup(base, data_spec, body, MAX_GRID_COMBINATIONS)
    try:
        table = run_sweep(setup.bars, setup.settings, body.grid, body.start, body.end,
                          objective=body.objective, n_jobs=1)
    except GridError as exc:
        raise ResearchInputError("grid", str(exc)) from None
    except BacktestInputError as exc:
        raise ResearchInputError(input_field(str(exc)), str(exc)) from None
    return sweep_model(table, body.top)


def walkforward(base: Settings, data_spec: str, body: WalkForwardRequest
                ) -> WalkForwardResponse:
    """Walk-forward validation of `grid` (`strategy.backtest.walkforward`): per-window choices,
    in-sample vs out-of-sample, the stitched OOS equity."""
    from strategy.backtest.engine import BacktestInputError
    from strategy.backtest.grid import GridError
    from strategy.backtest.walkforward import WalkForwardError, run_walkforward

    setup = _grid_setup(base, data_spec, body, MAX_WALKFORWARD_COMBINATIONS)
    try:
        result = run_walkforward(setup.bars, setup.settings, body.grid, body.start, body.end,
                                 train_months=body.train_months, test_months=body.test_months,
                                 step_months=body.step_months, objective=body.objective,
                                 n_jobs=1)
    except GridError as exc:
        raise ResearchInputError("grid", str(exc)) from None
    except WalkForwardError as exc:
        raise ResearchInputError("train_months", str(exc)) from None
    except BacktestInputError as exc:
        raise ResearchInputError(input_field(str(exc)), str(exc)) from None
    return walkforward_model(result)
