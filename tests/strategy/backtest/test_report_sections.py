"""The HTML reports parsed as a reader would: every section an analyst expects is there, with
the numbers that belong in it (checked against the result, not hard-coded)."""

from __future__ import annotations

import math
import os
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from contracts.settings import Settings, StrategyParams
from strategy.backtest import figures, frames, report
from strategy.backtest.sweep import grid_edge_warnings, run_sweep
from strategy.backtest.walkforward import WalkForwardResult, run_walkforward, window_notes


class _Page(HTMLParser):
    """Sections (id → h2, note, tables as header + rows, kv pairs, paragraphs), figure titles,
    and script tags of a report page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict[str, Any]] = {}
        self.figures: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self._sec: dict[str, Any] | None = None
        self._tag: list[str] = []
        self._row: list[str] | None = None
        self._cell: str | None = None
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self._tag.append(tag)
        if tag == "section":
            self._sec = {"h2": "", "tables": [], "text": ""}
            self.sections[str(a.get("id"))] = self._sec
        elif tag == "div" and a.get("class") == "fig":
            self.figures.append(str(a.get("data-title")))
        elif tag == "script":
            self.scripts.append(a)
        elif tag == "table" and self._sec is not None:
            self._sec["tables"].append({"header": [], "rows": []})
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag: str) -> None:
        if self._tag:
            self._tag.pop()
        if tag == "section":
            self._sec = None
        elif tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._sec is not None:
            table = self._sec["tables"][-1]
            in_head = not table["header"] and not table["rows"] and "thead" in self._tag
            (table["header"].extend if in_head else table["rows"].append)(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell += data
        if self._sec is not None:
            if self._tag and self._tag[-1] == "h2":
                self._sec["h2"] += data
            elif self._tag and self._tag[-1] != "script":
                self._sec["text"] += data


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def kv(section: dict[str, Any]) -> dict[str, str]:
    return {r[0]: r[1] for r in section["tables"][0]["rows"]}


@pytest.fixture(scope="module")
def bt_page(default_result: Any, real_bars: dict[str, pd.DataFrame],
            tmp_path_factory: pytest.TempPathFactory) -> _Page:
    out = tmp_path_factory.mktemp("bt") / "bt.html"
    report.write_backtest_report(default_result, out, bars=real_bars)
    return parse(out)


def test_backtest_report_has_every_section_and_figure(bt_page: _Page) -> None:
    for title in (figures.TITLE_CONFIG, figures.TITLE_METRICS, figures.TITLE_TRADE_STATS,
                  figures.TITLE_MONTHLY, figures.TITLE_WORST_DD, figures.TITLE_PER_TICKER,
                  figures.TITLE_PER_YEAR, figures.TITLE_TRADE_LIST):
        sec = bt_page.sections.get(report.SECTION_IDS[title])
        assert sec is not None and sec["h2"] == title, title
    for title in (figures.TITLE_EQUITY, figures.TITLE_DRAWDOWN, figures.TITLE_MONTHLY,
                  figures.TITLE_EXPOSURE, figures.TITLE_TRADES):
        assert any(f.startswith(title) for f in bt_page.figures), (title, bt_page.figures)


def test_backtest_report_trade_list_rows_match_the_trades(bt_page: _Page,
                                                          default_result: Any) -> None:
    table = bt_page.sections["trade-list"]["tables"][0]
    for col in ("ticker", "name", "entry_date", "entry_price", "exit_date", "exit_price", "qty",
                "pnl", "return", "holding_days", "exit_reason"):
        assert col in table["header"]
    trades = default_result.trades
    n_open = len(default_result.open_positions)
    assert len(table["rows"]) == len(trades) + n_open
    h = table["header"]
    first = dict(zip(h, table["rows"][0], strict=True))
    t0 = trades.iloc[0]
    assert first["ticker"] == t0["ticker"] and first["name"]  # Korean name next to the code
    assert first["entry_date"] == f"{pd.Timestamp(t0['entry_date']):%Y-%m-%d}"
    assert first["pnl"] == f"{t0['pnl']:,.0f}" and first["return"] == f"{t0['return']*100:.2f}%"
    assert first["exit_reason"] == t0["exit_reason"]
    if n_open:
        assert table["rows"][-1][h.index("exit_reason")].startswith("OPEN")


def test_backtest_report_trade_stats_profit_factor_and_expectancy(bt_page: _Page,
                                                                  default_result: Any) -> None:
    stats = kv(bt_page.sections["trade-stats"])
    pnl = default_result.trades["pnl"].astype(float)
    pf = pnl[pnl > 0].sum() / -pnl[pnl < 0].sum()
    assert stats["profit factor"] == f"{pf:.3f}"
    assert stats["expectancy"].startswith(f"{pnl.mean():,.0f} KRW")
    best = default_result.trades.iloc[int(np.argmax(pnl.to_numpy()))]
    assert stats["best trade"].startswith(frames.instrument_label(best["ticker"]))
    assert f"{best['pnl']:+,.0f} KRW" in stats["best trade"]
    assert stats["worst trade"] and stats["closed trades"] == str(len(pnl))


def test_backtest_report_monthly_returns_compound_to_the_total(bt_page: _Page,
                                                               default_result: Any) -> None:
    frame = frames.monthly_returns_frame(default_result.equity)
    months = frame.drop(columns="total").to_numpy(dtype=float)
    compounded = np.nanprod(1 + months) - 1
    assert compounded == pytest.approx(default_result.metrics["total_return"], rel=1e-9)
    table = bt_page.sections["monthly-returns"]["tables"][0]
    assert table["header"][:3] == ["year", "Jan", "Feb"] and table["header"][-1] == "total"
    years = sorted({d.year for d in default_result.equity.index})
    assert [r[0] for r in table["rows"]] == [str(y) for y in years]
    total = {r[0]: r[-1] for r in table["rows"]}
    for year, value in frame["total"].items():
        assert total[str(year)] == f"{value * 100:.2f}%"  # percent, like every return


def test_backtest_report_worst_drawdown_is_the_mdd(bt_page: _Page, default_result: Any) -> None:
    table = bt_page.sections["worst-drawdowns"]["tables"][0]
    h = table["header"]
    assert h[:5] == ["rank", "peak", "trough", "recovery", "depth"]
    assert 1 <= len(table["rows"]) <= 5
    depths = [float(r[h.index("depth")].rstrip("%")) for r in table["rows"]]
    assert depths == sorted(depths)  # deepest first
    assert depths[0] == pytest.approx(default_result.metrics["mdd"] * 100, abs=0.006)
    assert table["rows"][0][h.index("peak")] == str(default_result.meta["mdd_peak_date"])


def test_backtest_report_per_ticker_and_configuration(bt_page: _Page,
                                                      default_result: Any) -> None:
    per = bt_page.sections["per-ticker"]["tables"][0]
    trades = default_result.trades
    assert sorted(r[0] for r in per["rows"]) == sorted(set(trades["ticker"].astype(str)))
    counts = {r[0]: int(r[per["header"].index("trades")]) for r in per["rows"]}
    assert counts == trades["ticker"].astype(str).value_counts().to_dict()
    conf = kv(bt_page.sections["run-configuration"])
    assert "069500 KODEX 200" in conf["universe"] and "005930 삼성전자" in conf["universe"]
    assert conf["data window"].startswith(f"{default_result.meta['start']} → ")
    assert "commission 0.015%" in conf["costs"] and "sell tax" in conf["costs"]
    for field in StrategyParams.model_fields:
        if field not in ("commission", "slippage"):
            assert field in conf, field


@pytest.fixture(scope="module")
def real_sweep(real_bars: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return run_sweep(real_bars, Settings(), {"rsi_buy_threshold": [40, 45, 50, 55],
                                              "rsi_sell_threshold": [65, 75]},
                     date(2021, 1, 4), date(2025, 12, 29), n_jobs=1)


def test_sweep_report_execution_buy_and_hold_and_grid_edge(
    real_sweep: pd.DataFrame, tmp_path: Path
) -> None:
    path = report.write_sweep_report(real_sweep, tmp_path / "sw.html", x="rsi_buy_threshold",
                                     y="rsi_sell_threshold")
    page = parse(path)
    ex = kv(page.sections["execution"])
    assert ex["execution"].startswith(real_sweep.attrs["execution"])
    bh = kv(page.sections["buy-and-hold"])
    ref = real_sweep.attrs["buy_and_hold"]
    assert bh["benchmark"] == "069500 KODEX 200"
    assert bh["sharpe"].startswith(f"buy & hold {ref['sharpe']:.3f}")
    beat = int((real_sweep["sharpe"] > ref["sharpe"]).sum())
    assert bh["combinations beating buy & hold"] == f"{beat} of {len(real_sweep)} on sharpe"
    best = real_sweep.iloc[0]["rsi_buy_threshold"]
    edge_text = page.sections["grid-edges"]["text"]
    on_edge = best in (40, 55)
    assert ("rsi_buy_threshold" in edge_text) == on_edge
    assert any(f.startswith(figures.TITLE_HEATMAP) for f in page.figures)
    top = page.sections["top-combinations"]["tables"][0]
    assert top["rows"][0][top["header"].index("sharpe")] == f"{real_sweep.iloc[0]['sharpe']:.3f}"


def test_grid_edge_warning_names_parameter_on_the_edge_only(sweep_df_edge: pd.DataFrame) -> None:
    warnings = grid_edge_warnings(sweep_df_edge, {"a": [1, 2, 3], "b": [1, 2, 3]},
                                         "sharpe")
    assert len(warnings) == 1 and "a = 3" in warnings[0] and "highest" in warnings[0]


@pytest.fixture()
def sweep_df_edge() -> pd.DataFrame:
    from strategy.backtest.sweep import rank_results

    rows = [{"combo_id": i, "a": a, "b": b, "sharpe": a - abs(b - 2)}
            for i, (a, b) in enumerate((a, b) for a in (1, 2, 3) for b in (1, 2, 3))]
    return rank_results(pd.DataFrame(rows), "sharpe")


@pytest.fixture(scope="module")
def wf(real_bars: dict[str, pd.DataFrame]) -> WalkForwardResult:
    return run_walkforward(real_bars, Settings(), {"rsi_buy_threshold": [40, 55]},
                           date(2021, 1, 4), date(2025, 12, 29), train_months=24,
                           test_months=6, step_months=6, n_jobs=1)


def test_walkforward_report_sections_and_notes(wf: WalkForwardResult, tmp_path: Path) -> None:
    page = parse(report.write_walkforward_report(wf, tmp_path / "wf.html"))
    for title in (figures.TITLE_WF_EQUITY, figures.TITLE_WF_IS_OOS, figures.TITLE_WF_PARAMS):
        assert any(f.startswith(title) for f in page.figures), (title, page.figures)
    windows = page.sections["windows"]["tables"][0]
    assert windows["header"] == [str(c) for c in wf.windows.columns]  # untruncated headers
    assert len(windows["rows"]) == len(wf.windows)
    notes = window_notes(wf)
    text = page.sections["window-notes"]["text"]
    for note in notes:
        assert note in text
    obj = wf.objective
    for r in wf.windows.to_dict(orient="records"):
        if not math.isfinite(float(r[f"is_{obj}"])):
            assert any(f"window {r['window']} " in n and "in-sample sharpe is undefined" in n
                       for n in notes)
        if r["oos_n_trades"] == 0:
            assert any(f"window {r['window']} " in n and "0 " in n and
                       f"{r['oos_total_return']:+.2%}" in n for n in notes)


def test_walkforward_notes_cover_undefined_is_and_zero_trade_windows(
    wf: WalkForwardResult,
) -> None:
    # The real 2021-2025 data has windows of both kinds: the test is not vacuous.
    obj = wf.objective
    assert (~np.isfinite(wf.windows[f"is_{obj}"].astype(float))).any()
    assert (wf.windows["oos_n_trades"] == 0).any()


def test_light_report_shares_one_local_plotly_js(default_result: Any, tmp_path: Path) -> None:
    from plotly.offline import get_plotlyjs

    a = report.write_backtest_report(default_result, tmp_path / "a.html", plotly="local")
    js = tmp_path / report.PLOTLY_JS_NAME
    stamp = js.stat().st_mtime_ns
    b = report.write_backtest_report(default_result, tmp_path / "b.html", plotly="local")
    assert js.read_text(encoding="utf-8") == get_plotlyjs()
    assert js.stat().st_mtime_ns == stamp  # written once, shared
    for path in (a, b):
        page = parse(path)
        srcs = [s.get("src") for s in page.scripts if s.get("src")]
        assert srcs == [report.PLOTLY_JS_NAME]  # local file only, never a URL
        assert os.path.getsize(path) < os.path.getsize(js) / 4
    full = report.write_backtest_report(default_result, tmp_path / "full.html")
    assert not [s for s in parse(full).scripts if s.get("src")]  # self-contained kept
    assert os.path.getsize(full) > os.path.getsize(js)
