"""Backtest & sweep page (run, metric cards, the report's figures, downloads, sweep heatmap,
walk-forward summary) and the Audit trail page (filters, field-level before → after, a
parameter's whole history) against a real PC backend and OCI."""

from __future__ import annotations

import base64
import json
import re
from datetime import date

import numpy as np
import pytest
from cockpit_stack import Stack, pull, texts

from strategy.backtest.figures import CHOP_COLOR, TITLE_EQUITY, TITLE_TRADES
from strategy.backtest.frames import format_value

pytestmark = pytest.mark.integration


def submit(at, label: str):  # noqa: ANN001, ANN201
    return next(b for b in at.button if b.label == label).click().run()


def test_backtest_runs_and_shows_the_backends_metrics_and_figures(stack: Stack, cockpit):
    pull(stack)
    at = cockpit(stack, page="backtest", lang="en",
                 bt_start=date(2024, 1, 2), bt_end=date(2025, 8, 29))
    at.number_input(key="bt_rsi_buy_threshold").set_value(45.0)
    submit(at, "Run backtest")
    assert not at.exception, texts(at)
    with stack.pc_client() as c:
        direct = c.post("/api/v1/backtest", json={
            "start": "2024-01-02", "end": "2025-08-29",
            "params": {"rsi_buy_threshold": 45.0}}).json()
    page = texts(at)
    for name in ("total_return", "sharpe", "n_trades"):
        assert format_value(name, direct["metrics"][name]) in page, name
    charts = at.get("plotly_chart")
    assert len(charts) >= 2  # equity vs benchmark (regime shaded) and drawdown
    check_chop_strip_and_fill_markers(charts, direct)
    downloads = [d for d in at.get("download_button")]
    assert len(downloads) >= 2  # trades CSV, equity CSV
    per_year = next(d.value for d in at.dataframe if "Year" in d.value.columns)
    assert sorted(per_year["Year"].astype(int)) == [2024, 2025]
    # the trade table is formatted: won to the integer with separators, returns in %
    trades = next(d.value for d in at.dataframe if "Entry price" in d.value.columns)
    assert all(re.fullmatch(r"-?[\d,]+", v) for v in trades["Entry price"]), trades
    assert all(re.fullmatch(r"-?\d+\.\d\d%", v) for v in trades["Return"]), trades


def array(v: object) -> list:
    """A plotly JSON array: a list, or a typed array (`{"dtype", "bdata"}`)."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)  # type: ignore[call-overload]


def check_chop_strip_and_fill_markers(charts, direct: dict) -> None:  # noqa: ANN001
    """The equity chart shades the answer's chop runs as the report's top strip; the trades
    chart marks the answer's fills (no fills rebuilt from the round trips)."""
    figs = [json.loads(ch.proto.spec) for ch in charts]

    def fig(title: str) -> dict:
        return next(f for f in figs if str(f["layout"]["title"]["text"]).startswith(title))

    chop = direct["series"]["chop"]
    runs, prev = [], False  # the chop runs' first sessions
    for day, value in zip(chop["dates"], chop["values"], strict=True):
        if value is True and not prev:
            runs.append(day)
        prev = value is True
    assert runs, "the window has chop sessions"
    strips = [sh for sh in fig(TITLE_EQUITY)["layout"]["shapes"]
              if sh["fillcolor"] == CHOP_COLOR]
    assert [str(sh["x0"])[:10] for sh in strips] == runs

    markers = [tr for tr in fig(TITLE_TRADES)["data"] if tr.get("mode") == "markers"]
    shown = sorted((str(x)[:10], tr["name"].split()[0], float(y)) for tr in markers
                   for x, y in zip(array(tr["x"]), array(tr["y"]), strict=True))
    fills = sorted((f["date"], f["ticker"], f["price"]) for f in direct["fills"])
    assert shown == fills and len(fills) == len(direct["fills"]) > 0


def test_backtest_bad_window_is_refused_with_a_message(stack: Stack, cockpit):
    at = cockpit(stack, page="backtest", bt_start=date(2025, 8, 29), bt_end=date(2024, 1, 2))
    submit(at, "백테스트 실행")
    assert any("시작일이 종료일보다 앞서야" in e.value for e in at.error)


def test_sweep_heatmap(stack: Stack, cockpit):
    pull(stack)
    at = cockpit(stack, page="backtest", lang="en",
                 bt_start=date(2024, 1, 2), bt_end=date(2025, 8, 29),
                 sw_xv="45, 50", sw_yv="70, 75")
    submit(at, "Run sweep")
    assert not at.exception, texts(at)
    top = next(d.value for d in at.dataframe if "rsi_buy_threshold" in d.value.columns)
    assert len(top) == 4  # the 2 × 2 grid, ranked
    assert set(top["rsi_buy_threshold"]) == {45, 50}
    assert len(at.get("plotly_chart")) == 1  # the heatmap


def test_walkforward_summary_is_the_backends(stack: Stack, cockpit):
    pull(stack)
    at = cockpit(stack, page="backtest", lang="en",
                 bt_start=date(2022, 1, 3), bt_end=date(2025, 8, 29), sw_xv="45, 50",
                 wf_train=12, wf_test=6, wf_step=6)
    submit(at, "Run walk-forward")
    assert not at.exception, texts(at)
    with stack.pc_client() as c:
        direct = c.post("/api/v1/walkforward", json={
            "start": "2022-01-03", "end": "2025-08-29", "grid": {"rsi_buy_threshold": [45, 50]},
            "train_months": 12, "test_months": 6, "step_months": 6}).json()
    shown = {m.label: m.value for m in at.metric}
    assert shown["OOS sharpe"] == format_value("sharpe", direct["oos_mean"])
    assert shown["Windows compared"] == f"{direct['n_compared']}/{len(direct['windows'])}"
    windows = next(d.value for d in at.dataframe if "test_start" in d.value.columns)
    assert len(windows) == len(direct["windows"]) >= 2
    assert len(at.get("plotly_chart")) == 1  # the stitched out-of-sample equity


def test_audit_trail_filters_and_shows_a_parameters_history(fresh_stack: Stack, cockpit):
    pull(fresh_stack)
    with fresh_stack.pc_client() as c:
        for value, reason in ((45.0, "buy earlier"), (40.0, "buy even earlier")):
            s = c.get("/api/v1/workspace/settings").json()
            s["strategy"]["rsi_buy_threshold"] = value
            assert c.put("/api/v1/workspace/settings", json=s).status_code == 200
            assert c.post("/api/v1/push", json={"reason": reason}).status_code == 200
    at = cockpit(fresh_stack, page="audit")
    at.selectbox(key="au_action").set_value("PUSH").run()
    entries = at.dataframe[0].value
    assert set(entries["무엇"]) == {"PUSH"}
    assert list(entries["사유"])[:2] == ["buy even earlier", "buy earlier"]  # newest first
    at.selectbox(key="au_path").set_value("settings.strategy.rsi_buy_threshold").run()
    history = at.dataframe[-1].value
    assert [(r["이전"], r["이후"], r["사유"]) for r in history.to_dict("records")] == \
        [("45", "40", "buy even earlier"), ("50", "45", "buy earlier")]
