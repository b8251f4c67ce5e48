"""Order planner: sells first, buys by rank, costs to the won, guardrails, content-addressed id."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from contracts import Guardrails, Holding, Portfolio, Settings, StrategyParams
from strategy import rules
from strategy.planner import blocked_plan, plan_orders
from strategy.signals import SessionDecision

UNIVERSE = ["069500", "005930", "091160"]


def _decision(**kw) -> SessionDecision:
    base = dict(
        asof=date(2025, 12, 29), tickers=UNIVERSE,
        close=np.array([40_000.0, 100_000.0, 50_000.0]), rsi=np.array([45.0, 75.0, 30.0]),
        held_qty=np.array([0, 10, 0]), entry_price=np.array([0.0, 80_000.0, 0.0]),
        exit_code=np.array([0, rules.EXIT_RSI_TAKE_PROFIT, 0]),
        rank=np.array([2, 0, 1]), buy_qty=np.array([20, 0, 10]),
        regime=rules.REGIME_BULL, bear_days=0, bench_close=40_000.0, sma_long=39_000.0,
        sma_short=38_000.0, adx=25.0, block=0, guard=0,
        equity=1_000_000.0 + 10 * 100_000.0, reserve=20_000.0, cash=1_000_000.0,
    )
    base.update(kw)
    return SessionDecision(**base)


def _settings(**guard) -> Settings:
    return Settings(universe=UNIVERSE, strategy=StrategyParams(), guardrails=Guardrails(**guard),
                    revision=3)


def _portfolio() -> Portfolio:
    return Portfolio(cash=1_000_000.0, holdings=[Holding(ticker="005930", qty=10,
                                                         avg_price=80_000.0)], revision=2)


def test_plan_orders_sells_first_then_buys_by_rank_with_costs():
    plan = plan_orders(_decision(), _portfolio(), _settings(), fill_year=2025)
    assert [(o.side.value, o.ticker) for o in plan.orders] == [
        ("SELL", "005930"), ("BUY", "091160"), ("BUY", "069500")]
    sell, buy1, buy2 = plan.orders
    # sell 10 × 100,000 × (1 − 0.0005) = 999,500; commission 0.015%; 2025 stock tax 0.15%
    assert sell.est_price == pytest.approx(99_950.0)
    assert sell.est_notional == pytest.approx(999_500.0)
    assert sell.est_commission == pytest.approx(149.925)
    assert sell.est_tax == pytest.approx(1_499.25)
    assert sell.est_slippage == pytest.approx(500.0)
    # ETF buy: no tax; price with slippage
    assert buy1.est_price == pytest.approx(50_025.0) and buy1.qty == 10 and buy1.est_tax == 0
    assert buy2.qty == 20 and buy2.rank == 2
    assert buy1.rank == 1 and buy1.score == pytest.approx(20.0)
    assert plan.decision.value == "READY"
    cash = 1_000_000 + 999_500 - 149.925 - 1_499.25
    cash -= 10 * 50_025 * 1.00015 + 20 * 40_020 * 1.00015
    assert plan.est_cash_after == pytest.approx(cash)


def test_plan_orders_tax_follows_fill_year():
    p2023 = plan_orders(_decision(), _portfolio(), _settings(), fill_year=2023)
    assert p2023.orders[0].est_tax == pytest.approx(999_500 * 0.0020)


def test_plan_orders_keeps_sized_caps_and_estimates_the_cut_above_reserve():
    d = _decision(held_qty=np.array([0, 0, 0]), exit_code=np.array([0, 0, 0]),
                  cash=1_000_000.0, equity=1_000_000.0, reserve=10_000.0,
                  buy_qty=np.array([20, 0, 10]))
    plan = plan_orders(d, Portfolio(cash=1_000_000.0), _settings(), fill_year=2025)
    buys = {o.ticker: o for o in plan.orders}
    # the sized quantities are the orders (caps); the cut is made at the fill
    assert buys["091160"].qty == 10 and buys["069500"].qty == 20
    # 1,000,000 − 10 × 50,025 × 1.00015 = 499,674.96; minus reserve 10,000 → 489,674.96
    # / (40,020 × 1.00015) = 12.23 → 12 shares estimated at the close ± slippage
    assert buys["069500"].est_notional == pytest.approx(12 * 40_020)
    assert any(r.startswith("CASH_LIMIT: 069500 estimated cut from 20 to 12")
               for r in plan.reasons)
    assert plan.est_cash_after >= plan.reserve and plan.decision.value == "READY"


def test_plan_orders_guardrail_violation_holds_back_buys_and_keeps_sells():
    d = _decision(guard=rules.GUARD_MAX_ORDERS)
    plan = plan_orders(d, _portfolio(), _settings(max_orders=2), fill_year=2025)
    # SPEC §3: the plan stays READY with its sells; the buys are held back, not the whole plan
    assert plan.decision.value == "READY"
    assert [o.side.value for o in plan.orders] == ["SELL"]
    assert any(r.startswith("GUARDRAIL_MAX_ORDERS: 2 buys held back") for r in plan.reasons)
    check = next(c for c in plan.checks if c.code == "GUARDRAIL_MAX_ORDERS")
    assert not check.ok and check.value == 3 and check.limit == 2
    # cash after = after the sell only (no buy estimated)
    sell = plan.orders[0]
    assert plan.est_cash_after == pytest.approx(
        d.cash + sell.est_notional - sell.est_commission - sell.est_tax)


def test_plan_orders_guardrail_violation_without_sells_is_empty_not_blocked():
    d = _decision(held_qty=np.array([0, 0, 0]), exit_code=np.array([0, 0, 0]),
                  guard=rules.GUARD_MAX_SINGLE_ORDER)
    plan = plan_orders(d, _portfolio(), _settings(), fill_year=2025)
    assert plan.decision.value == "EMPTY" and plan.orders == []
    assert any(r.startswith("GUARDRAIL_MAX_SINGLE_ORDER") for r in plan.reasons)


def test_buys_held_back_is_the_one_guardrail_rule():
    assert not rules.buys_held_back(rules.GUARD_OK)
    assert all(rules.buys_held_back(g) for g in rules.GUARD_NAMES)


def test_plan_orders_empty_when_nothing_to_do():
    d = _decision(held_qty=np.array([0, 0, 0]), exit_code=np.array([0, 0, 0]),
                  rank=np.array([0, 0, 0]), buy_qty=np.array([0, 0, 0]), block=rules.BLOCK_BEAR)
    plan = plan_orders(d, Portfolio(cash=1e6), _settings(), fill_year=2025)
    assert plan.decision.value == "EMPTY" and plan.orders == []
    assert plan.reasons == ["no entries: BEAR_BLOCK"]


def test_plan_orders_emergency_stop_blocks():
    plan = plan_orders(_decision(), _portfolio(), _settings(), fill_year=2025,
                       extra_block_reasons=["EMERGENCY_STOP"])
    assert plan.decision.value == "BLOCKED" and plan.reasons[0] == "EMERGENCY_STOP"


def test_plan_id_is_content_addressed():
    a = plan_orders(_decision(), _portfolio(), _settings(), fill_year=2025)
    b = plan_orders(_decision(), _portfolio(), _settings(), fill_year=2025)
    assert a.plan_id == b.plan_id and a.plan_id.startswith("20251229-")
    moved = _portfolio().model_copy(update={"revision": 5})
    assert plan_orders(_decision(), moved, _settings(), fill_year=2025).plan_id != a.plan_id
    other_close = _decision(close=np.array([40_005.0, 100_000.0, 50_000.0]))
    assert plan_orders(other_close, _portfolio(), _settings(), fill_year=2025).plan_id != \
        a.plan_id


def test_blocked_plan_has_no_orders_and_names_reason():
    plan = blocked_plan(date(2025, 12, 29), _portfolio(), _settings(), ["DATA_STALE"])
    assert plan.decision.value == "BLOCKED" and plan.orders == []
    assert plan.reasons == ["DATA_STALE"]
    again = blocked_plan(date(2025, 12, 29), _portfolio(), _settings(), ["DATA_STALE"])
    assert again.plan_id == plan.plan_id
