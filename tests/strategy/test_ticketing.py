"""Plan → ticket: KRX ticks, limit rounding, drafting (cash cut, fees, ids), verification."""

from __future__ import annotations

import bisect
import math
import random
import re
from datetime import date, datetime

import pytest

from contracts.plan import OrderPlan, PlanDecision, PlannedOrder, Side
from contracts.settings import ExecutionMode, Guardrails, Settings
from contracts.signals import ReasonCode
from contracts.ticket import Ticket, TicketOrder
from krx_common import fmt
from krx_common.defaults import KST
from strategy import rules
from strategy.ticketing import (
    TicketDraftError,
    cash_after,
    draft_ticket,
    fill_year,
    is_on_tick,
    krx_tick,
    order_fees,
    order_terms,
    round_limit,
    ticket_id_of,
    ticket_problems,
    verify_ticket,
)

CREATED = datetime(2025, 6, 16, 8, 30, tzinfo=KST)
NAMES = {"005930": ("삼성전자", "stock"), "305720": ("KODEX 2차전지산업", "etf"),
         "069500": ("KODEX 200", "etf"), "229200": ("KODEX 코스닥150", "etf")}


def planned(side: Side, ticker: str, qty: int, ref: float, *, rank: int | None = None,
            slippage: float = 0.0005) -> PlannedOrder:
    name, kind = NAMES[ticker]
    est = ref * (1 + slippage) if side is Side.BUY else ref * (1 - slippage)
    reason = ReasonCode.RSI_DIP_ENTRY if side is Side.BUY else ReasonCode.STOP_LOSS
    return PlannedOrder(side=side, ticker=ticker, name=name, kind=kind, qty=qty, ref_price=ref,
                        est_price=est, est_notional=qty * est, est_commission=0.0, est_tax=0.0,
                        est_slippage=qty * ref * slippage, reason=reason, rank=rank,
                        score=None if rank is None else 10.0 - rank)


def make_plan(orders: list[PlannedOrder], *, cash: float = 10_000_000.0,
              equity: float = 10_550_000.0, asof: date = date(2025, 6, 13),
              decision: PlanDecision = PlanDecision.READY) -> OrderPlan:
    return OrderPlan(plan_id=f"{asof:%Y%m%d}-abcdef123456", asof=asof, created_at=CREATED,
                     portfolio_revision=1, settings_revision=1, decision=decision,
                     orders=orders, equity=equity, cash=cash, reserve=equity * 0.01,
                     est_cash_after=0.0)


def standard_plan(**kw: object) -> OrderPlan:
    return make_plan([
        planned(Side.SELL, "005930", 10, 55_000.0),
        planned(Side.BUY, "069500", 50, 35_000.0, rank=1),
        planned(Side.BUY, "305720", 198, 10_075.0, rank=0),
    ], **kw)  # type: ignore[arg-type]


def rebuilt(ticket: Ticket, **update: object) -> Ticket:
    """`ticket` with `update` applied and its content-addressed id recomputed."""
    t = ticket.model_copy(update=update)
    return t.model_copy(update={"ticket_id": ticket_id_of(t)})


# -- ticks -------------------------------------------------------------------------------------
@pytest.mark.parametrize("price,tick", [
    (1, 1), (1_999, 1), (1_999.99, 1), (2_000, 5), (4_995, 5), (5_000, 10), (19_990, 10),
    (20_000, 50), (49_950, 50), (50_000, 100), (199_900, 100), (200_000, 500),
    (499_500, 500), (500_000, 1_000), (1_234_000, 1_000),
])
def test_krx_tick_stock_bands_at_boundaries(price, tick):
    assert krx_tick(price, "stock") == tick


@pytest.mark.parametrize("price", [1, 1_999, 2_000, 50_000, 500_000, 2_000_000])
def test_krx_tick_etf_and_etn_are_five_won_everywhere(price):
    assert krx_tick(price, "etf") == 5 and krx_tick(price, "etn") == 5


@pytest.mark.parametrize("bad", [0, -5, math.nan, math.inf])
def test_krx_tick_rejects_non_positive_prices(bad):
    with pytest.raises(ValueError):
        krx_tick(bad, "stock")


def test_krx_tick_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown instrument kind"):
        krx_tick(1_000, "bond")


def _valid_stock_prices(top: int = 1_100_000) -> list[int]:
    out: list[int] = []
    bands = [(1, 2_000, 1), (2_000, 5_000, 5), (5_000, 20_000, 10), (20_000, 50_000, 50),
             (50_000, 200_000, 100), (200_000, 500_000, 500), (500_000, top, 1_000)]
    for lo, hi, step in bands:
        out += range(lo, hi, step)
    return out


@pytest.mark.parametrize("price,buy,sell", [
    (1_999.5, 1_999, 2_000),        # sell crosses into the 5-won band
    (4_996, 4_995, 5_000),          # … into the 10-won band
    (19_995.1, 19_990, 20_000),
    (49_960, 49_950, 50_000),
    (199_950.5, 199_900, 200_000),
    (499_600, 499_500, 500_000),
    (500_001, 500_000, 501_000),
    (50_025.000000001, 50_000, 50_100),
    (55_000 * 0.9995, 54_900, 55_000),
    (2_000, 2_000, 2_000),
])
def test_round_limit_stock_buys_down_sells_up_across_bands(price, buy, sell):
    assert round_limit(price, "stock", Side.BUY) == buy
    assert round_limit(price, "stock", Side.SELL) == sell
    assert is_on_tick(buy, "stock") and is_on_tick(sell, "stock")


def test_round_limit_matches_brute_force_nearest_valid_price():
    valid = _valid_stock_prices()
    rng = random.Random(20250613)
    prices = [rng.uniform(1, 1_000_000) for _ in range(3_000)]
    prices += [b + d for b in (2_000, 5_000, 20_000, 50_000, 200_000, 500_000)
               for d in (-1.5, -0.5, -1e-7, 0, 1e-7, 0.5, 1.5)]
    for p in prices:
        down = valid[bisect.bisect_right(valid, p + 1e-6) - 1]
        up = valid[bisect.bisect_left(valid, p - 1e-6)]
        assert round_limit(p, "stock", Side.BUY) == down, p
        assert round_limit(p, "stock", Side.SELL) == up, p


def test_round_limit_etf_uses_five_won():
    assert round_limit(10_075 * 1.0005, "etf", "BUY") == 10_080
    assert round_limit(10_075 * 0.9995, "etf", "SELL") == 10_070
    assert round_limit(1_001, "etf", "SELL") == 1_005
    assert round_limit(1_004.9, "etf", "BUY") == 1_000


def test_round_limit_buy_below_one_tick_is_an_error():
    with pytest.raises(ValueError):
        round_limit(3, "etf", Side.BUY)


def test_is_on_tick_checks_the_band_of_the_price():
    assert is_on_tick(5_010, "stock") and not is_on_tick(5_005, "stock")
    assert is_on_tick(4_995, "stock") and not is_on_tick(4_996, "stock")
    assert not is_on_tick(10_000.5, "etf")


# -- drafting ----------------------------------------------------------------------------------
def test_draft_ticket_orders_limits_fees_and_text():
    plan, settings = standard_plan(), Settings()
    t = draft_ticket(plan, settings, cash=10_000_000.0, created_at=CREATED)
    assert [(o.side, o.ticker) for o in t.orders] == [
        (Side.SELL, "005930"), (Side.BUY, "305720"), (Side.BUY, "069500")]  # sells, then rank
    sell, b1, b2 = t.orders
    assert sell.limit_price == 55_000          # 54,972.5 rounded UP on the 100-won band
    assert b1.limit_price == 10_080            # 10,080.04 rounded DOWN on 5 won
    assert b2.limit_price == 35_015            # 35,017.5 rounded DOWN on 5 won
    assert (sell.qty, b1.qty, b2.qty) == (10, 198, 50)
    assert sell.est_notional == 550_000
    # commission 0.015 % + 2025 stock sell tax 0.15 % (fills on 2025-06-16)
    assert sell.est_fees == pytest.approx(550_000 * 0.00015 + 550_000 * 0.0015)
    assert b1.est_fees == pytest.approx(198 * 10_080 * 0.00015)
    assert sell.name == "삼성전자" and sell.kind == "stock" and sell.reason == ReasonCode.STOP_LOSS
    assert sell.hts_text == ("[매도] 삼성전자 (005930) 10주 지정가 55,000원 = 550,000원 "
                             "(수수료·세금 약 908원)")  # 82.5 commission + 825 tax
    assert b1.hts_text == ("[매수] KODEX 2차전지산업 (305720) 198주 지정가 10,080원 = "
                           "1,995,840원 (수수료·세금 약 299원)")
    for o in t.orders:
        assert o.hts_text in t.copy_text
    assert t.plan_id in t.copy_text and t.ticket_id in t.copy_text
    assert t.mode is ExecutionMode.DRY_RUN and t.asof == plan.asof and not t.confirmed
    assert t.created_at == CREATED


def test_draft_ticket_id_is_content_addressed():
    plan = standard_plan()
    a = draft_ticket(plan, Settings(), cash=10_000_000.0, created_at=CREATED)
    b = draft_ticket(plan, Settings(), cash=10_000_000.0,
                     created_at=datetime(2025, 6, 16, 9, 1, tzinfo=KST))
    assert a.ticket_id == b.ticket_id == ticket_id_of(a)
    assert a.ticket_id.startswith("20250613-tk")
    manual = draft_ticket(plan, Settings(execution_mode=ExecutionMode.MANUAL),
                          cash=10_000_000.0, created_at=CREATED)
    assert manual.ticket_id != a.ticket_id
    # Less cash changes the buys' budgets, not the orders (a buy's qty is its sized cap).
    poorer = draft_ticket(plan, Settings(), cash=1_000_000.0, created_at=CREATED)
    assert poorer.ticket_id == a.ticket_id
    assert [o.cash_budget for o in poorer.orders] != [o.cash_budget for o in a.orders]
    other = draft_ticket(plan.model_copy(update={"plan_id": "20250613-bbbbbbbbbbbb"}),
                         Settings(), cash=10_000_000.0, created_at=CREATED)
    assert other.ticket_id != a.ticket_id


def test_draft_ticket_keeps_sized_caps_and_budgets_the_cash_above_reserve_in_rank_order():
    plan, c = standard_plan(), 0.00015
    t = draft_ticket(plan, Settings(), cash=1_000_000.0, created_at=CREATED)
    avail = 1_000_000.0 + (550_000 - 550_000 * c - 550_000 * 0.0015)
    # the first buy may spend everything above the reserve; its estimated cut at the limit
    b1 = avail - plan.reserve
    q1 = math.floor(b1 / (10_080 * (1 + c)))
    assert q1 == 143 == rules.buy_qty_at_fill(avail, plan.reserve, 10_080.0, c, 198)
    avail -= q1 * 10_080 + q1 * 10_080 * c
    b2 = avail - plan.reserve
    assert 0 < b2 < 35_015  # the second buy cannot afford one share at the limit
    assert [(o.ticker, o.qty) for o in t.orders] == [("005930", 10), ("305720", 198),
                                                      ("069500", 50)]
    sell, buy1, buy2 = t.orders
    assert sell.cash_budget is None
    assert buy1.cash_budget == pytest.approx(b1) and buy2.cash_budget == pytest.approx(b2)
    assert buy1.est_notional == q1 * 10_080 and buy2.est_notional == 0
    # the line types the sized cap and its own amount; the cash cap is said once per ticket
    assert "198주" in buy1.hts_text and "최대" not in buy1.hts_text
    assert t.copy_text.count(fmt.won(b1)) == 1
    assert fmt.won_number(b1) not in buy1.hts_text


def test_hts_line_numbers_add_up_qty_times_limit_and_that_amounts_fees():
    plan, settings = standard_plan(), Settings()
    t = draft_ticket(plan, settings, cash=10_000_000.0, created_at=CREATED)
    year = fill_year(plan.asof)
    terms = [order_terms(o, plan.asof, settings) for o in plan.orders]
    for o in t.orders:
        x = next(x for x in terms if x.ticker == o.ticker)
        assert (x.qty, x.limit) == (o.qty, o.limit_price)
        assert x.amount == o.qty * o.limit_price
        fees = sum(order_fees(o.side, o.kind, float(x.amount), settings.strategy.commission,
                              year))
        assert x.fees == pytest.approx(fees)
        numbers = [int(n.replace(",", "")) for n in re.findall(r"[\d,]+(?=[주원])", o.hts_text)]
        assert numbers == [o.qty, o.limit_price, o.qty * o.limit_price, round(fees)], o.hts_text
        assert o.hts_text == x.line()  # one function builds the line everywhere
    # the copy text's totals are the sums of its lines
    sells = sum(x.amount for x in terms if x.side is Side.SELL)
    buys = sum(x.amount for x in terms if x.side is Side.BUY)
    total_fees = sum(x.fees for x in terms)
    assert f"매도 {sells:,}원 · 매수 {buys:,}원 · 예상 수수료·세금 {round(total_fees):,}원" \
        in t.copy_text
    assert "플랜" not in t.copy_text and f"계획 {plan.plan_id}" in t.copy_text  # one word
    assert cash_after(1_000_000.0, terms) == pytest.approx(1_000_000.0 + sells - buys
                                                           - total_fees)


def test_draft_ticket_uses_the_sell_tax_of_the_fill_year():
    # 2024-12-30 is the last session of 2024: its orders fill on 2025-01-02 (0.15 %)
    t = draft_ticket(standard_plan(asof=date(2024, 12, 30)), Settings(), cash=1e7,
                     created_at=CREATED)
    assert t.orders[0].est_fees == pytest.approx(550_000 * (0.00015 + 0.0015))
    t = draft_ticket(standard_plan(asof=date(2024, 12, 27)), Settings(), cash=1e7,
                     created_at=CREATED)
    assert t.orders[0].est_fees == pytest.approx(550_000 * (0.00015 + 0.0018))
    t = draft_ticket(standard_plan(asof=date(2023, 6, 1)), Settings(), cash=1e7,
                     created_at=CREATED)
    assert t.orders[0].est_fees == pytest.approx(550_000 * (0.00015 + 0.0020))


@pytest.mark.parametrize("decision", [PlanDecision.BLOCKED, PlanDecision.EMPTY])
def test_draft_ticket_refuses_a_plan_that_is_not_ready(decision):
    plan = make_plan([], decision=decision).model_copy(update={"reasons": ["DATA_STALE"]})
    with pytest.raises(TicketDraftError, match=f"is {decision.value}.*READY"):
        draft_ticket(plan, Settings(), cash=1e7, created_at=CREATED)


def test_draft_ticket_keeps_a_buy_its_budget_cannot_pay_for_as_the_backtest_tries_it():
    # The cut is made at the next open: a lower open may still afford shares.
    plan = make_plan([planned(Side.BUY, "305720", 198, 10_075.0, rank=0)])
    [o] = draft_ticket(plan, Settings(), cash=plan.reserve + 5_000.0, created_at=CREATED).orders
    assert o.qty == 198 and o.cash_budget == pytest.approx(5_000.0) and o.est_notional == 0
    [o] = draft_ticket(plan, Settings(), cash=50.0, created_at=CREATED).orders
    assert o.cash_budget == 0


def test_draft_ticket_needs_an_aware_created_at():
    with pytest.raises(TicketDraftError, match="timezone-aware"):
        draft_ticket(standard_plan(), Settings(), cash=1e7,
                     created_at=datetime(2025, 6, 16, 8, 30))  # noqa: DTZ001


# -- verification ------------------------------------------------------------------------------
@pytest.fixture
def drafted() -> tuple[Ticket, OrderPlan]:
    plan = standard_plan()
    return draft_ticket(plan, Settings(), cash=1e7, created_at=CREATED), plan


def _codes(ticket: Ticket, plan: OrderPlan, settings: Settings | None = None) -> set[tuple]:
    return {(p.code, p.field) for p in ticket_problems(ticket, plan, settings or Settings())}


def test_verify_ticket_accepts_the_draft(drafted):
    t, plan = drafted
    assert verify_ticket(t, plan, Settings()) == []
    # a smaller quantity than planned is fine
    smaller = rebuilt(t, orders=[t.orders[0].model_copy(update={"qty": 5}), *t.orders[1:]])
    assert verify_ticket(smaller, plan, Settings()) == []


def test_verify_ticket_other_plan_is_stale(drafted):
    t, plan = drafted
    other = plan.model_copy(update={"plan_id": "20250613-ffffffffffff"})
    problems = verify_ticket(t, other, Settings())
    assert len(problems) == 1 and problems[0].startswith("STALE plan_id:")
    assert "re-draft" in problems[0]


def test_verify_ticket_flags_each_departure_with_its_field(drafted):
    t, plan = drafted
    o = t.orders
    cases = {
        ("NOT_IN_PLAN", "orders[3].ticker"): [*o, TicketOrder(
            side=Side.BUY, ticker="229200", name="KODEX 코스닥150", kind="etf", qty=1,
            limit_price=10_000, est_notional=10_000, est_fees=1.5,
            reason=ReasonCode.RSI_DIP_ENTRY, hts_text="x")],
        ("WRONG_SIDE", "orders[0].side"): [o[0].model_copy(update={"side": Side.BUY}), *o[1:]],
        ("QTY_ABOVE_PLAN", "orders[1].qty"): [o[0], o[1].model_copy(update={"qty": 199}), o[2]],
        ("OFF_TICK", "orders[2].limit_price"): [
            o[0], o[1], o[2].model_copy(update={"limit_price": 35_013})],
        ("LIMIT_AWAY", "orders[1].limit_price"): [
            o[0], o[1].model_copy(update={"limit_price": 10_300}), o[2]],
    }
    for expected, orders in cases.items():
        assert expected in _codes(rebuilt(t, orders=orders), plan), expected


def test_verify_ticket_limit_tolerance_is_half_a_percent(drafted):
    t, plan = drafted
    ok = rebuilt(t, orders=[t.orders[0], t.orders[1].model_copy(update={"limit_price": 10_125}),
                            t.orders[2]])  # 10,080.04 + 44.96 → within 0.5 % (50.4 won)
    assert ("LIMIT_AWAY", "orders[1].limit_price") not in _codes(ok, plan)
    far = rebuilt(t, orders=[t.orders[0], t.orders[1].model_copy(update={"limit_price": 10_135}),
                             t.orders[2]])
    assert ("LIMIT_AWAY", "orders[1].limit_price") in _codes(far, plan)


def test_verify_ticket_mode_id_universe_and_guardrails(drafted):
    t, plan = drafted
    assert ("MODE_MISMATCH", "mode") in _codes(
        t, plan, Settings(execution_mode=ExecutionMode.MANUAL))
    assert ("TICKET_ID", "ticket_id") in _codes(
        t.model_copy(update={"ticket_id": "20250613-tk000000000000"}), plan)
    narrow = Settings(universe=["069500", "005930"])
    assert ("OUTSIDE_UNIVERSE", "orders[1].ticker") in _codes(t, plan, narrow)
    # the sell of 005930 outside the universe is never blocked
    assert all(f != "orders[0].ticker" for _, f in _codes(t, plan, Settings(universe=["069500"])))
    tight = Settings(guardrails=Guardrails(max_single_order_pct=0.1, max_orders=2,
                                           max_buy_turnover_pct=0.2))
    codes = _codes(t, plan, tight)
    assert ("GUARDRAIL_MAX_SINGLE_ORDER", "orders[1].qty") in codes
    assert ("GUARDRAIL_MAX_ORDERS", "orders") in codes
    assert ("GUARDRAIL_MAX_BUY_TURNOVER", "orders") in codes
    poor = plan.model_copy(update={"cash": 100_000.0})  # budgets drafted from 10,000,000
    assert ("GUARDRAIL_MIN_CASH", "orders[1].cash_budget") in _codes(t, poor)


def test_verify_ticket_sells_only_are_never_over_the_order_limit():
    """SPEC §3: guardrails hold back buys, never sells; a ticket with buys counts every line."""
    plan = standard_plan()
    sell = next(o for o in plan.orders if o.side.value == "SELL")
    buys = [o for o in plan.orders if o.side.value == "BUY"]
    other = next(b.ticker for b in buys)
    two_sells = plan.model_copy(update={"orders": [sell, sell.model_copy(update={
        "ticker": other, "kind": next(b.kind for b in buys)})]})
    one = Settings(guardrails=Guardrails(max_orders=1))
    sells_only = draft_ticket(two_sells, one, cash=1e7, created_at=CREATED)
    assert len(sells_only.orders) == 2
    assert ("GUARDRAIL_MAX_ORDERS", "orders") not in _codes(sells_only, two_sells, one)
    with_buys = draft_ticket(plan, Settings(), cash=1e7, created_at=CREATED)
    assert ("GUARDRAIL_MAX_ORDERS", "orders") in _codes(with_buys, plan, one)


def test_verify_ticket_plan_not_ready(drafted):
    t, plan = drafted
    blocked = plan.model_copy(update={"decision": PlanDecision.BLOCKED})
    assert ("PLAN_NOT_READY", "plan_id") in _codes(t, blocked)


def test_krx_ticks_vectorised_matches_scalar_table():
    import numpy as np

    from strategy.ticketing import krx_tick, krx_ticks

    prices = np.array([1.0, 1_999.0, 2_000.0, 4_999.0, 5_000.0, 19_999.0, 20_000.0, 49_999.0,
                       50_000.0, 199_999.0, 200_000.0, 499_999.0, 500_000.0, 2_000_000.0])
    for kind in ("stock", "etf"):
        assert krx_ticks(prices, kind).tolist() == [krx_tick(p, kind) for p in prices]
