"""Parameter sweep: a grid of `StrategyParams` (and guardrail) values run through `run_batch`.

A grid maps a parameter name to its values: a list, a scalar, or an inclusive range
``{start, stop, step}`` (YAML), or ``name=start:stop:step`` / ``name=a,b,c`` on the command line.
Every value is validated against its field when the grid is parsed (an invalid value or an
unknown name raises `GridError` naming both); every combination is then validated through
`StrategyParams` / `Guardrails`. Combinations that break a cross-field rule
(``ma_short_period < regime_ma_long``, ``rsi_buy_threshold < rsi_sell_threshold``) are
**skipped and counted** (``df.attrs["n_skipped"]``), not fatal, so a rectangular grid can
straddle the rule; a grid whose every combination is skipped raises `GridError`.

Combinations are grouped by the parameters indicators depend on (`INDICATOR_PARAMS`, plus
``initial_capital`` which `run_batch` takes as a scalar), indicators are computed once per
group in the calling process, and each group's parameter vectors go to `run_batch` in batches.
The compiled kernel releases the GIL (``nogil``), so by default the batches run on one thread
per core in this process ("threads": no worker start-up, no copies of the market, results
identical to one core since every combination is an independent simulation). A tiny sweep
(estimated kernel time below `THREADS_MIN_SECONDS`) runs in-process on one thread. joblib is
the path beyond one machine: ``parallel_config(backend="dask")`` inside a
``distributed.Client`` (or ``backend="loky"``/``"dask"`` here) sends batches there instead;
see `plan_execution`.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace
from typing import Annotated, Any, cast

import numpy as np
import pandas as pd
import yaml
from pydantic import TypeAdapter, ValidationError

from contracts.common import Contract, refuse_boolean_number
from contracts.settings import Guardrails, Settings, StrategyParams
from strategy.params import param_vector

# Parameters the indicators depend on: combinations sharing them share one IndicatorSet.
INDICATOR_PARAMS: tuple[str, ...] = (
    "rsi_period",
    "regime_ma_long",
    "ma_short_period",
    "adx_period",
)
# `run_batch` takes the capital as one scalar per call, so it splits groups too.
GROUP_PARAMS: tuple[str, ...] = (*INDICATOR_PARAMS, "initial_capital")

# Guardrails that reach the parameter vector (max_data_age_sessions does not affect a backtest).
GUARDRAIL_PARAMS: tuple[str, ...] = ("max_orders", "max_single_order_pct", "max_buy_turnover_pct")
STRATEGY_PARAMS: tuple[str, ...] = tuple(StrategyParams.model_fields)
SWEEPABLE_PARAMS: tuple[str, ...] = STRATEGY_PARAMS + GUARDRAIL_PARAMS

# Objectives where a smaller value ranks first; every other metric ranks larger-first
# (mdd is <= 0, so larger = shallower drawdown).
MINIMIZE_OBJECTIVES: frozenset[str] = frozenset(
    {"volatility", "turnover", "total_costs", "total_commission", "total_tax", "total_slippage"}
)

# Compiled kernel time per (combination x window session x ticker), measured on the real data
# (0.18-0.35 s for 1,000 combinations x 1,349 sessions x 5 tickers on one core, load-dependent).
KERNEL_SECONDS_PER_CELL = 4e-8
# Below this estimated kernel time a sweep runs in-process by default. Fresh loky workers take
# ~4 s (2.4-13 s measured, load-dependent) to start, import numba and load the cached kernels,
# while n workers save at most (1 - 1/n) of the kernel time: break-even near 8 s on 2 cores.
# (Only when loky is asked for: the default is threads, which cost nothing to start.)
PARALLEL_MIN_SECONDS = 8.0
# Below this estimated kernel time the default runs on one thread (splitting is not worth it).
THREADS_MIN_SECONDS = 0.5
# Largest batch handed to one thread: small enough for the progress bar to move and for the
# cores to share the tail of the work, large enough that per-call overhead is negligible.
THREAD_BATCH = 1_000

# A grid this large is almost certainly a typo in a range (step too small).
MAX_COMBINATIONS = 2_000_000

Grid = dict[str, list[Any]]


class GridError(ValueError):
    """A grid that cannot be swept; the message names the parameter and value at fault."""


@dataclass(frozen=True, slots=True)
class Combination:
    """One validated grid point: its position in grid order, its swept values, the kernel's
    parameter vector and its indicator group (the validated models are not kept: a
    100,000-point grid would hold 100,000 of them)."""

    combo_id: int
    values: dict[str, Any]
    params: np.ndarray  # strategy.params.param_vector of the validated settings
    group: tuple[Any, ...]  # the GROUP_PARAMS values (indicators are computed per group)

    def settings(self, base: Settings) -> Settings:
        """`base` with this point applied (validated again)."""
        return settings_for(base, self.values)


@dataclass
class GridExpansion:
    """The valid combinations of a grid (grid order) and the skipped ones with the reason."""

    names: list[str]
    combinations: list[Combination]
    skipped: list[tuple[dict[str, Any], str]] = field(default_factory=list)


# --- grid parsing -------------------------------------------------------------------------


@functools.cache
def _field_adapter(name: str) -> TypeAdapter[Any]:
    if name in STRATEGY_PARAMS:
        info = StrategyParams.model_fields[name]
    else:
        info = Guardrails.model_fields[name]
    form: Any = info.annotation
    if info.metadata:
        form = Annotated[form, *info.metadata]
    return TypeAdapter(form)


def canonical_param(name: str) -> str:
    """The sweepable field called `name` (``guardrails.max_orders`` and ``strategy.x`` accepted).

    Raises GridError for a name that is not a `StrategyParams` field or a backtest guardrail,
    suggesting the closest one.
    """
    key = str(name).strip()
    for prefix in ("strategy.", "guardrails."):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    if key in SWEEPABLE_PARAMS:
        return key
    if key in Guardrails.model_fields:
        raise GridError(f"grid parameter {name!r} does not affect a backtest; remove it")
    close = difflib.get_close_matches(key, SWEEPABLE_PARAMS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise GridError(
        f"unknown grid parameter {name!r}{hint}; sweepable: {', '.join(SWEEPABLE_PARAMS)}"
    )


def _validate_value(name: str, value: Any) -> Any:
    model = StrategyParams if name in STRATEGY_PARAMS else Guardrails
    try:
        return _field_adapter(name).validate_python(refuse_boolean_number(model, name, value))
    except ValidationError as exc:
        msg = "; ".join(e["msg"] for e in exc.errors())
        raise GridError(f"grid parameter {name!r}: value {value!r} is invalid: {msg}") from None
    except ValueError as exc:
        raise GridError(f"grid parameter {name!r}: value {value!r} is invalid: {exc}") from None


def _decimal(name: str, key: str, value: Any) -> Decimal:
    if isinstance(value, bool):
        raise GridError(f"grid parameter {name!r}: range {key} {value!r} is not a number")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise GridError(f"grid parameter {name!r}: range {key} {value!r} is not a number") from None
    if not d.is_finite():
        raise GridError(f"grid parameter {name!r}: range {key} {value!r} is not finite")
    return d


def expand_range(name: str, start: Any, stop: Any, step: Any) -> list[int | float]:
    """The inclusive range start, start+step, ..., <= stop (decimal arithmetic, so 0.1 steps
    do not drift); ints when start, stop and step are all integral."""
    d0 = _decimal(name, "start", start)
    d1 = _decimal(name, "stop", stop)
    ds = _decimal(name, "step", step)
    if ds <= 0:
        raise GridError(f"grid parameter {name!r}: range step {step!r} must be > 0")
    if d1 < d0:
        raise GridError(f"grid parameter {name!r}: range stop {stop!r} is below start {start!r}")
    count = int((d1 - d0) / ds) + 1
    if count > MAX_COMBINATIONS:
        raise GridError(f"grid parameter {name!r}: range {start}:{stop}:{step} has {count} values")
    values = [d0 + i * ds for i in range(count)]
    if all(d == d.to_integral_value() for d in (d0, d1, ds)):
        return [int(v) for v in values]
    return [float(v) for v in values]


def _values_of(name: str, spec: Any) -> list[Any]:
    if isinstance(spec, Mapping):
        keys = set(spec)
        if keys != {"start", "stop", "step"}:
            raise GridError(
                f"grid parameter {name!r}: a range needs exactly start, stop, step "
                f"(got {', '.join(sorted(map(str, keys)))})"
            )
        return list(expand_range(name, spec["start"], spec["stop"], spec["step"]))
    if isinstance(spec, list | tuple):
        if not spec:
            raise GridError(f"grid parameter {name!r}: empty list of values")
        return list(spec)
    if spec is None:
        raise GridError(f"grid parameter {name!r}: no value given")
    return [spec]


def parse_grid(spec: Mapping[str, Any]) -> Grid:
    """A validated grid from ``{name: [values] | {start, stop, step} | value}``.

    Names are canonicalised, each value is validated and coerced by its field (so ``"45"``
    becomes 45.0 for a float field), duplicate values are dropped (first kept), and key order
    is kept. Raises GridError naming the parameter (and value) at fault.
    """
    if not isinstance(spec, Mapping):
        raise GridError(f"a grid is a mapping of parameter -> values, got {type(spec).__name__}")
    if not spec:
        raise GridError("the grid is empty: give at least one parameter")
    grid: Grid = {}
    for raw_name, raw_values in spec.items():
        name = canonical_param(raw_name)
        if name in grid:
            raise GridError(f"grid parameter {name!r} is given twice")
        values: list[Any] = []
        for v in _values_of(str(raw_name), raw_values):
            coerced = _validate_value(name, v)
            if coerced not in values:
                values.append(coerced)
        grid[name] = values
    n = grid_size(grid)
    if n > MAX_COMBINATIONS:
        raise GridError(f"the grid has {n:,} combinations (limit {MAX_COMBINATIONS:,})")
    return grid


def parse_grid_yaml(text: str) -> Grid:
    """`parse_grid` of a YAML document (a mapping; a top-level ``grid:`` key is unwrapped)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GridError(f"grid YAML does not parse: {exc}") from None
    if isinstance(doc, Mapping) and set(doc) == {"grid"}:
        doc = doc["grid"]
    if not isinstance(doc, Mapping):
        raise GridError("grid YAML must be a mapping of parameter -> values")
    return parse_grid(doc)


def _scalar(text: str) -> Any:
    # YAML scalar rules: 40 -> int, 0.1 -> float, true -> bool, exit_all -> str.
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_set_items(items: Iterable[str]) -> dict[str, Any]:
    """Grid spec from ``name=start:stop:step`` (inclusive), ``name=a,b,c`` or ``name=value``.

    The result goes to `parse_grid`; raises GridError for a malformed item.
    """
    spec: dict[str, Any] = {}
    for item in items:
        name, sep, rhs = item.partition("=")
        name = name.strip()
        rhs = rhs.strip()
        if not sep or not name or not rhs:
            raise GridError(f"--set {item!r}: expected name=start:stop:step, name=a,b,c or name=v")
        if name in spec:
            raise GridError(f"--set {item!r}: parameter {name!r} is given twice")
        if ":" in rhs:
            parts = rhs.split(":")
            if len(parts) != 3 or not all(p.strip() for p in parts):
                raise GridError(f"--set {item!r}: a range is start:stop:step")
            spec[name] = {"start": parts[0], "stop": parts[1], "step": parts[2]}
        elif "," in rhs:
            spec[name] = [_scalar(p.strip()) for p in rhs.split(",") if p.strip()]
        else:
            spec[name] = _scalar(rhs)
    return spec


def grid_size(grid: Mapping[str, Sequence[Any]]) -> int:
    """Number of combinations of a grid (cross-field skips not subtracted)."""
    return math.prod(len(v) for v in grid.values())


def expand_grid(base: Settings, grid: Mapping[str, Sequence[Any]]) -> GridExpansion:
    """Every combination of `grid` over `base`, validated through StrategyParams/Guardrails.

    Combinations are in grid order (the last parameter varies fastest) and numbered by that
    order, skipped ones included, so a combo id names the same point whatever is skipped.
    """
    names = [canonical_param(n) for n in grid]
    # Every value is validated against its field once (a grid holds few distinct values);
    # each combination then goes through the model's own cross-field rule (the `_coherent`
    # validator's function, called on the combination's fields): 100,000 full model
    # validations, or even model constructions, would take seconds.
    columns = [[_validate_value(name, v) for v in grid[n]]
               for name, n in zip(names, grid, strict=True)]
    base_strategy = base.strategy.model_dump()
    base_guard = base.guardrails.model_dump()
    fast = _only_cross_field_rules(StrategyParams)
    coherent = StrategyParams.__pydantic_decorators__.model_validators["_coherent"].func
    combos: list[Combination] = []
    skipped: list[tuple[dict[str, Any], str]] = []
    for combo_id, values in enumerate(itertools.product(*columns)):
        point = dict(zip(names, values, strict=True))
        s_over = {k: v for k, v in point.items() if k in STRATEGY_PARAMS}
        g_over = {k: v for k, v in point.items() if k in GUARDRAIL_PARAMS}
        try:
            if fast:
                strategy = cast(StrategyParams, SimpleNamespace(**{**base_strategy, **s_over}))
                coherent(strategy)
            else:
                strategy = StrategyParams.model_validate({**base_strategy, **s_over})
            guard = (
                Guardrails.model_validate({**base_guard, **g_over}) if g_over else base.guardrails
            )
        except ValidationError as exc:
            skipped.append((point, "; ".join(e["msg"] for e in exc.errors())))
            continue
        except ValueError as exc:
            skipped.append((point, f"Value error, {exc}"))
            continue
        combos.append(Combination(
            combo_id, point, param_vector(strategy, guard),
            tuple(getattr(strategy, name) for name in GROUP_PARAMS),
        ))
    if not combos:
        reason = skipped[0][1] if skipped else "empty grid"
        raise GridError(f"every combination of the grid is invalid (first: {reason})")
    return GridExpansion(names=names, combinations=combos, skipped=skipped)


def _only_cross_field_rules(model: type[StrategyParams]) -> bool:
    """True when `_coherent` is the model's only validator beyond its field types (then a
    constructed model plus `_coherent` is the full validation of field-valid values)."""
    decorators = model.__pydantic_decorators__
    # The base model's per-field checks (`Contract`) are applied to each value by
    # `_validate_value`; only validators of the model's own would need a full validation.
    own_field_validators = set(decorators.field_validators) - set(
        Contract.__pydantic_decorators__.field_validators)
    return (list(decorators.model_validators) == ["_coherent"]
            and not own_field_validators and not decorators.root_validators)


def settings_for(base: Settings, values: Mapping[str, Any]) -> Settings:
    """`base` with the grid point `values` applied (validated; GridError names the problem)."""
    s_over = {canonical_param(k): v for k, v in values.items()}
    g_over = {k: v for k, v in s_over.items() if k in GUARDRAIL_PARAMS}
    s_over = {k: v for k, v in s_over.items() if k in STRATEGY_PARAMS}
    try:
        strategy = StrategyParams.model_validate({**base.strategy.model_dump(), **s_over})
        guard = Guardrails.model_validate({**base.guardrails.model_dump(), **g_over})
    except ValidationError as exc:
        raise GridError(f"{dict(values)}: {'; '.join(e['msg'] for e in exc.errors())}") from None
    return base.model_copy(update={"strategy": strategy, "guardrails": guard})


# --- running ------------------------------------------------------------------------------


def rank_results(df: pd.DataFrame, objective: str) -> pd.DataFrame:
    """`df` sorted best-first by `objective` (NaN last, ties by combo id) with a 1-based
    ``rank`` column; raises GridError for an objective that is not a column."""
    if objective not in df.columns:
        raise GridError(f"unknown objective {objective!r}; choose one of the metric columns")
    ascending = objective in MINIMIZE_OBJECTIVES
    out = df.sort_values(
        [objective, "combo_id"], ascending=[ascending, True], na_position="last", kind="mergesort"
    ).reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def check_objective(objective: str) -> str:
    """`objective` if it names a metric column (GridError listing the choices otherwise)."""
    from strategy.backtest.engine import METRIC_COLUMNS

    if objective not in METRIC_COLUMNS:
        raise GridError(
            f"unknown objective {objective!r}; choose one of: {', '.join(METRIC_COLUMNS)}"
        )
    return objective


@dataclass(frozen=True)
class _Task:
    group: int
    rows: np.ndarray  # positions into the combination list
    params: np.ndarray  # [K, N_PARAMS]


def _plan_tasks(
    combos: Sequence[Combination], n_workers: int, batch_size: int | None
) -> tuple[list[tuple[Any, ...]], list[_Task]]:
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, c in enumerate(combos):
        groups.setdefault(c.group, []).append(i)
    keys = list(groups)
    tasks: list[_Task] = []
    for g, key in enumerate(keys):
        rows = np.asarray(groups[key], dtype=np.int64)
        size = batch_size or max(1, math.ceil(len(rows) / max(1, n_workers)))
        for lo in range(0, len(rows), size):
            part = rows[lo : lo + size]
            params = np.stack([combos[i].params for i in part])
            tasks.append(_Task(g, part, params))
    return keys, tasks


def _run_task(market: Any, indicators: Any, params: np.ndarray, capital: float) -> np.ndarray:
    from strategy.backtest.engine import run_batch

    return np.asarray(run_batch(market, indicators, params, capital))


@dataclass(frozen=True)
class ExecutionPlan:
    """How a sweep runs: in this process, or on a joblib backend with `workers` jobs."""

    mode: str  # "inprocess" or the joblib backend name ("loky", "threading", "dask", ...)
    workers: int
    backend: str | None  # passed to joblib.Parallel (None = the active parallel_config)
    estimated_seconds: float

    @property
    def in_process(self) -> bool:
        return self.mode == "inprocess"


def estimate_kernel_seconds(n_combinations: int, n_sessions: int, n_tickers: int) -> float:
    """Rough single-core compiled-kernel time of a sweep (see `KERNEL_SECONDS_PER_CELL`)."""
    return n_combinations * n_sessions * n_tickers * KERNEL_SECONDS_PER_CELL


def plan_execution(
    n_jobs: int | None, backend: str | None, estimated_seconds: float
) -> ExecutionPlan:
    """Choose where the batches run.

    - ``backend="inprocess"`` (or ``"sequential"``), or a resolved single job: in-process.
    - ``backend="threads"``: threads in this process (the nogil kernel), `n_jobs` of them
      (all cores when unset).
    - Another explicit `backend` (``loky``, ``threading``, ``dask``...) or a
      ``joblib.parallel_config`` that sets a backend or n_jobs: joblib with that backend and
      job count (all cores when unset).
    - Nothing configured (an explicit `n_jobs` included): threads on `n_jobs` (all) cores,
      or in-process when the estimated kernel time is below `THREADS_MIN_SECONDS`.
    """
    if backend in ("inprocess", "sequential"):
        return ExecutionPlan("inprocess", 1, None, estimated_seconds)
    from joblib.parallel import LokyBackend, get_active_backend

    active, active_jobs = get_active_backend()
    configured = not isinstance(active, LokyBackend) or active_jobs is not None
    jobs = n_jobs if n_jobs is not None else (active_jobs if active_jobs is not None else -1)
    cores = os.cpu_count() or 1
    workers = max(1, cores + 1 + jobs if jobs < 0 else jobs)
    if backend == "threads" or (backend is None and not configured):
        if workers == 1 or (backend is None and estimated_seconds < THREADS_MIN_SECONDS):
            return ExecutionPlan("inprocess", 1, None, estimated_seconds)
        return ExecutionPlan("threads", workers, None, estimated_seconds)
    mode = backend or type(active).__name__.removesuffix("Backend").lower()
    if mode == "daskdistributed":
        mode = "dask"
    return ExecutionPlan(mode, workers, backend, estimated_seconds)


def run_sweep(
    bars: Mapping[str, pd.DataFrame],
    base_settings: Settings,
    grid: Mapping[str, Any],
    start: date,
    end: date,
    *,
    objective: str = "sharpe",
    n_jobs: int | None = None,
    backend: str | None = None,
    batch_size: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Backtest every valid combination of `grid` over `base_settings` on [start, end].

    `grid` is a raw spec (as for `parse_grid`) or a parsed grid; `start` and `end` must be
    benchmark sessions (`prepare_market`). Returns one row per valid combination: ``rank``,
    ``combo_id`` (grid order), the swept parameters, then `METRIC_COLUMNS`, sorted best-first
    by `objective` (see `rank_results`); each row's metrics equal `run_backtest` with those
    settings. ``df.attrs`` holds ``objective``, ``n_combinations``, ``n_skipped``,
    ``skipped`` (first reasons), ``n_groups``, ``start``, ``end`` and ``execution``.

    Where it runs is `plan_execution(n_jobs, backend, ...)`: by default in-process for
    sweeps too small to pay for worker start-up, else loky processes on all cores; a
    ``joblib.parallel_config(backend="dask")`` (inside a ``distributed.Client``) sends the
    batches to dask without any argument here. Results do not depend on where they ran.
    """
    import time

    from strategy.backtest.engine import METRIC_COLUMNS, compute_indicators, prepare_market

    started = time.perf_counter()
    check_objective(objective)
    parsed = parse_grid(grid)
    expansion = expand_grid(base_settings, parsed)
    combos = expansion.combinations
    market = prepare_market(
        dict(bars), list(base_settings.universe), base_settings.benchmark, start, end
    )
    n_window = market.end_idx - market.start_idx + 1
    plan = plan_execution(
        n_jobs, backend, estimate_kernel_seconds(len(combos), n_window, len(market.tickers))
    )
    if batch_size is None and plan.mode == "threads":
        batch_size = max(1, min(THREAD_BATCH, math.ceil(len(combos) / plan.workers)))
    keys, tasks = _plan_tasks(combos, plan.workers, batch_size)

    indicator_sets = []
    for key in keys:
        kw = dict(zip(GROUP_PARAMS, key, strict=True))
        indicator_sets.append(
            compute_indicators(
                market,
                rsi_period=kw["rsi_period"],
                regime_ma_long=kw["regime_ma_long"],
                ma_short_period=kw["ma_short_period"],
                adx_period=kw["adx_period"],
            )
        )
    capitals = [float(key[GROUP_PARAMS.index("initial_capital")]) for key in keys]

    metrics = np.full((len(combos), len(METRIC_COLUMNS)), np.nan)
    kernel_wall, kernel_cpu = time.perf_counter(), time.process_time()
    results = _execute(market, indicator_sets, capitals, tasks, plan, progress, len(combos))
    for task, block in zip(tasks, results, strict=True):
        metrics[task.rows] = block
    kernel_wall, kernel_cpu = (time.perf_counter() - kernel_wall,
                               time.process_time() - kernel_cpu)

    df = pd.DataFrame(
        {
            "combo_id": [c.combo_id for c in combos],
            **{n: [c.values[n] for c in combos] for n in expansion.names},
        }
    )
    df = pd.concat([df, pd.DataFrame(metrics, columns=list(METRIC_COLUMNS))], axis=1)
    out = rank_results(df, objective)
    out.attrs.update(
        objective=objective,
        n_combinations=len(combos),
        n_skipped=len(expansion.skipped),
        skipped=[f"{p}: {r}" for p, r in expansion.skipped[:5]],
        n_groups=len(keys),
        start=str(start),
        end=str(end),
        execution=f"{plan.mode} x{plan.workers}",
        elapsed_s=time.perf_counter() - started,
        kernel_s=kernel_wall,  # the batches (wall), and the CPU this process spent on them
        kernel_cpu_s=kernel_cpu,
        grid={k: list(v) for k, v in parsed.items()},
        buy_and_hold=buy_and_hold_metrics(market, base_settings.strategy.initial_capital),
    )
    return out


def buy_and_hold_metrics(market: Any, capital: float) -> dict[str, Any]:
    """The benchmark bought at the first window close and held to the last, from the same
    capital, with the engine's metric functions (the reference a sweep should beat)."""
    from strategy.backtest import jit
    from strategy.backtest.engine import METRIC_COLUMNS
    from strategy.backtest.metrics import N_ACC

    close = np.asarray(market.bench_close[market.start_idx : market.end_idx + 1], dtype=float)
    out = np.full(len(METRIC_COLUMNS), np.nan)
    jit.summary_metrics(capital * close / close[0], capital, market.calendar_days,
                        np.zeros(N_ACC), out)
    keep = ("total_return", "cagr", "mdd", "sharpe", "sortino", "calmar", "volatility")
    return {"ticker": market.benchmark,
            **{k: float(out[METRIC_COLUMNS.index(k)]) for k in keep}}


def grid_edge_warnings(
    sweep: pd.DataFrame, grid: Mapping[str, Sequence[Any]] | None = None,
    objective: str | None = None,
) -> list[str]:
    """A warning per swept parameter (3+ grid values) whose best combination sits on the
    first or last grid value: the optimum may lie outside the grid, so widen it there."""
    if not len(sweep):
        return []
    grid = grid if grid is not None else sweep.attrs.get("grid") or {}
    objective = objective or str(sweep.attrs.get("objective", "sharpe"))
    best = sweep.iloc[0]
    out = []
    for name, values in grid.items():
        vals = sorted(values)
        if len(vals) < 3 or name not in sweep.columns:
            continue
        v = best[name]
        edge = "lowest" if v == vals[0] else "highest" if v == vals[-1] else None
        if edge:
            out.append(
                f"best {objective} has {name} = {v:g} on the {edge} grid value "
                f"({vals[0]:g}..{vals[-1]:g}): the optimum may lie outside the grid; widen it"
            )
    return out


def _execute(
    market: Any,
    indicator_sets: Sequence[Any],
    capitals: Sequence[float],
    tasks: Sequence[_Task],
    plan: ExecutionPlan,
    progress: bool,
    total: int,
) -> Iterator[np.ndarray]:
    """Each task's metric block, in task order, advancing the progress bar as they arrive."""
    from tqdm.auto import tqdm

    # The bar appears only once a sweep has run for 2 s: quick sweeps stay quiet.
    bar = tqdm(total=total, disable=not progress, unit="combo", desc="sweep", delay=2.0)
    pool = None
    try:
        if plan.in_process:
            results: Iterable[np.ndarray] = (
                _run_task(market, indicator_sets[t.group], t.params, capitals[t.group])
                for t in tasks
            )
        elif plan.mode == "threads":
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=plan.workers, thread_name_prefix="sweep")
            results = pool.map(
                lambda t: _run_task(market, indicator_sets[t.group], t.params,
                                    capitals[t.group]),
                tasks,
            )
        else:
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=plan.workers, backend=plan.backend, return_as="generator")(
                delayed(_run_task)(market, indicator_sets[t.group], t.params, capitals[t.group])
                for t in tasks
            )
        for task, block in zip(tasks, results, strict=True):
            bar.update(len(task.rows))
            yield block
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
