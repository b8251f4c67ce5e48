"""Backtest and sweep on the PC, in-process through `strategy.backtest` (never over HTTP).

The base settings are the working copy when something was pulled (what the operator is
editing), else the defaults; `params` overrides StrategyParams fields. Bars come from the
PC's market-data spec (`KRX_PC_DATA`: csv:DIR | demo | auto).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import ValidationError

from contracts.pc import BacktestRequest, SweepRequest, WalkForwardRequest
from contracts.settings import Settings
from pc_backend.errors import PcApiError
from pc_backend.workspace import Workspace
from strategy.backtest.serialize import plain


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


def load_bars(spec: str, settings: Settings, end: date) -> dict[str, Any]:
    from strategy.marketdata import make_provider
    from strategy.marketdata.errors import MarketDataError

    tickers = list(dict.fromkeys([*settings.universe, settings.benchmark]))
    try:
        return dict(make_provider(spec, demo_end=end).load(tickers, end=end))
    except MarketDataError as exc:
        raise PcApiError(503, "MARKET_DATA_UNAVAILABLE", f"{exc} (KRX_PC_DATA={spec})") from None
    except ValueError as exc:
        raise PcApiError(500, "CONFIG_ERROR", f"KRX_PC_DATA {spec!r}: {exc}") from None


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


def sweep(workspace: Workspace, data_spec: str, body: SweepRequest) -> dict[str, Any]:
    """The ranked sweep table (top `body.top` rows) and its run facts."""
    from strategy.backtest.engine import BacktestInputError
    from strategy.backtest.sweep import GridError, check_objective, run_sweep

    _window(body.start, body.end)
    try:
        check_objective(body.objective)
    except ValueError as exc:
        raise _invalid("objective", str(exc)) from None
    settings = base_settings(workspace)
    bars = load_bars(data_spec, settings, body.end)
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
    from strategy.backtest.sweep import GridError, check_objective
    from strategy.backtest.walkforward import WalkForwardError, run_walkforward

    _window(body.start, body.end)
    try:
        check_objective(body.objective)
    except ValueError as exc:
        raise _invalid("objective", str(exc)) from None
    settings = base_settings(workspace)
    bars = load_bars(data_spec, settings, body.end)
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
