"""`strategy.backtest.serialize`: the one JSON form of a backtest (CLI --json and PC API)."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.research import BacktestResponse
from contracts.settings import Settings
from strategy.backtest.engine import run_backtest
from strategy.backtest.serialize import plain, result_json, result_model
from strategy.marketdata import make_provider


def test_plain_nan_to_null_dates_iso_numpy_unwrapped():
    out = plain({"a": float("nan"), "b": [np.int64(3), np.float64(1.5)], "c": date(2025, 1, 2),
                 "d": (float("inf"),)})
    assert out == {"a": None, "b": [3, 1.5], "c": "2025-01-02", "d": [None]}
    assert type(out["b"][0]) is int


def test_result_json_is_the_contract_and_carries_the_results_fills_and_chop(krx_data_dir: Path):
    settings = Settings()
    tickers = list(dict.fromkeys([*settings.universe, settings.benchmark]))
    end = date(2025, 12, 29)
    bars = dict(make_provider(f"csv:{krx_data_dir}").load(tickers, end=end))
    result = run_backtest(bars, settings, date(2023, 1, 2), end)
    api = result_json(result)
    json.dumps(api, allow_nan=False)  # strict JSON: no NaN left anywhere
    # The one form: the contract, and its JSON reads back as the same contract.
    assert BacktestResponse.model_validate(api) == result_model(result)

    assert len(api["fills"]) == len(result.fills) > 0
    first = result.fills.iloc[0]
    assert api["fills"][0]["date"] == first["date"].isoformat()
    assert api["fills"][0]["side"] == first["side"] and api["fills"][0]["qty"] == first["qty"]
    assert api["series"]["equity"]["values"] == result.equity.tolist()

    chop = api["series"]["chop"]
    assert chop["dates"] == [d.date().isoformat() for d in result.equity.index]
    expected = [None if (isinstance(v, float) and math.isnan(v)) or pd.isna(v) else bool(v)
                for v in result.chop.tolist()]
    assert chop["values"] == expected and True in expected and False in expected
    assert api["series"]["regime"]["values"] == [str(v) for v in result.regime.tolist()]
