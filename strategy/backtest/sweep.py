"""Parameter sweep execution: the combinations of a grid (`strategy.backtest.grid`) run
through `run_batch`, ranked by an objective.

Combinations are grouped by the parameters indicators depend on (`INDICATOR_PARAMS`, plus
``initial_capital`` which `run_batch` takes as a scalar); each indicator is computed once per
period in the calling process (`IndicatorCache`: groups that share an RSI, SMA or ADX period
share its array), and each group's parameter vectors go to `run_batch` in batches.
The compiled kernel releases the GIL (``nogil``), so by default the batches run on one thread
per core in this process ("threads": no worker start-up, no copies of the market, results
identical to one core since every combination is an independent simulation). A tiny sweep
(estimated kernel time below `THREADS_MIN_SECONDS`) runs in-process on one thread. joblib is
the path beyond one machine: ``parallel_config(backend="dask")`` inside a
``distributed.Client`` (or ``backend="loky"``/``"dask"`` here) sends batches there instead;
see `plan_execution`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from contracts.settings import Settings
from strategy.backtest.grid import (
    GROUP_PARAMS,
    Combination,
    GridError,
    expand_grid,
    parse_grid,
)

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
# Batches per thread at least (threads take the next batch when done): indicator groups of
# unequal size, or a core shared with other work, then leave a tail of one small batch.
THREAD_SPLIT = 8


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

    from strategy.backtest.engine import METRIC_COLUMNS, IndicatorCache, prepare_market

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
        batch_size = max(
            1, min(THREAD_BATCH, math.ceil(len(combos) / (plan.workers * THREAD_SPLIT)))
        )
    keys, tasks = _plan_tasks(combos, plan.workers, batch_size)

    # Each indicator once per period, shared by every group that uses that period.
    cache = IndicatorCache(market)
    indicator_sets = []
    for key in keys:
        kw = dict(zip(GROUP_PARAMS, key, strict=True))
        indicator_sets.append(
            cache.get(
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
