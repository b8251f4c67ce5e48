"""Sweep: grid parsing and validation, indicator sharing, equality with run_backtest, parallel
paths (joblib processes, dask) and determinism."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from contracts.settings import Settings
from strategy.backtest import grid as grid_mod
from strategy.backtest import sweep as sweep_mod
from strategy.backtest.grid import (
    GridError,
    expand_grid,
    expand_range,
    parse_grid,
    parse_grid_yaml,
    parse_set_items,
    settings_for,
)
from strategy.backtest.sweep import rank_results, run_sweep

START = date(2021, 1, 4)
END = date(2023, 12, 28)


SMALL_GRID = {
    "rsi_period": [14, 40],
    "rsi_buy_threshold": [40, 50],
    "stop_loss_pct": [0.08, 0.12],
    "chop_action": ["block_entries", "exit_all"],
}


# --- grid parsing -------------------------------------------------------------------------


def test_parse_grid_yaml_lists_ranges_and_scalars() -> None:
    grid = parse_grid_yaml(
        """
        rsi_buy_threshold: [40, 45, 50]
        regime_ma_long: {start: 100, stop: 140, step: 20}
        stop_loss_pct: {start: 0.1, stop: 0.3, step: 0.1}
        chop_action: exit_all
        guardrails.max_orders: [10, 20]
        """
    )
    assert grid == {
        "rsi_buy_threshold": [40.0, 45.0, 50.0],
        "regime_ma_long": [100, 120, 140],
        "stop_loss_pct": [0.1, 0.2, 0.3],  # decimal steps: no 0.30000000000000004
        "chop_action": ["exit_all"],
        "max_orders": [10, 20],
    }
    assert all(isinstance(v, int) for v in grid["regime_ma_long"])


def test_parse_grid_yaml_unwraps_grid_key() -> None:
    assert parse_grid_yaml("grid:\n  rsi_period: [14]\n") == {"rsi_period": [14]}


def test_parse_set_items_ranges_lists_and_values() -> None:
    spec = parse_set_items(
        [
            "rsi_buy_threshold=40:55:5",
            "chop_action=block_entries,exit_all",
            "max_positions=3",
            "golden_cross_override=false",
        ]
    )
    grid = parse_grid(spec)
    assert grid == {
        "rsi_buy_threshold": [40.0, 45.0, 50.0, 55.0],  # stop is inclusive
        "chop_action": ["block_entries", "exit_all"],
        "max_positions": [3],
        "golden_cross_override": [False],
    }


def test_expand_range_does_not_overshoot_stop() -> None:
    assert expand_range("x", 40, 54, 5) == [40, 45, 50]
    assert expand_range("x", "0.05", "0.15", "0.05") == [0.05, 0.1, 0.15]


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        ("rsi_buy_threshold", "expected name="),
        ("rsi_buy_threshold=1:2", "start:stop:step"),
        ("=3", "expected name="),
    ],
)
def test_parse_set_items_malformed_is_error(item: str, needle: str) -> None:
    with pytest.raises(GridError, match=needle):
        parse_set_items([item])


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ({"rsi_buy_threshold": [40, 150]}, ["rsi_buy_threshold", "150"]),
        ({"max_positions": [2.5]}, ["max_positions", "2.5"]),
        ({"chop_action": ["sometimes"]}, ["chop_action", "sometimes"]),
        ({"stop_loss_pct": {"start": 0.1, "stop": 1.2, "step": 0.5}}, ["stop_loss_pct", "1.1"]),
        ({"rsi_period": {"start": 10, "stop": 5, "step": 1}}, ["rsi_period", "below start"]),
        ({"rsi_period": {"start": 10, "stop": 20, "step": 0}}, ["rsi_period", "step"]),
        ({"rsi_period": {"start": 10, "stop": 20}}, ["rsi_period", "start, stop, step"]),
        ({"rsi_period": []}, ["rsi_period", "empty"]),
        ({"rsi_period": {"start": "ten", "stop": 20, "step": 1}}, ["rsi_period", "ten"]),
    ],
)
def test_parse_grid_invalid_value_names_parameter_and_value(
    spec: dict[str, object], needles: list[str]
) -> None:
    with pytest.raises(GridError) as info:
        parse_grid(spec)
    for needle in needles:
        assert needle in str(info.value)


def test_parse_grid_unknown_parameter_is_error_with_suggestion() -> None:
    with pytest.raises(
        GridError,
        match=r"unknown grid parameter 'rsi_buy_treshold'.*"
        r"did you mean 'rsi_buy_threshold'",
    ):
        parse_grid({"rsi_buy_treshold": [40]})


def test_parse_grid_rejects_guardrail_without_backtest_effect() -> None:
    with pytest.raises(GridError, match="max_data_age_sessions.*does not affect a backtest"):
        parse_grid({"max_data_age_sessions": [1]})


def test_parse_grid_coerces_and_dedupes_values() -> None:
    assert parse_grid({"rsi_buy_threshold": ["45", 45, 45.0, 50]}) == {
        "rsi_buy_threshold": [45.0, 50.0]
    }


def test_expand_grid_skips_and_counts_cross_field_violations() -> None:
    grid = parse_grid({"rsi_buy_threshold": [50, 60, 70], "rsi_sell_threshold": [60, 70]})
    exp = expand_grid(Settings(), grid)
    kept = [
        (c.values["rsi_buy_threshold"], c.values["rsi_sell_threshold"]) for c in exp.combinations
    ]
    assert kept == [(50.0, 60.0), (50.0, 70.0), (60.0, 70.0)]
    assert [c.combo_id for c in exp.combinations] == [0, 1, 3]
    assert len(exp.skipped) == 3
    assert "must be below" in exp.skipped[0][1]


def test_expand_grid_all_invalid_is_error() -> None:
    with pytest.raises(GridError, match="every combination"):
        expand_grid(Settings(), parse_grid({"ma_short_period": [200], "regime_ma_long": [100]}))


def test_settings_for_applies_strategy_and_guardrail_values() -> None:
    s = settings_for(Settings(), {"rsi_period": 14, "max_orders": 7})
    assert s.strategy.rsi_period == 14
    assert s.guardrails.max_orders == 7
    with pytest.raises(GridError, match="rsi_buy_threshold"):
        settings_for(Settings(), {"rsi_buy_threshold": 90})


def test_rank_results_orders_by_objective_nan_last_ties_by_combo() -> None:
    df = pd.DataFrame(
        {
            "combo_id": [0, 1, 2, 3, 4],
            "sharpe": [0.5, np.nan, 1.2, 0.5, -0.1],
            "volatility": [0.3, 0.1, 0.2, 0.2, np.nan],
        }
    )
    ranked = rank_results(df, "sharpe")
    assert ranked["combo_id"].tolist() == [2, 0, 3, 4, 1]
    assert ranked["rank"].tolist() == [1, 2, 3, 4, 5]
    assert rank_results(df, "volatility")["combo_id"].tolist() == [1, 2, 3, 0, 4]
    with pytest.raises(GridError, match="objective"):
        rank_results(df, "nope")


# --- running on the real data -------------------------------------------------------------


def test_run_sweep_unknown_objective_is_error(real_bars: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(GridError, match="unknown objective 'sharp'"):
        run_sweep(real_bars, Settings(), SMALL_GRID, START, END, objective="sharp")


@pytest.fixture(scope="module")
def small_sweep(real_bars: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return run_sweep(real_bars, Settings(), SMALL_GRID, START, END, n_jobs=1)


def test_run_sweep_columns_and_attrs(small_sweep: pd.DataFrame) -> None:
    from strategy.backtest.engine import METRIC_COLUMNS

    assert list(small_sweep.columns) == ["rank", "combo_id", *SMALL_GRID, *METRIC_COLUMNS]
    assert len(small_sweep) == 16
    assert sorted(small_sweep["combo_id"]) == list(range(16))
    assert small_sweep.attrs["objective"] == "sharpe"
    assert small_sweep.attrs["n_skipped"] == 0
    assert small_sweep.attrs["n_groups"] == 2
    assert small_sweep.attrs["execution"] == "inprocess x1"


def test_run_sweep_ranked_by_objective(small_sweep: pd.DataFrame) -> None:
    values = small_sweep["sharpe"].to_numpy()
    finite = values[np.isfinite(values)]
    assert np.all(np.diff(finite) <= 0)
    assert small_sweep["rank"].tolist() == list(range(1, len(small_sweep) + 1))


def test_run_sweep_rows_equal_run_backtest(
    real_bars: dict[str, pd.DataFrame], small_sweep: pd.DataFrame
) -> None:
    from strategy.backtest.engine import METRIC_COLUMNS, run_backtest

    rng = np.random.default_rng(7)
    for i in rng.choice(len(small_sweep), size=4, replace=False):
        row = small_sweep.iloc[int(i)]
        settings = settings_for(Settings(), {k: row[k] for k in SMALL_GRID})
        res = run_backtest(real_bars, settings, START, END)
        for col in METRIC_COLUMNS:
            np.testing.assert_allclose(
                row[col],
                res.metrics[col],
                rtol=1e-12,
                atol=1e-9,
                equal_nan=True,
                err_msg=f"combo {row['combo_id']} {col}",
            )


def test_run_sweep_is_deterministic(
    real_bars: dict[str, pd.DataFrame], small_sweep: pd.DataFrame
) -> None:
    again = run_sweep(real_bars, Settings(), SMALL_GRID, START, END, n_jobs=1, batch_size=3)
    pd.testing.assert_frame_equal(again, small_sweep)


def test_run_sweep_computes_indicators_once_per_group(
    real_bars: dict[str, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    from strategy.backtest import engine

    calls: list[tuple[int, int, int, int]] = []
    rsi_periods: list[int] = []
    real_get = engine.IndicatorCache.get
    real_rsi = engine.IndicatorCache._rsi_of

    def spy(self, *, rsi_period, regime_ma_long, ma_short_period, adx_period):  # type: ignore[no-untyped-def]
        calls.append((rsi_period, regime_ma_long, ma_short_period, adx_period))
        return real_get(
            self,
            rsi_period=rsi_period,
            regime_ma_long=regime_ma_long,
            ma_short_period=ma_short_period,
            adx_period=adx_period,
        )

    def rsi_spy(self, period):  # type: ignore[no-untyped-def]
        rsi_periods.append(period)
        return real_rsi(self, period)

    monkeypatch.setattr(engine.IndicatorCache, "get", spy)
    monkeypatch.setattr(engine.IndicatorCache, "_rsi_of", rsi_spy)
    grid = {
        "rsi_period": [14, 40],
        "regime_ma_long": [100, 120],
        "rsi_buy_threshold": [40, 45, 50],
        "stop_loss_pct": [0.1, 0.12],
    }
    df = run_sweep(real_bars, Settings(), grid, START, END, n_jobs=1, batch_size=2)
    assert len(df) == 24
    assert sorted(calls) == [
        (14, 100, 60, 30),
        (14, 120, 60, 30),
        (40, 100, 60, 30),
        (40, 120, 60, 30),
    ]
    assert df.attrs["n_groups"] == 4
    # Shared across groups: each RSI period once, whatever the SMA periods.
    assert sorted(rsi_periods) == [14, 40]


def test_run_sweep_counts_skipped_combinations(real_bars: dict[str, pd.DataFrame]) -> None:
    df = run_sweep(
        real_bars,
        Settings(),
        {"rsi_buy_threshold": [50, 60, 70], "rsi_sell_threshold": [60, 70]},
        START,
        END,
        n_jobs=1,
    )
    assert len(df) == 3
    assert df.attrs["n_skipped"] == 3
    assert sorted(df["combo_id"]) == [0, 1, 3]


def test_run_sweep_joblib_processes_match_in_process(
    real_bars: dict[str, pd.DataFrame], small_sweep: pd.DataFrame
) -> None:
    df = run_sweep(
        real_bars, Settings(), SMALL_GRID, START, END, n_jobs=2, backend="loky", batch_size=3
    )
    pd.testing.assert_frame_equal(df, small_sweep)


def test_run_sweep_threads_match_in_process(
    real_bars: dict[str, pd.DataFrame], small_sweep: pd.DataFrame
) -> None:
    df = run_sweep(
        real_bars, Settings(), SMALL_GRID, START, END, n_jobs=2, backend="threading", batch_size=3
    )
    pd.testing.assert_frame_equal(df, small_sweep)


def test_run_sweep_nogil_threads_match_one_core(
    real_bars: dict[str, pd.DataFrame], small_sweep: pd.DataFrame
) -> None:
    df = run_sweep(
        real_bars, Settings(), SMALL_GRID, START, END, n_jobs=2, backend="threads", batch_size=2
    )
    assert df.attrs["execution"] == "threads x2"
    pd.testing.assert_frame_equal(df, small_sweep)


def test_compiled_kernel_releases_the_gil(real_bars: dict[str, pd.DataFrame]) -> None:
    """While a compiled batch runs on one thread, Python code keeps running on another: the
    kernel was compiled with nogil (else the main loop below could not advance at all)."""
    import threading

    import numpy as np

    from strategy.backtest.engine import compute_indicators, prepare_market, run_batch
    from strategy.params import param_vector

    s = Settings()
    m = prepare_market(real_bars, s.universe, s.benchmark, START, END)
    ind = compute_indicators(m, rsi_period=40, regime_ma_long=120, ma_short_period=60,
                             adx_period=30)
    p = param_vector(s.strategy, s.guardrails)[None, :]
    run_batch(m, ind, p, 1e7)  # compiled / loaded from the cache before timing
    batch = np.repeat(p, 3000, axis=0)
    done = threading.Event()
    counts = {"during": 0}

    def work() -> None:
        run_batch(m, ind, batch, 1e7)
        done.set()

    th = threading.Thread(target=work)
    th.start()
    while not done.is_set():
        counts["during"] += 1
    th.join()
    assert counts["during"] > 10_000, counts


def test_run_sweep_dask_backend_by_configuration_only(
    real_bars: dict[str, pd.DataFrame], small_sweep: pd.DataFrame
) -> None:
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_config

    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
        parallel_config(backend="dask"),
    ):
        df = run_sweep(real_bars, Settings(), SMALL_GRID, START, END, batch_size=3)
        # The batches really ran as dask tasks.
        assert any(
            "_run_task" in str(k) or "batch" in str(k).lower()
            for k in client.run_on_scheduler(_task_prefixes)
        )
    pd.testing.assert_frame_equal(df, small_sweep)


def _task_prefixes(dask_scheduler) -> list[str]:  # type: ignore[no-untyped-def]
    return list(dask_scheduler.task_prefixes)


def test_run_sweep_progress_bar_shows_only_past_2_seconds(
    real_bars: dict[str, pd.DataFrame], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grid = {"rsi_buy_threshold": [40, 50]}
    run_sweep(real_bars, Settings(), grid, START, END, n_jobs=1, progress=True)
    assert "sweep" not in capsys.readouterr().err  # a quick sweep stays quiet
    import time

    real_task = sweep_mod._run_task

    def slow(*args: object) -> object:
        time.sleep(1.3)
        return real_task(*args)

    monkeypatch.setattr(sweep_mod, "_run_task", slow)
    run_sweep(real_bars, Settings(), grid, START, END, n_jobs=1, progress=True, batch_size=1)
    err = capsys.readouterr().err
    assert "sweep" in err and "2/2" in err


def test_plan_tasks_splits_groups_into_batches() -> None:
    exp = expand_grid(
        Settings(), parse_grid({"rsi_period": [14, 40], "rsi_buy_threshold": [30, 35, 40, 45, 50]})
    )
    keys, tasks = sweep_mod._plan_tasks(exp.combinations, n_workers=2, batch_size=None)
    assert len(keys) == 2
    assert [len(t.rows) for t in tasks] == [3, 2, 3, 2]
    assert tasks[0].params.shape[1] == 14


def test_plan_execution_small_sweep_runs_in_process_by_default() -> None:
    plan = sweep_mod.plan_execution(None, None, estimated_seconds=0.3)
    assert (plan.mode, plan.workers) == ("inprocess", 1)


def test_plan_execution_large_sweep_uses_threads_on_all_cores() -> None:
    import os

    plan = sweep_mod.plan_execution(None, None, estimated_seconds=60.0)
    expected = ("threads", os.cpu_count()) if (os.cpu_count() or 1) > 1 else ("inprocess", 1)
    assert (plan.mode, plan.workers) == expected


def test_plan_execution_explicit_jobs_and_backend_are_honoured() -> None:
    assert sweep_mod.plan_execution(2, None, 1.0).mode == "threads"
    assert sweep_mod.plan_execution(2, None, 1.0).workers == 2
    assert sweep_mod.plan_execution(2, None, 0.01).mode == "inprocess"  # too small to split
    assert sweep_mod.plan_execution(2, "threads", 0.01).mode == "threads"  # asked for
    assert sweep_mod.plan_execution(2, "loky", 0.1).mode == "loky"
    assert sweep_mod.plan_execution(1, None, 60.0).mode == "inprocess"
    assert sweep_mod.plan_execution(None, "threading", 0.1).mode == "threading"
    assert sweep_mod.plan_execution(4, "inprocess", 60.0).mode == "inprocess"


def test_plan_execution_follows_parallel_config() -> None:
    from joblib import parallel_config

    with parallel_config(backend="threading", n_jobs=3):
        plan = sweep_mod.plan_execution(None, None, estimated_seconds=0.1)
    assert (plan.mode, plan.workers, plan.backend) == ("threading", 3, None)


def test_expand_grid_fast_path_equals_full_model_validation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grid = parse_grid({"rsi_buy_threshold": [40, 55, 70], "rsi_sell_threshold": [50, 60, 75],
                       "ma_short_period": [60, 120], "stop_loss_pct": [0.1, 0.2]})
    fast = expand_grid(Settings(), grid)
    monkeypatch.setattr(grid_mod, "_only_cross_field_rules", lambda model: False)
    full = expand_grid(Settings(), grid)
    assert [c.combo_id for c in fast.combinations] == [c.combo_id for c in full.combinations]
    for a, b in zip(fast.combinations, full.combinations, strict=True):
        assert (a.params == b.params).all() and a.group == b.group and a.values == b.values
    assert [p for p, _ in fast.skipped] == [p for p, _ in full.skipped]
    assert len(fast.skipped) > 0 and len(fast.combinations) > 0
    assert [r for _, r in fast.skipped] == [r for _, r in full.skipped]
    assert all("must be" in r for _, r in fast.skipped)


def test_expand_grid_refuses_true_false_for_a_number_and_keeps_the_fast_path() -> None:
    with pytest.raises(GridError, match="stop_loss_pct.*true/false"):
        grid_mod.expand_grid(Settings(), {"stop_loss_pct": [True]})
    # The base model's per-field checks do not force a full model validation per combination.
    from contracts.settings import StrategyParams

    assert grid_mod._only_cross_field_rules(StrategyParams)
