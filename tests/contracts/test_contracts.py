"""Contracts: strict validation, round trips, exported JSON Schema in sync."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from pydantic import ValidationError

from contracts import (
    SCHEMA_MODELS,
    Fill,
    Holding,
    OrderPlan,
    Portfolio,
    PushRequest,
    Settings,
    StrategyParams,
)
from contracts.export import render_schemas, stale_schemas
from krx_common.defaults import KST


def _error_locs(exc: ValidationError) -> list[str]:
    return [".".join(str(x) for x in e["loc"]) for e in exc.errors()]


def test_portfolio_default_is_ten_million_cash_no_holdings():
    p = Portfolio.default()
    assert p.cash == 10_000_000
    assert p.holdings == []
    assert p.asof.tzinfo is not None


def test_portfolio_roundtrip_keeps_every_field():
    p = Portfolio(cash=1234.5, holdings=[Holding(ticker="005930", qty=3, avg_price=70100.0)],
                  asof=datetime(2025, 12, 29, 16, 0, tzinfo=KST), revision=7)
    again = Portfolio.model_validate_json(p.model_dump_json())
    assert again == p


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"cash": -1}, "cash"),
        ({"cash": 1, "holdings": [{"ticker": "005930", "qty": -5, "avg_price": 1}]},
         "holdings.0.qty"),
        ({"cash": 1, "holdings": [{"ticker": "005930", "qty": 0, "avg_price": 1}]},
         "holdings.0.qty"),
        ({"cash": 1, "holdings": [{"ticker": "999999", "qty": 1, "avg_price": 1}]},
         "holdings.0.ticker"),
        ({"cash": 1, "holdings": [{"ticker": "5930", "qty": 1, "avg_price": 1}]},
         "holdings.0.ticker"),
        ({"cash": 1, "holdings": [{"ticker": "005930", "qty": 1, "avg_price": 0}]},
         "holdings.0.avg_price"),
        ({"cash": 1, "positions": []}, "positions"),
        ({"cash": 1, "asof": "2025-12-29T16:00:00"}, "asof"),
    ],
)
def test_portfolio_rejects_bad_input_naming_the_field(payload, field):
    with pytest.raises(ValidationError) as exc:
        Portfolio.model_validate(payload)
    assert field in _error_locs(exc.value)


def test_portfolio_rejects_duplicate_ticker():
    with pytest.raises(ValidationError, match="appears twice"):
        Portfolio(cash=0, holdings=[Holding(ticker="005930", qty=1, avg_price=1),
                                    Holding(ticker="005930", qty=2, avg_price=1)])


def test_portfolio_unknown_ticker_message_says_unknown():
    with pytest.raises(ValidationError, match="unknown ticker"):
        Holding(ticker="123456", qty=1, avg_price=1.0)


def test_aware_datetimes_are_normalised_to_kst():
    p = Portfolio(cash=0, asof=datetime.fromisoformat("2025-12-29T00:05:00+00:00"))
    assert p.asof.utcoffset().total_seconds() == 9 * 3600
    assert p.asof.hour == 9


def test_settings_defaults_follow_strategy_doc():
    s = Settings()
    sp = s.strategy
    assert (sp.regime_ma_long, sp.ma_short_period, sp.adx_period, sp.adx_threshold) == (
        120, 60, 30, 17.5)
    assert (sp.rsi_period, sp.rsi_buy_threshold, sp.rsi_sell_threshold) == (40, 50, 70)
    assert (sp.stop_loss_pct, sp.max_positions, sp.min_cash_pct) == (0.12, 5, 0.01)
    assert s.universe == ["069500", "229200", "091160", "305720", "005930"]
    assert s.execution_mode.value == "DRY_RUN"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"strategy": {"max_positions": -1}}, "strategy.max_positions"),
        ({"strategy": {"rsi_period": 1}}, "strategy.rsi_period"),
        ({"strategy": {"stop_loss_pct": 1.5}}, "strategy.stop_loss_pct"),
        ({"universe": ["069500", "000000"]}, "universe.1"),
        ({"universe": []}, "universe"),
        ({"execution_mode": "YOLO"}, "execution_mode"),
        ({"strategy": {"chop_action": "panic"}}, "strategy.chop_action"),
    ],
)
def test_settings_rejects_bad_input_naming_the_field(payload, field):
    with pytest.raises(ValidationError) as exc:
        Settings.model_validate(payload)
    assert field in _error_locs(exc.value)


def test_strategy_params_cross_field_rules():
    with pytest.raises(ValidationError, match="rsi_buy_threshold"):
        StrategyParams(rsi_buy_threshold=70, rsi_sell_threshold=60)
    with pytest.raises(ValidationError, match="ma_short_period"):
        StrategyParams(ma_short_period=120, regime_ma_long=60)


def test_push_request_needs_something_and_a_reason():
    with pytest.raises(ValidationError, match="portfolio"):
        PushRequest(reason="nothing")
    with pytest.raises(ValidationError) as exc:
        PushRequest.model_validate({"settings": {}, "reason": ""})
    assert "reason" in _error_locs(exc.value)


def test_fill_rejects_negative_quantity_and_naive_time():
    with pytest.raises(ValidationError) as exc:
        Fill.model_validate({"ticker": "005930", "side": "BUY", "qty": -1, "price": 1})
    assert "qty" in _error_locs(exc.value)
    with pytest.raises(ValidationError) as exc:
        Fill.model_validate({"ticker": "005930", "side": "BUY", "qty": 1, "price": 1,
                             "filled_at": "2025-12-29T10:00:00"})
    assert "filled_at" in _error_locs(exc.value)


def test_order_plan_roundtrip():
    plan = OrderPlan(plan_id="20251229-abc", asof=date(2025, 12, 29), portfolio_revision=1,
                     settings_revision=1, decision="EMPTY", equity=1e7, cash=1e7, reserve=1e5,
                     est_cash_after=1e7)
    assert OrderPlan.model_validate_json(plan.model_dump_json()) == plan


def test_korean_names_survive_utf8_roundtrip(tmp_path):
    h = Holding(ticker="091160", qty=1, avg_price=1.0)
    from contracts import instrument

    path = tmp_path / "x.json"
    path.write_text(json.dumps({"name": instrument(h.ticker).name_ko}, ensure_ascii=False),
                    encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8"))["name"] == "KODEX 반도체"


def test_every_contract_has_a_committed_schema_in_sync():
    assert set(render_schemas()) == {f"{n}.json" for n in SCHEMA_MODELS}
    assert stale_schemas() == [], "run `krx schema` and commit contracts/schemas/"


def test_stale_schema_is_detected(tmp_path):
    for name, text in render_schemas().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "portfolio.json").write_text("{}", encoding="utf-8")
    assert stale_schemas(tmp_path) == ["portfolio.json"]


@pytest.mark.parametrize("path", [("revision",), ("guardrails", "max_data_age_sessions"),
                                  ("strategy", "stop_loss_pct")])
def test_contract_refuses_true_false_for_a_number_naming_the_field(path):
    doc = Settings().model_dump(mode="json")
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = True
    with pytest.raises(ValidationError) as info:
        Settings.model_validate_json(json.dumps(doc))
    assert _error_locs(info.value) == [".".join(path)]
    assert "true/false" in str(info.value)


def test_contract_booleans_stay_booleans():
    s = Settings.model_validate({"strategy": {"golden_cross_override": False}})
    assert s.strategy.golden_cross_override is False


@pytest.mark.parametrize("reason",
                         ["   ", "\t", "a\x00b", "two\nlines", "esc\x1b[31m", "ls\u2028x"])
def test_operator_reasons_are_one_readable_line(reason: str) -> None:
    """Issue 15 (11): a whitespace-only or control-character reason is refused, naming the
    field, by every request that carries one (PUSH on OCI and the PC, the emergency stop)."""
    from contracts.pc import PcPushRequest
    from contracts.sync import EmergencyStopRequest, PushRequest

    for build in (lambda: PushRequest(settings=Settings(), reason=reason),
                  lambda: PcPushRequest(reason=reason),
                  lambda: EmergencyStopRequest(on=True, reason=reason)):
        with pytest.raises(ValidationError) as err:
            build()
        assert err.value.errors()[0]["loc"] == ("reason",)
    assert EmergencyStopRequest(on=True, reason="장 급락 대비 🙂").reason == "장 급락 대비 🙂"


@pytest.mark.parametrize("price", [5e-324, 1e-9, 0.5])
def test_holding_avg_price_is_at_least_one_won(price: float) -> None:
    """Issue 15 (11): `avg_price` 5e-324 was accepted; no KRX price is below 1 won."""
    with pytest.raises(ValidationError) as err:
        Holding(ticker="005930", qty=1, avg_price=price)
    assert err.value.errors()[0]["loc"] == ("avg_price",)
    assert Holding(ticker="005930", qty=1, avg_price=1.0).avg_price == 1.0
