"""Walk-forward: session-aligned windows, stitching, the IS/OOS gap and the per-window runs."""

from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from contracts.settings import Settings
from strategy.backtest.walkforward import (
    WalkForwardError,
    curve_metrics,
    make_windows,
    run_walkforward,
    stitch_equity,
)
from strategy.calendar import sessions_in_range

GRID = {"rsi_buy_threshold": [45, 55], "stop_loss_pct": [0.08, 0.12]}


@pytest.fixture(scope="module")
def sessions() -> np.ndarray:
    return np.array(sessions_in_range(date(2020, 1, 2), date(2025, 12, 30)), dtype="datetime64[D]")


def test_make_windows_boundaries_are_sessions_and_contiguous(sessions: np.ndarray) -> None:
    ws = make_windows(
        sessions,
        date(2020, 7, 1),
        date(2025, 12, 29),
        train_months=24,
        test_months=6,
        step_months=6,
    )
    days = set(sessions.tolist())
    for w in ws:
        for d in (w.train_start, w.train_end, w.test_start, w.test_end):
            assert d in days
        # Train ends on the session just before the test starts: contiguous, no overlap.
        i = int(np.searchsorted(sessions, np.datetime64(w.test_start, "D")))
        assert sessions[i - 1] == np.datetime64(w.train_end, "D")
        assert w.n_test == int(np.searchsorted(sessions, np.datetime64(w.test_end, "D"))) - i + 1
    first = ws[0]
    assert (first.train_start, first.train_end) == (date(2020, 7, 1), date(2022, 6, 30))
    assert (first.test_start, first.test_end) == (date(2022, 7, 1), date(2022, 12, 29))
    # Windows step by 6 months; the test windows tile the out-of-sample span.
    assert [w.test_start for w in ws] == [
        date(2022, 7, 1),
        date(2023, 1, 2),
        date(2023, 7, 3),
        date(2024, 1, 2),
        date(2024, 7, 1),
        date(2025, 1, 2),
        date(2025, 7, 1),
    ]
    for a, b in zip(ws, ws[1:], strict=False):
        i = int(np.searchsorted(sessions, np.datetime64(b.test_start, "D")))
        assert sessions[i - 1] == np.datetime64(a.test_end, "D")
    # The last test window is clipped at `end`.
    assert ws[-1].test_end == date(2025, 12, 29)


def test_make_windows_drops_short_last_test_window(sessions: np.ndarray) -> None:
    ws = make_windows(
        sessions,
        date(2020, 7, 1),
        date(2025, 7, 10),
        train_months=24,
        test_months=6,
        step_months=6,
        min_test_sessions=20,
    )
    assert ws[-1].test_start == date(2025, 1, 2)
    ws = make_windows(
        sessions,
        date(2020, 7, 1),
        date(2025, 7, 10),
        train_months=24,
        test_months=6,
        step_months=6,
        min_test_sessions=5,
    )
    assert ws[-1].test_start == date(2025, 7, 1)
    assert ws[-1].test_end == date(2025, 7, 10)


def test_make_windows_step_smaller_than_test_overlaps_tests(sessions: np.ndarray) -> None:
    ws = make_windows(
        sessions,
        date(2021, 1, 4),
        date(2023, 12, 28),
        train_months=12,
        test_months=6,
        step_months=3,
    )
    assert ws[1].test_start < ws[0].test_end
    assert [w.index for w in ws] == list(range(len(ws)))


@pytest.mark.parametrize("kw", [{"train_months": 0}, {"test_months": -1}, {"step_months": 0}])
def test_make_windows_rejects_non_positive_lengths(
    sessions: np.ndarray, kw: dict[str, int]
) -> None:
    args = {"train_months": 24, "test_months": 6, "step_months": 6, **kw}
    with pytest.raises(WalkForwardError, match="must be >= 1"):
        make_windows(sessions, date(2020, 7, 1), date(2025, 12, 29), **args)


def test_make_windows_no_room_is_error(sessions: np.ndarray) -> None:
    with pytest.raises(WalkForwardError, match="no walk-forward window fits"):
        make_windows(
            sessions,
            date(2024, 1, 2),
            date(2025, 12, 29),
            train_months=24,
            test_months=6,
            step_months=6,
        )


def _series(days: list[str], values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.DatetimeIndex(days))


def test_stitch_equity_chains_returns() -> None:
    a = _series(["2024-01-02", "2024-01-03", "2024-01-04"], [100.0, 110.0, 121.0])
    b = _series(["2024-01-05", "2024-01-08"], [100.0, 90.0])
    out = stitch_equity([a, b], 1000.0, [None, None])
    assert out.index.tolist() == [*a.index, *b.index]
    np.testing.assert_allclose(out.to_numpy(), [1000, 1100, 1210, 1210, 1089])


def test_stitch_equity_cuts_overlapping_windows() -> None:
    a = _series(["2024-01-02", "2024-01-03", "2024-01-04"], [100.0, 110.0, 121.0])
    b = _series(["2024-01-04", "2024-01-05"], [50.0, 60.0])
    out = stitch_equity([a, b], 100.0, [pd.Timestamp("2024-01-04"), None])
    np.testing.assert_allclose(out.to_numpy(), [100, 110, 110, 132])


def test_curve_metrics_follow_strategy_formulas() -> None:
    eq = _series(
        ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], [100.0, 110.0, 99.0, 108.9]
    )
    m = curve_metrics(eq)
    r = np.array([0.1, -0.1, 0.1])
    assert m["total_return"] == pytest.approx(0.089)
    assert m["mdd"] == pytest.approx(-0.1)
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    assert m["cagr"] == pytest.approx(1.089 ** (365.25 / 3) - 1)


@pytest.fixture(scope="module")
def wf(real_bars: dict[str, pd.DataFrame]):  # type: ignore[no-untyped-def]
    return run_walkforward(
        real_bars,
        Settings(),
        GRID,
        date(2020, 7, 1),
        date(2025, 12, 29),
        train_months=12,
        test_months=6,
        step_months=6,
        n_jobs=1,
    )


def test_run_walkforward_windows_table(wf) -> None:  # type: ignore[no-untyped-def]
    t = wf.windows
    assert len(t) == 9
    assert t["test_start"].tolist()[:4] == [
        date(2021, 7, 1),
        date(2022, 1, 3),
        date(2022, 7, 1),
        date(2023, 1, 2),
    ]
    assert t["train_start"].iloc[0] == date(2020, 7, 1)
    assert t["train_end"].iloc[0] == date(2021, 6, 30)
    assert t["test_end"].iloc[-1] == date(2025, 12, 29)
    for col in ["train_start", "train_end", "best_combo_id", *GRID, "is_sharpe", "oos_sharpe"]:
        assert col in t.columns


def test_run_walkforward_best_is_train_sweep_winner(wf) -> None:  # type: ignore[no-untyped-def]
    for row, sweep in zip(wf.windows.to_dict(orient="records"), wf.sweeps, strict=True):
        assert row["best_combo_id"] == sweep["combo_id"].iloc[0]
        assert row["is_sharpe"] == pytest.approx(sweep["sharpe"].iloc[0], nan_ok=True)
        assert row["is_sharpe"] == pytest.approx(sweep["sharpe"].max(), nan_ok=True)
        assert sweep.attrs["start"] == str(row["train_start"])
        assert sweep.attrs["end"] == str(row["train_end"])


def test_run_walkforward_oos_runs_are_test_window_backtests(
    wf,
    real_bars: dict[str, pd.DataFrame],  # type: ignore[no-untyped-def]
) -> None:
    from strategy.backtest.engine import run_backtest
    from strategy.backtest.grid import settings_for

    row = wf.windows.iloc[6]  # a window that trades out of sample
    assert row["oos_n_trades"] > 0
    res = run_backtest(
        real_bars,
        settings_for(Settings(), {k: row[k] for k in GRID}),
        row["test_start"],
        row["test_end"],
    )
    assert res.metrics["sharpe"] == pytest.approx(row["oos_sharpe"], nan_ok=True)
    eq = wf.test_results[6].equity
    assert eq.index[0].date() == row["test_start"] and eq.index[-1].date() == row["test_end"]
    assert eq.iloc[0] == Settings().strategy.initial_capital


def test_run_walkforward_gap_is_mean_is_minus_mean_oos(wf) -> None:  # type: ignore[no-untyped-def]
    is_v = wf.windows["is_sharpe"].to_numpy(dtype=float)
    oos_v = wf.windows["oos_sharpe"].to_numpy(dtype=float)
    ok = np.isfinite(is_v) & np.isfinite(oos_v)
    assert 0 < ok.sum() < len(ok)  # windows without trades have no Sharpe and are left out
    assert wf.is_mean == pytest.approx(is_v[ok].mean())
    assert wf.oos_mean == pytest.approx(oos_v[ok].mean())
    assert wf.gap == pytest.approx(wf.is_mean - wf.oos_mean)
    assert wf.n_compared == ok.sum()


def test_run_walkforward_stitched_equity_chains_test_returns(wf) -> None:  # type: ignore[no-untyped-def]
    eq = wf.oos_equity
    assert eq.index[0].date() == date(2021, 7, 1)
    assert eq.index[-1].date() == date(2025, 12, 29)
    assert eq.index.is_monotonic_increasing and not eq.index.has_duplicates
    growth = np.prod([r.equity.iloc[-1] / r.equity.iloc[0] for r in wf.test_results])
    assert eq.iloc[-1] / eq.iloc[0] == pytest.approx(growth)
    assert wf.oos_metrics["total_return"] == pytest.approx(growth - 1)


def test_run_walkforward_to_dict_is_json(wf) -> None:  # type: ignore[no-untyped-def]
    d = json.loads(json.dumps(wf.to_dict()))
    assert d["objective"] == "sharpe"
    assert len(d["windows"]) == 9
    assert d["windows"][0]["test_start"] == "2021-07-01"
    assert d["gap"] == pytest.approx(wf.gap)
