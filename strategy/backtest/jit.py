"""numba-compiled copies of `strategy.rules`, the metrics and the backtest kernels.

Numba cannot call plain Python functions from compiled code, so each function is re-created
from its own code object with a globals dict in which the functions it calls are replaced by
their compiled copies (callees first), then compiled with `numba.njit(cache=True, nogil=True)`
(the GIL is released while a kernel runs, so threads run batches in parallel). The daily
cycle keeps calling the originals uncompiled: one implementation of the rules, two ways to run
it. This module is the only place that imports numba.

The compiled code is cached on disk where numba puts it by default: `strategy/backtest/__pycache__/`
beside the sources (`*.nbi` index and `*.nbc` code per function), or under `NUMBA_CACHE_DIR` when
that is set. `compile_kernels()` fills it (run it once after an install or a source change; a
process that finds it filled only loads the code, nothing compiles).
"""

from __future__ import annotations

import hashlib
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np

from strategy import rules
from strategy.backtest import kernel, metrics

# Callees before callers: a copy's globals can only point at copies that already exist.
_RULES_FUNCTIONS: tuple[Callable[..., Any], ...] = (
    rules.sell_tax_rate,
    rules.regime_step,
    rules.regime_series,
    rules.chop_state,
    rules.exit_reason,
    rules.entry_block,
    rules.cash_reserve,
    rules.flat_book_block,
    rules.decide_session,
    rules.buys_held_back,
    rules.buy_qty_at_fill,
    rules.fill_terms,
    rules.score_of,
)
_METRIC_FUNCTIONS: tuple[Callable[..., Any], ...] = (
    metrics.max_drawdown,
    metrics.cagr,
    metrics.summary_metrics,
)
_KERNEL_FUNCTIONS: tuple[Callable[..., Any], ...] = (
    kernel._book_fill,
    kernel.simulate,
    kernel.run_batch_kernel,
    kernel.run_detailed_kernel,
    kernel._doubling_scan,
    kernel.rsi_columns_kernel,
    kernel._pairwise_sum,
    kernel.adx_kernel,
)


def _source_fingerprint() -> str:
    digest = hashlib.sha256()
    for module in (rules, metrics, kernel):
        digest.update(Path(str(module.__file__)).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


SOURCE_FINGERPRINT = _source_fingerprint()


try:
    from numba.core.caching import FunctionCache

    class _SourceSetCache(FunctionCache):  # type: ignore[misc]
        """numba's on-disk cache with `SOURCE_FINGERPRINT` added to the key.

        numba invalidates a cached function only when its own file changes; the kernels inline
        the rules from another file, so without this they would keep running stale rules after
        an edit of `strategy/rules.py`.
        """

        def _index_key(self, sig: Any, codegen: Any) -> Any:
            return (*super()._index_key(sig, codegen), SOURCE_FINGERPRINT)

except ImportError:  # pragma: no cover - numba moved its internals: plain cache=True
    _SourceSetCache = None  # type: ignore[assignment,misc]


def _compile(functions: tuple[Callable[..., Any], ...], done: dict[int, Any]) -> dict[str, Any]:
    """Compiled copies of `functions`, calling the copies in `done` (keyed by id(original))."""
    out: dict[str, Any] = {}
    for fn in functions:
        original_globals = fn.__globals__  # type: ignore[attr-defined]
        patched = dict(original_globals)
        for name, value in original_globals.items():
            if id(value) in done:
                patched[name] = done[id(value)]
        copy = types.FunctionType(
            fn.__code__, patched, fn.__name__, fn.__defaults__  # type: ignore[attr-defined]
        )
        copy.__qualname__ = fn.__qualname__
        copy.__module__ = fn.__module__
        copy.__doc__ = fn.__doc__
        # nogil: a kernel call releases the GIL, so a sweep's batches run on threads in
        # parallel (strategy.backtest.sweep, mode "threads") without worker processes.
        dispatcher = numba.njit(cache=True, nogil=True)(copy)
        if _SourceSetCache is not None:
            dispatcher._cache = _SourceSetCache(copy)  # type: ignore[attr-defined]
        done[id(fn)] = dispatcher
        out[fn.__name__] = dispatcher
    return out


_done: dict[int, Any] = {}
RULES: dict[str, Any] = _compile(_RULES_FUNCTIONS, _done)
METRICS: dict[str, Any] = _compile(_METRIC_FUNCTIONS, _done)
KERNELS: dict[str, Any] = _compile(_KERNEL_FUNCTIONS, _done)

sell_tax_rate = RULES["sell_tax_rate"]
regime_step = RULES["regime_step"]
regime_series = RULES["regime_series"]
chop_state = RULES["chop_state"]
exit_reason = RULES["exit_reason"]
entry_block = RULES["entry_block"]
decide_session = RULES["decide_session"]
buy_qty_at_fill = RULES["buy_qty_at_fill"]
max_drawdown = METRICS["max_drawdown"]
summary_metrics = METRICS["summary_metrics"]
run_batch_kernel = KERNELS["run_batch_kernel"]
run_detailed_kernel = KERNELS["run_detailed_kernel"]
rsi_columns_kernel = KERNELS["rsi_columns_kernel"]
adx_kernel = KERNELS["adx_kernel"]


def compile_kernels() -> None:
    """Compile every kernel (or load it from numba's cache) for the argument types the engine
    passes, by running them on a tiny made-up market."""
    n_sessions, n_tickers = 4, 2
    prices = np.full((n_sessions, n_tickers), 100.0)
    bench = np.full(n_sessions, 100.0)
    p = np.zeros(rules.N_PARAMS)
    p[rules.P_MAX_POSITIONS] = 1.0
    market = kernel.Market(
        open=prices, close=prices.copy(), rsi=np.full((n_sessions, n_tickers), 50.0),
        adx=np.full(n_sessions, 20.0), bench_close=bench, sma_long=bench.copy(),
        sma_short=bench.copy(), years=np.full(n_sessions, 2024, dtype=np.int64),
        is_stock=np.zeros(n_tickers, dtype=np.bool_),
    )
    out = np.zeros((1, metrics.N_METRICS))
    run_batch_kernel(market, 1, n_sessions - 1, p[None, :].copy(), 1.0e7, 3.0, out)
    bufs = kernel.detailed_buffers(n_sessions, n_sessions - 1, n_tickers)
    run_detailed_kernel(market, 1, n_sessions - 1, p, 1.0e7, 3.0, out[0], *bufs)
    rsi_columns_kernel(prices, 2, np.full((n_sessions, n_tickers), np.nan))
    adx_kernel(bench, bench, bench, 2, np.full(n_sessions, np.nan))
