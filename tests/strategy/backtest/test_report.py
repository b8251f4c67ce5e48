"""Reports: figure builders (regime bands, trades, tables, heatmap) and self-contained HTML."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from contracts.settings import Settings
from strategy.backtest import figures, frames, report
from strategy.backtest.walkforward import WalkForwardResult, run_walkforward


def assert_self_contained(html: str) -> None:
    """No external script, stylesheet or image: the page must open offline."""
    assert "<script src=" not in html.lower()
    assert not re.search(r"<script[^>]*\ssrc\s*=", html, flags=re.IGNORECASE)
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']https?://", html, flags=re.IGNORECASE)
    assert not re.search(r"<img[^>]*src\s*=\s*[\"']https?://", html, flags=re.IGNORECASE)
    # plotly.js itself is inlined (its bundle is megabytes).
    assert len(html) > 1_000_000
    assert "Plotly.newPlot" in html


@pytest.fixture(scope="module")
def sweep_df() -> pd.DataFrame:
    """A synthetic ranked sweep: sharpe = x/10 + y/100 + z (z an extra swept parameter)."""
    from strategy.backtest.engine import METRIC_COLUMNS
    from strategy.backtest.sweep import rank_results

    rows = []
    combo = 0
    for x in (40.0, 45.0, 50.0):
        for y in (65.0, 70.0):
            for z in (0.0, 1.0):
                m = dict.fromkeys(METRIC_COLUMNS, 0.0)
                m["sharpe"] = x / 10 + y / 100 + z
                rows.append(
                    {
                        "combo_id": combo,
                        "rsi_buy_threshold": x,
                        "rsi_sell_threshold": y,
                        "z": z,
                        **m,
                    }
                )
                combo += 1
    df = rank_results(pd.DataFrame(rows), "sharpe")
    df.attrs.update(objective="sharpe", start="2021-01-04", end="2025-12-29", n_skipped=0)
    return df


@pytest.fixture(scope="module")
def small_wf(real_bars: dict[str, pd.DataFrame]) -> WalkForwardResult:
    return run_walkforward(
        real_bars,
        Settings(),
        {"rsi_buy_threshold": [45, 55]},
        date(2023, 1, 1),
        date(2025, 12, 29),
        train_months=12,
        test_months=6,
        step_months=6,
        n_jobs=1,
    )


def test_equity_figure_shades_regimes_and_chop(default_result: Any) -> None:
    fig = figures.equity_figure(default_result)
    assert fig.layout.title.text == figures.TITLE_EQUITY
    assert [t.name for t in fig.data[:2]] == ["strategy", "benchmark (buy & hold)"]
    shapes = fig.layout.shapes
    bands = [s for s in shapes if s.y0 == 0 and s.y1 == 1]
    strips = [s for s in shapes if s.y0 == 0.95]
    regime = default_result.regime
    # One band per run of equal regime, coloured by regime, covering the window.
    runs = int((regime != regime.shift()).sum())
    assert len(bands) == runs
    assert {s.fillcolor for s in bands} <= set(figures.REGIME_COLORS.values())
    assert pd.Timestamp(bands[0].x0) == regime.index[0]
    assert pd.Timestamp(bands[-1].x1) == regime.index[-1]
    chop = default_result.chop.map(lambda v: v is True)
    chop_runs = int((chop & ~chop.shift(fill_value=False)).sum())
    assert len(strips) == chop_runs > 0
    assert {s.fillcolor for s in strips} == {figures.CHOP_COLOR}


def test_regime_shapes_bands_follow_runs() -> None:
    idx = pd.bdate_range("2024-01-01", periods=6)
    regime = pd.Series(["UNKNOWN", "BULL", "BULL", "BEAR", "BEAR", "BULL"], index=idx)
    chop = pd.Series([np.nan, True, False, False, True, True], index=idx, dtype=object)
    shapes = figures.regime_shapes(regime, chop)
    bands = [(s["fillcolor"], s["x0"], s["x1"]) for s in shapes if s["y1"] == 1 and s["y0"] == 0]
    assert bands == [
        (figures.REGIME_COLORS["UNKNOWN"], idx[0], idx[1]),
        (figures.REGIME_COLORS["BULL"], idx[1], idx[3]),
        (figures.REGIME_COLORS["BEAR"], idx[3], idx[5]),
        (figures.REGIME_COLORS["BULL"], idx[5], idx[5]),
    ]
    strips = [(s["x0"], s["x1"]) for s in shapes if s["y0"] == 0.95]
    assert strips == [(idx[1], idx[2]), (idx[4], idx[5])]


def test_drawdown_figure_is_fraction_below_peak(default_result: Any) -> None:
    fig = figures.drawdown_figure(default_result)
    dd = np.asarray(fig.data[0].y, dtype=float)
    assert dd.max() <= 0
    assert dd.min() == pytest.approx(default_result.metrics["mdd"])


def test_trades_figure_marks_every_fill_with_ticker_selector(
    default_result: Any, real_bars: dict[str, pd.DataFrame]
) -> None:
    fills = default_result.fills
    fig = figures.trades_figure(default_result, real_bars)
    tickers = frames.traded_tickers(default_result)
    assert len(tickers) > 1
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == [frames.instrument_label(t) for t in tickers]
    assert all(" " in b.label for b in buttons)  # code and Korean name
    markers = [t for t in fig.data if t.mode == "markers"]
    assert sum(len(t.x) for t in markers) == len(fills)
    buys = [t for t in markers if t.name.endswith(" buy")]
    assert sum(len(t.x) for t in buys) == int((fills["side"] == "BUY").sum())
    closes = [t for t in fig.data if t.name.endswith(" close")]
    assert len(closes) == len(tickers)
    # Only the first ticker is visible until another is picked.
    visible = {t.name.split()[0] for t in fig.data if t.visible is not False}
    assert visible == {tickers[0]}
    assert fig.layout.title.text == f"{figures.TITLE_TRADES}: {frames.instrument_label(tickers[0])}"


def test_per_year_frame_adds_benchmark_return(default_result: Any) -> None:
    frame = frames.per_year_frame(default_result)
    assert frame["year"].tolist() == [2021, 2022, 2023, 2024, 2025]
    bench = default_result.benchmark
    ends = bench.groupby(bench.index.year).last()
    expected = ends / ends.shift(1).fillna(bench.iloc[0]) - 1
    np.testing.assert_allclose(frame["benchmark_return"], expected.to_numpy())


def test_metrics_frame_lists_every_metric_with_benchmark(default_result: Any) -> None:
    frame = frames.metrics_frame(default_result)
    assert frame["metric"].tolist() == list(default_result.metrics)
    row = frame.set_index("metric").loc["total_return"]
    assert row["strategy"] == f"{default_result.metrics['total_return'] * 100:.2f}%"
    bench_tr = default_result.meta["benchmark_metrics"]["total_return"]
    assert row["benchmark (buy & hold)"] == f"{bench_tr * 100:.2f}%"


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("cagr", 0.1234, "12.34%"),
        ("final_equity", 12345678.9, "12,345,679"),
        ("year", 2021, "2021"),
        ("n_trades", 13.0, "13"),
        ("sharpe", float("nan"), "—"),
        ("stop_loss_pct", 0.08, "8.00%"),
        ("oos_sharpe", 0.61234, "0.612"),
        ("pnl", -23913.4, "-23,913"),
        ("best_return", 0.0512, "5.12%"),
        ("rsi_buy_threshold", 42.5, "42.5"),
    ],
)
def test_format_value(name: str, value: object, text: str) -> None:
    assert frames.format_value(name, value) == text


def test_write_backtest_report_self_contained_with_titles(
    default_result: Any, real_bars: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    path = report.write_backtest_report(
        default_result, tmp_path / "out" / "bt.html", title="Defaults 2021-2025", bars=real_bars
    )
    html = path.read_text(encoding="utf-8")
    assert_self_contained(html)
    assert "<title>Defaults 2021-2025</title>" in html
    for title in (
        figures.TITLE_EQUITY,
        figures.TITLE_DRAWDOWN,
        figures.TITLE_TRADES,
        figures.TITLE_PER_YEAR,
        figures.TITLE_METRICS,
    ):
        assert title in html
    assert html.count("Plotly.newPlot") == 5  # equity, drawdown, monthly, exposure, trades


def test_sweep_heatmap_aggregates_other_parameters_by_max(sweep_df: pd.DataFrame) -> None:
    fig = figures.sweep_heatmap_figure(
        sweep_df, "rsi_buy_threshold", "rsi_sell_threshold", "sharpe"
    )
    hm = fig.data[0]
    assert isinstance(hm, go.Heatmap)
    assert list(hm.x) == ["40.0", "45.0", "50.0"]
    assert list(hm.y) == ["65.0", "70.0"]
    z = np.asarray(hm.z, dtype=float)
    expected = [[x / 10 + y / 100 + 1.0 for x in (40, 45, 50)] for y in (65, 70)]
    np.testing.assert_allclose(z, expected)
    assert figures.TITLE_HEATMAP in fig.layout.title.text


def test_sweep_heatmap_one_parameter_is_one_row(sweep_df: pd.DataFrame) -> None:
    fig = figures.sweep_heatmap_figure(sweep_df, "rsi_buy_threshold", "rsi_buy_threshold", "sharpe")
    z = np.asarray(fig.data[0].z, dtype=float)
    np.testing.assert_allclose(z, [[x / 10 + 0.7 + 1.0 for x in (40, 45, 50)]])


def test_sweep_heatmap_unknown_column_is_error(sweep_df: pd.DataFrame) -> None:
    with pytest.raises(KeyError, match="nope"):
        figures.sweep_heatmap_figure(sweep_df, "nope", "rsi_sell_threshold", "sharpe")


def test_sweep_top_frame_keeps_rank_order_and_params(sweep_df: pd.DataFrame) -> None:
    top = frames.sweep_top_frame(sweep_df, "sharpe", n=3)
    assert top["rank"].tolist() == [1, 2, 3]
    assert list(top.columns[:5]) == [
        "rank",
        "rsi_buy_threshold",
        "rsi_sell_threshold",
        "z",
        "sharpe",
    ]
    assert top["sharpe"].iloc[0] == sweep_df["sharpe"].max()


def test_write_sweep_report_self_contained(sweep_df: pd.DataFrame, tmp_path: Path) -> None:
    path = report.write_sweep_report(
        sweep_df, tmp_path / "sw.html", x="rsi_buy_threshold", y="rsi_sell_threshold"
    )
    html = path.read_text(encoding="utf-8")
    assert_self_contained(html)
    assert figures.TITLE_HEATMAP in html
    assert figures.TITLE_TOP in html


def test_write_sweep_results_csv_and_parquet_round_trip(
    sweep_df: pd.DataFrame, tmp_path: Path
) -> None:
    csv = report.write_sweep_results(sweep_df, tmp_path / "r.csv")
    back = pd.read_csv(csv)
    pd.testing.assert_frame_equal(back, sweep_df.reset_index(drop=True), check_dtype=False)
    pytest.importorskip("pyarrow")
    pq = report.write_sweep_results(sweep_df, tmp_path / "r.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(pq), sweep_df, check_dtype=False)


def test_walkforward_figures(small_wf: WalkForwardResult) -> None:
    eq = figures.walkforward_equity_figure(small_wf)
    assert figures.TITLE_WF_EQUITY in eq.layout.title.text
    assert "gap" in eq.layout.title.text
    np.testing.assert_allclose(np.asarray(eq.data[0].y, dtype=float), small_wf.oos_equity)
    assert len(eq.layout.shapes) == len(small_wf.windows)
    table = figures.walkforward_windows_figure(small_wf)
    assert figures.TITLE_WF_WINDOWS in table.layout.title.text
    assert len(table.data[0].cells.values[0]) == len(small_wf.windows)


def test_write_walkforward_report_self_contained(
    small_wf: WalkForwardResult, tmp_path: Path
) -> None:
    html = report.write_walkforward_report(small_wf, tmp_path / "wf.html").read_text("utf-8")
    assert_self_contained(html)
    assert figures.TITLE_WF_EQUITY in html
    assert figures.TITLE_WF_WINDOWS in html
