"""Values that used to wedge every later cycle are refused by the contracts (issue 11,
defects 1, 4, 5 and the strict booleans of 10)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from contracts import Portfolio, Settings
from contracts.settings import StrategyParams
from contracts.sync import EmergencyStopRequest

PORTFOLIO = {"cash": 1_000_000.0, "holdings": [
    {"ticker": "005930", "qty": 10, "avg_price": 70_000.0, "entry_date": "2025-01-02"}]}


def _with(path: str, value) -> dict:
    body = json.loads(json.dumps(PORTFOLIO))
    target = body
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if k.isdigit() else target[k]
    target[keys[-1]] = value
    return body


@pytest.mark.parametrize("text", ["1e309", "-1e309", "Infinity", "-Infinity", "NaN"])
def test_contract_non_finite_numbers_are_refused_from_json(text):
    with pytest.raises(ValidationError, match="initial_capital"):
        StrategyParams.model_validate_json(f'{{"initial_capital": {text}}}')
    with pytest.raises(ValidationError, match="cash"):
        Portfolio.model_validate_json(f'{{"cash": {text}}}')


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_contract_non_finite_numbers_are_refused_from_python(value):
    with pytest.raises(ValidationError, match="finite"):
        StrategyParams(initial_capital=value)
    with pytest.raises(ValidationError, match="finite"):
        Portfolio.model_validate(_with("holdings.0.avg_price", value))


@pytest.mark.parametrize(("path", "value", "field"), [
    ("holdings.0.qty", 2**63, "holdings.0.qty"),
    ("holdings.0.qty", 10**10 + 1, "holdings.0.qty"),
    ("cash", 1e308, "cash"),
    ("cash", 1e15 + 1e6, "cash"),
    ("holdings.0.avg_price", 1e12, "holdings.0.avg_price"),
    ("holdings.0.entry_date", "2099-99-99", "holdings.0.entry_date"),
    ("holdings.0.entry_date", "x" * 100_000, "holdings.0.entry_date"),
    ("holdings.0.entry_date", "1999-12-31", "holdings.0.entry_date"),
    ("holdings.0.entry_date", "2025-1-2", "holdings.0.entry_date"),
    ("asof", "0001-01-01T00:00:00+01:00", "asof"),
    ("asof", "9999-12-31T23:59:59-10:00", "asof"),
])
def test_contract_out_of_range_portfolio_values_name_the_field(path, value, field):
    with pytest.raises(ValidationError) as info:
        Portfolio.model_validate(_with(path, value))
    locs = [".".join(str(p) for p in e["loc"]) for e in info.value.errors()]
    assert any(loc.startswith(field) for loc in locs), locs


def test_contract_bounds_accept_realistic_extremes():
    p = Portfolio.model_validate(_with("holdings.0.qty", 10**10) | {"cash": 1e15})
    assert p.cash == 1e15 and p.holdings[0].qty == 10**10
    assert Portfolio.model_validate(_with("asof", "2199-12-31T23:59:59+09:00")).asof.year == 2199
    assert Portfolio.model_validate(_with("holdings.0.entry_date", None)).holdings[0].entry_date \
        is None


@pytest.mark.parametrize("value", ["true", 1, "1", 0])
def test_contract_booleans_are_strict(value):
    with pytest.raises(ValidationError, match="on"):
        EmergencyStopRequest.model_validate({"on": value, "reason": "x"})
    with pytest.raises(ValidationError, match="golden_cross_override"):
        Settings.model_validate({"strategy": {"golden_cross_override": value}})
    assert EmergencyStopRequest.model_validate_json('{"on": true, "reason": "x"}').on is True
