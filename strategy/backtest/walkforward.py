"""Walk-forward validation: pick the best grid point in sample, then run it out of sample.

Windows are rolled over the benchmark's sessions. With ``a_k = start + k·step_months``
(calendar months), window k trains on the sessions in ``[a_k, a_k + train_months)`` and tests on
the sessions in ``[a_k + train_months, a_k + train_months + test_months)``, the test window
clipped at `end`; train and test are contiguous and never overlap. Windows stop once the test
window would have fewer than `min_test_sessions` sessions.

Per window the whole grid is swept on the train window (`run_sweep`), the best combination by
the objective is backtested on the test window alone (`run_backtest`: warm-up history before
the test start is loaded, equity starts at the initial capital), and the out-of-sample equity
curves are stitched by chaining their daily returns. When test windows overlap
(step < test) a window's curve is used only until the next window's test start, so every
stitched session comes from the most recently trained choice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from contracts.settings import Settings
from strategy.backtest.grid import parse_grid, settings_for
from strategy.backtest.sweep import check_objective

if TYPE_CHECKING:
    from strategy.backtest.engine import BacktestResult


class WalkForwardError(ValueError):
    """The dates and window lengths leave no complete walk-forward window."""


@dataclass(frozen=True)
class Window:
    """One walk-forward window: session-aligned train and test spans (inclusive)."""

    index: int
    train_start: date
    train_end: date
    test_start: date
    test_end: date
    n_train: int
    n_test: int


@dataclass
class WalkForwardResult:
    """Per-window choices and out-of-sample results, and the stitched OOS curve.

    ``windows`` has one row per window: dates, session counts, the best train parameters,
    ``is_<objective>`` (best in-sample value) and ``oos_<objective>`` (its value on the test
    window), plus OOS total return, MDD and trade count. ``gap`` = ``is_mean`` − ``oos_mean``
    over the ``n_compared`` windows where both are defined (a Sharpe is undefined without
    trades); a large positive gap means the in-sample choice was overfitted.
    """

    objective: str
    train_months: int
    test_months: int
    step_months: int
    windows: pd.DataFrame
    oos_equity: pd.Series
    oos_benchmark: pd.Series
    is_mean: float
    oos_mean: float
    gap: float
    n_compared: int
    oos_metrics: dict[str, float]
    grid: dict[str, list[Any]]
    test_results: list[BacktestResult] = field(default_factory=list, repr=False)
    sweeps: list[pd.DataFrame] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (dates as ISO strings, NaN as None)."""

        def clean(v: Any) -> Any:
            if isinstance(v, pd.Timestamp | date):
                return v.isoformat()[:10]
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, float) and not math.isfinite(v):
                return None
            return v

        return {
            "objective": self.objective,
            "train_months": self.train_months,
            "test_months": self.test_months,
            "step_months": self.step_months,
            "grid": {k: [clean(x) for x in v] for k, v in self.grid.items()},
            "is_mean": clean(self.is_mean),
            "oos_mean": clean(self.oos_mean),
            "gap": clean(self.gap),
            "n_compared": self.n_compared,
            "oos_metrics": {k: clean(v) for k, v in self.oos_metrics.items()},
            "windows": [
                {k: clean(v) for k, v in row.items()}
                for row in self.windows.to_dict(orient="records")
            ],
            "oos_equity": {clean(d): clean(float(v)) for d, v in self.oos_equity.items()},
        }


def _sessions(bars: Mapping[str, pd.DataFrame], benchmark: str) -> np.ndarray:
    if benchmark not in bars:
        raise WalkForwardError(f"no bars for the benchmark {benchmark}")
    return np.asarray(pd.DatetimeIndex(bars[benchmark].index).values.astype("datetime64[D]"))


def make_windows(
    sessions: Sequence[date] | np.ndarray,
    start: date,
    end: date,
    *,
    train_months: int,
    test_months: int,
    step_months: int,
    min_test_sessions: int = 20,
) -> list[Window]:
    """The walk-forward windows over `sessions` within [start, end] (see the module doc).

    Raises WalkForwardError for non-positive lengths or when no window fits.
    """
    for name, v in (
        ("train_months", train_months),
        ("test_months", test_months),
        ("step_months", step_months),
    ):
        if int(v) < 1:
            raise WalkForwardError(f"{name} must be >= 1 (got {v})")
    s = np.asarray(sessions, dtype="datetime64[D]")
    s = s[(s >= np.datetime64(start, "D")) & (s <= np.datetime64(end, "D"))]
    origin = pd.Timestamp(start)

    def boundary(months: int) -> int:
        # Position of the first session on or after start + months.
        at = (origin + pd.DateOffset(months=months)).to_datetime64().astype("datetime64[D]")
        return int(np.searchsorted(s, at, side="left"))

    windows: list[Window] = []
    k = 0
    while True:
        a = k * step_months
        lo = boundary(a)
        mid = boundary(a + train_months)
        hi = boundary(a + train_months + test_months)
        n_test = hi - mid
        if mid >= len(s) or n_test < max(1, min_test_sessions):
            break
        if mid > lo:
            windows.append(
                Window(
                    index=len(windows),
                    train_start=_d(s[lo]),
                    train_end=_d(s[mid - 1]),
                    test_start=_d(s[mid]),
                    test_end=_d(s[hi - 1]),
                    n_train=mid - lo,
                    n_test=n_test,
                )
            )
        k += 1
    if not windows:
        raise WalkForwardError(
            f"no walk-forward window fits in {start}..{end} with train {train_months} m and "
            f"test {test_months} m (at least {min_test_sessions} test sessions); "
            "widen the dates or shorten the windows"
        )
    return windows


def _d(x: np.datetime64) -> date:
    return pd.Timestamp(x).date()


def stitch_equity(
    curves: Sequence[pd.Series], initial: float, cut_before: Sequence[pd.Timestamp | None]
) -> pd.Series:
    """Chain equity curves by their daily returns, starting from `initial`.

    Curve i is used up to (excluding) ``cut_before[i]`` when given; each curve's first session
    contributes no return (every test window starts flat at its close).
    """
    parts: list[pd.Series] = []
    level = float(initial)
    for curve, cut in zip(curves, cut_before, strict=True):
        c = curve if cut is None else curve.loc[curve.index < cut]
        if c.empty:
            continue
        scaled = c / float(c.iloc[0]) * level
        parts.append(scaled)
        level = float(scaled.iloc[-1])
    if not parts:
        return pd.Series(dtype=float)
    out = pd.concat(parts)
    return out[~out.index.duplicated(keep="first")]


def curve_metrics(equity: pd.Series) -> dict[str, float]:
    """Return and risk metrics of an equity curve (`metrics.summary_metrics`, so the formulas
    are the engine's: CAGR over calendar days, sample std × √252, risk-free 0)."""
    from strategy.backtest import metrics as m

    names = ["total_return", "cagr", "mdd", "sharpe", "sortino", "calmar", "volatility"]
    if len(equity) < 2:
        return dict.fromkeys(names, math.nan)
    v = equity.to_numpy(dtype=np.float64)
    days = float((pd.Timestamp(equity.index[-1]) - pd.Timestamp(equity.index[0])).days)
    out = np.full(m.N_METRICS, np.nan)
    m.summary_metrics(v, float(v[0]), days, np.zeros(m.N_ACC), out)
    return {k: float(out[m.METRIC_COLUMNS.index(k)]) for k in names}


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def run_walkforward(
    bars: Mapping[str, pd.DataFrame],
    base_settings: Settings,
    grid: Mapping[str, Any],
    start: date,
    end: date,
    *,
    train_months: int = 24,
    test_months: int = 6,
    step_months: int = 6,
    objective: str = "sharpe",
    min_test_sessions: int = 20,
    n_jobs: int | None = None,
    backend: str | None = None,
    progress: bool = False,
) -> WalkForwardResult:
    """Walk-forward validation of `grid` over `base_settings` on [start, end].

    For each window (`make_windows`): sweep the grid on the train window, take the best row by
    `objective` (ties → lowest combo id), backtest it on the test window from the initial
    capital, and record both objective values. Returns the per-window table, the stitched OOS
    equity and benchmark, and the IS − OOS gap. `n_jobs`/`backend` go to `run_sweep`.
    """
    from strategy.backtest.engine import run_backtest
    from strategy.backtest.sweep import run_sweep

    check_objective(objective)
    parsed = parse_grid(grid)
    windows = make_windows(
        _sessions(bars, base_settings.benchmark),
        start,
        end,
        train_months=train_months,
        test_months=test_months,
        step_months=step_months,
        min_test_sessions=min_test_sessions,
    )
    bars_d = dict(bars)
    rows: list[dict[str, Any]] = []
    results: list[BacktestResult] = []
    sweeps: list[pd.DataFrame] = []
    for w in windows:
        sweep = run_sweep(
            bars,
            base_settings,
            parsed,
            w.train_start,
            w.train_end,
            objective=objective,
            n_jobs=n_jobs,
            backend=backend,
            progress=progress,
        )
        best = sweep.iloc[0]
        values = {name: _plain(best[name]) for name in parsed}
        res = run_backtest(bars_d, settings_for(base_settings, values), w.test_start, w.test_end)
        is_val = float(best[objective])
        oos_val = float(res.metrics[objective])
        rows.append(
            {
                "window": w.index,
                "train_start": w.train_start,
                "train_end": w.train_end,
                "test_start": w.test_start,
                "test_end": w.test_end,
                "n_train": w.n_train,
                "n_test": w.n_test,
                "best_combo_id": int(best["combo_id"]),
                **values,
                f"is_{objective}": is_val,
                f"oos_{objective}": oos_val,
                "oos_total_return": float(res.metrics["total_return"]),
                "oos_mdd": float(res.metrics["mdd"]),
                "oos_n_trades": int(res.metrics["n_trades"]),
                "oos_n_fills": int(res.metrics["n_fills"]),
                "is_n_trades": int(best["n_trades"]) if best["n_trades"] == best["n_trades"]
                else 0,
                "is_all_undefined": bool(sweep[objective].isna().all()),
            }
        )
        results.append(res)
        sweeps.append(sweep)

    table = pd.DataFrame(rows)
    starts = [pd.Timestamp(w.test_start) for w in windows]
    cuts: list[pd.Timestamp | None] = [*starts[1:], None]
    capital = base_settings.strategy.initial_capital
    oos_equity = stitch_equity([r.equity for r in results], capital, cuts)
    oos_bench = stitch_equity([r.benchmark for r in results], capital, cuts)
    is_vals = table[f"is_{objective}"].to_numpy(dtype=float)
    oos_vals = table[f"oos_{objective}"].to_numpy(dtype=float)
    both = np.isfinite(is_vals) & np.isfinite(oos_vals)
    is_mean = float(is_vals[both].mean()) if both.any() else math.nan
    oos_mean = float(oos_vals[both].mean()) if both.any() else math.nan
    return WalkForwardResult(
        objective=objective,
        train_months=train_months,
        test_months=test_months,
        step_months=step_months,
        windows=table,
        oos_equity=oos_equity,
        oos_benchmark=oos_bench,
        is_mean=is_mean,
        oos_mean=oos_mean,
        gap=is_mean - oos_mean,
        n_compared=int(both.sum()),
        oos_metrics=curve_metrics(oos_equity),
        grid=parsed,
        test_results=results,
        sweeps=sweeps,
    )


def window_notes(wf: WalkForwardResult) -> list[str]:
    """What a window's numbers cannot say on their own: an undefined in-sample objective of
    the chosen parameters (and how they were chosen), an undefined OOS objective, and a test
    return made without a closed trade."""
    obj = wf.objective
    notes: list[str] = []
    for r in wf.windows.to_dict(orient="records"):
        tag = f"window {r['window']} ({r['test_start']} .. {r['test_end']})"
        is_v, oos_v = float(r[f"is_{obj}"]), float(r[f"oos_{obj}"])
        if not math.isfinite(is_v):
            how = ("every combination's IS " + obj + " is undefined, so the first grid point "
                   "was taken" if r.get("is_all_undefined") else "chosen despite it")
            notes.append(
                f"{tag}: the chosen parameters' in-sample {obj} is undefined "
                f"({r.get('is_n_trades', 0)} trade(s) in the train window, no return "
                f"variance to measure); {how}; the window is left out of the IS-OOS gap"
            )
        if not math.isfinite(oos_v):
            notes.append(f"{tag}: out-of-sample {obj} is undefined (no return variance in the "
                         "test window); left out of the IS-OOS gap")
        if int(r.get("oos_n_trades", 0)) == 0:
            ret = float(r["oos_total_return"])
            if int(r.get("oos_n_fills", 0)) == 0:
                notes.append(f"{tag}: 0 trades, no fills: the test return {ret:+.2%} is all "
                             "cash (no entry signal in the window)")
            else:
                notes.append(f"{tag}: 0 closed trades: the test return {ret:+.2%} comes from "
                             "position(s) opened in the window and still held at its end, "
                             "marked at the last close (net of entry costs)")
    return notes
