"""Backtest and sweep run in-process by the PC backend on the in-repo KRX bars."""

from __future__ import annotations

import pytest
from oci_server import REPO_DAILY, error_of
from pc_server import PcServer, hash_files

pytestmark = pytest.mark.integration


def test_pc_backtest_and_sweep_in_process(pc_offline: PcServer) -> None:
    pc = pc_offline  # no OCI behind it: backtests run in-process on the PC's bars
    with pc.client() as c:
        r = c.post("/api/v1/backtest", json={"start": "2024-01-02", "end": "2025-12-29",
                                              "params": {"rsi_period": 30}})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["params"]["rsi_period"] == 30
        assert {"total_return", "sharpe", "mdd"} <= set(body["metrics"])
        eq = body["series"]["equity"]
        assert eq["dates"][0] == "2024-01-02" and eq["dates"][-1] == "2025-12-29"
        assert len(eq["values"]) == len(body["series"]["benchmark"]["values"])
        assert set(body["series"]["regime"]["values"]) <= {"UNKNOWN", "BULL", "BEAR"}
        assert body["per_year"] and isinstance(body["trades"], list)
        check_fills_and_chop(body)

        s = c.post("/api/v1/sweep", json={"start": "2024-01-02", "end": "2025-12-29",
                                           "grid": {"rsi_period": [30, 40]}})
        assert s.status_code == 200, s.text
        rows = s.json()["rows"]
        assert sorted(r["rsi_period"] for r in rows) == [30, 40]
        assert rows[0]["rank"] == 1

        w = c.post("/api/v1/walkforward", json={
            "start": "2021-01-04", "end": "2025-12-29", "grid": {"rsi_period": [30, 40]},
            "train_months": 12, "test_months": 6, "step_months": 12})
        assert w.status_code == 200, w.text
        wf = w.json()
        assert wf["windows"] and wf["oos_equity"] and wf["objective"] == "sharpe"
        assert all(row["rsi_period"] in (30, 40) for row in wf["windows"])

        files = hash_files(pc.workspace)
        for body, field in (
            ({"start": "2024-01-02", "end": "2025-12-29", "params": {"rsi_periodd": 3}},
             "params.rsi_periodd"),
            ({"start": "2024-01-02", "end": "2025-12-29", "params": {"rsi_period": 1}},
             "params.rsi_period"),
            ({"start": "2025-12-29", "end": "2024-01-02"}, "end"),
            ({"start": "2024-13-02", "end": "2025-12-29"}, "start"),
            ({"start": "2024-01-02", "end": "2025-12-28"}, "end"),  # a Sunday: no session
            ({"start": "2024-01-01", "end": "2025-12-29"}, "start"),  # New Year: no session
        ):
            bad = c.post("/api/v1/backtest", json=body)
            assert bad.status_code == 422, bad.text
            assert error_of(bad)["field"] == field
        bad = c.post("/api/v1/sweep", json={"start": "2024-01-02", "end": "2025-12-29",
                                             "grid": {"nope": [1]}})
        assert bad.status_code == 422 and error_of(bad)["field"] == "grid"
        bad = c.post("/api/v1/walkforward", json={"start": "2025-06-02", "end": "2025-12-29",
                                                  "grid": {"rsi_period": [30]}})
        assert bad.status_code == 422 and error_of(bad)["field"] == "train_months", bad.text
        assert hash_files(pc.workspace) == files


def check_fills_and_chop(body: dict) -> None:
    """The answer carries the engine's chop series and fill table, the same as an in-process
    run of the same settings on the same bars (one serializer for both)."""
    from datetime import date

    from contracts.settings import Settings, StrategyParams
    from strategy.backtest.engine import run_backtest
    from strategy.backtest.serialize import result_json
    from strategy.marketdata import make_provider

    settings = Settings(strategy=StrategyParams(rsi_period=30))
    tickers = list(dict.fromkeys([*settings.universe, settings.benchmark]))
    end = date(2025, 12, 29)
    bars = dict(make_provider(f"csv:{REPO_DAILY}").load(tickers, end=end))
    local = result_json(run_backtest(bars, settings, date(2024, 1, 2), end))
    assert body["fills"] == local["fills"] and body["series"]["chop"] == local["series"]["chop"]

    chop = body["series"]["chop"]
    assert chop["dates"] == body["series"]["equity"]["dates"]
    assert set(chop["values"]) <= {True, False, None} and True in chop["values"]
    fills = body["fills"]
    buys = {(f["ticker"], f["date"], f["qty"], f["price"]) for f in fills if f["side"] == "BUY"}
    sells = {(f["ticker"], f["date"], f["qty"], f["price"]) for f in fills if f["side"] == "SELL"}
    assert len(fills) == 2 * len(body["trades"]) + len(body["open_positions"]) > 0
    for tr in body["trades"]:  # every round trip is a buy fill and a sell fill
        assert (tr["ticker"], tr["entry_date"], tr["qty"], tr["entry_price"]) in buys
        assert (tr["ticker"], tr["exit_date"], tr["qty"], tr["exit_price"]) in sells
    assert {"commission", "tax", "slippage_cost", "reason"} <= set(fills[0])
