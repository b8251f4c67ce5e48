"""The set-up of a research run (backtest, sweep, walk-forward): the settings and the bars it
runs on, checked first. HTTP-free and CLI-free: the PC backend (`pc_backend.research`) and the
`krx backtest` / `krx sweep` / `krx walkforward` verbs both call it and turn its errors into
their own answers (an HTTP status, an exit code).

Errors:
- `ResearchInputError`: an input the run cannot take; `field` names it the way a request body
  does (`end`, `objective`, `grid.rsi_period`, `params.rsi_period`, `universe`).
- `DataSpecError`: the market-data spec itself is unusable (`make_provider` refused it).
- `strategy.marketdata.errors.MarketDataError` passes through: the data cannot be had.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from contracts.settings import Settings
from strategy import calendar

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DataSpecError", "ResearchInputError", "ResearchSetup", "apply_params",
           "check_grid_size", "check_window", "input_field", "load_bars", "prepare_backtest",
           "prepare_grid_run", "tickers_of"]


class ResearchInputError(ValueError):
    """An input a research run cannot take; `field` names it, `message` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class DataSpecError(ValueError):
    """The market-data spec (`csv:DIR`, `demo`, `auto`, ...) cannot make a provider."""

    def __init__(self, spec: str, reason: str) -> None:
        super().__init__(f"{spec!r}: {reason}")
        self.spec = spec
        self.reason = reason


@dataclass(frozen=True)
class ResearchSetup:
    """What a run needs: its settings and the bars of their universe and benchmark."""

    settings: Settings
    bars: dict[str, pd.DataFrame]


def tickers_of(settings: Settings) -> list[str]:
    """The universe and the benchmark, each once, in that order."""
    return list(dict.fromkeys([*settings.universe, settings.benchmark]))


def input_field(message: str) -> str:
    """The input a `BacktestInputError` is about (its message names it first)."""
    if message.startswith("end "):
        return "end"
    if message.startswith("start "):
        return "start"
    if "universe" in message or "ticker" in message or "bars loaded" in message:
        return "universe"
    return "start"


def check_window(start: date, end: date) -> None:
    if end < start:
        raise ResearchInputError("end", f"{end} is before start {start}")


def apply_params(base: Settings, params: Mapping[str, Any],
                 universe: Sequence[str] | None = None) -> Settings:
    """`base` with `params` (StrategyParams fields) and `universe`; `ResearchInputError` naming
    `params.<name>` (or `universe`) for what the settings refuse."""
    doc = base.model_dump(mode="json")
    unknown = sorted(set(params) - set(doc["strategy"]))
    if unknown:
        raise ResearchInputError(f"params.{unknown[0]}", "not a strategy parameter")
    doc["strategy"].update(params)
    if universe is not None:
        doc["universe"] = list(universe)
    try:
        return Settings.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        if loc[:1] == ["strategy"]:
            loc[0] = "params"
        raise ResearchInputError(".".join(loc) or "params", str(err["msg"])) from None


def check_grid_size(grid: Mapping[str, Sequence[Any]], *, max_combinations: int,
                    max_values: int) -> None:
    """`ResearchInputError` naming `grid.<name>` / `grid` for a grid beyond the bounds."""
    for name, values in grid.items():
        if len(values) > max_values:
            raise ResearchInputError(f"grid.{name}", f"{len(values):,} values (at most "
                                     f"{max_values:,} per parameter)")
    n = math.prod(len(values) for values in grid.values())
    if n > max_combinations:
        raise ResearchInputError("grid", f"{n:,} combinations (at most {max_combinations:,} per "
                                 "request); narrow the grid or run `krx sweep` on the command "
                                 "line")


def load_bars(spec: str, settings: Settings, end: date, *, today: date | None = None
              ) -> dict[str, pd.DataFrame]:
    """Bars of the universe and the benchmark up to `end`, all earlier history included.

    With `today`, bars are loaded up to `min(end, today)` (no bar lies in the future, so a
    far-future `end` costs nothing), and a window ending before the data starts is a
    `ResearchInputError` naming `end`. `MarketDataError` when the data cannot be had,
    `DataSpecError` when `spec` makes no provider."""
    from strategy.marketdata import make_provider
    from strategy.marketdata.errors import MarketDataUnavailable

    tickers = tickers_of(settings)
    upto = end if today is None else min(end, today)
    try:
        provider = make_provider(spec, demo_end=upto)
    except ValueError as exc:
        raise DataSpecError(spec, str(exc)) from None
    try:
        # the operator's closed dates are no session here either (settings.calendar)
        return calendar.without_closed_days(provider.load(tickers, end=upto),
                                            calendar.for_settings(settings))
    except MarketDataUnavailable:
        if today is not None:
            first = _first_common_bar(provider, tickers, today)
            if first is not None and end < first:
                raise ResearchInputError(
                    "end", f"end {end} is before the market data starts ({first}); pick an "
                    "end on or after it") from None
        raise
    except ValueError as exc:
        raise DataSpecError(spec, str(exc)) from None


def _first_common_bar(provider: Any, tickers: list[str], today: date) -> date | None:
    """The first date every ticker has bars from (None when the data itself is missing)."""
    from strategy.marketdata.errors import MarketDataError

    try:
        frames = provider.load(tickers, end=today)
    except MarketDataError:
        return None
    firsts = [frame.index[0].date() for frame in frames.values() if len(frame)]
    return max(firsts) if firsts else None


def prepare_backtest(base: Settings, spec: str, start: date, end: date, *,
                     params: Mapping[str, Any] | None = None,
                     universe: Sequence[str] | None = None,
                     today: date | None = None) -> ResearchSetup:
    """The window checked, `base` with `params`/`universe` applied, and its bars."""
    check_window(start, end)
    settings = apply_params(base, params or {}, universe) if params or universe is not None \
        else base
    return ResearchSetup(settings, load_bars(spec, settings, end, today=today))


def prepare_grid_run(base: Settings, spec: str, start: date, end: date, *,
                     grid: Mapping[str, Sequence[Any]], objective: str,
                     max_combinations: int | None = None, max_values: int | None = None,
                     today: date | None = None) -> ResearchSetup:
    """What a sweep and a walk-forward check first (window, objective, grid size when bounded;
    each a `ResearchInputError` naming the field), then `base` and its bars."""
    from strategy.backtest.sweep import check_objective

    check_window(start, end)
    try:
        check_objective(objective)
    except ValueError as exc:
        raise ResearchInputError("objective", str(exc)) from None
    if max_combinations is not None:
        check_grid_size(grid, max_combinations=max_combinations,
                        max_values=max_values if max_values is not None else max_combinations)
    return ResearchSetup(base, load_bars(spec, base, end, today=today))
