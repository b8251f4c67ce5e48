"""Strategy & settings (edit, what-if backtest against the current parameters, PUSH with a
reason into the audit trail) and the Order plan page (READY, BLOCKED with why and what would
change it), against a real PC backend and OCI."""

from __future__ import annotations

from datetime import date

import pytest
from cockpit_stack import Stack, pull, texts

from contracts.plan import OrderPlan
from contracts.settings import Guardrails, Settings, StrategyParams
from krx_common import fmt
from pc_cockpit.forms import FormError, build_settings
from pc_cockpit.i18n import field_label
from strategy import ticketing
from strategy.backtest.frames import format_value

pytestmark = pytest.mark.integration


def submit(at, label: str):  # noqa: ANN001, ANN201
    return next(b for b in at.button if b.label == label).click().run()


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_strategy_fields_have_labels_in_the_language_and_the_field_name_as_help(stack, cockpit,
                                                                              lang):
    pull(stack)
    at = cockpit(stack, page="strategy", lang=lang)
    widgets = [*at.number_input, *at.checkbox, *at.selectbox]
    by_key = {w.key: w for w in widgets if w.key}
    for prefix, model, label_prefix in (("sp", StrategyParams, "param"),
                                        ("gr", Guardrails, "guard")):
        for name in model.model_fields:
            w = by_key[f"{prefix}_{name}"]
            assert w.label == field_label(label_prefix, name, lang) != name
            assert name in w.help
    assert by_key["st_daily"].label == field_label("notify", "daily_summary", lang)


def test_strategy_edit_whatif_and_push_are_audited_with_the_reason(fresh_stack, cockpit):
    pull(fresh_stack)
    at = cockpit(fresh_stack, page="strategy")
    assert at.number_input(key="sp_rsi_buy_threshold").value == 50.0
    at.number_input(key="sp_rsi_buy_threshold").set_value(45.0)
    submit(at, "로컬 작업본에 저장")
    assert any("작업본에 저장됨: 변경 1건" in s.value for s in at.success), texts(at)
    at.button(key="wi_run").click().run()
    assert not at.exception, texts(at)
    side_by_side = next(d.value for d in at.dataframe if "수정안" in d.value.columns)
    # The edited column is the PC backend's own backtest of the edited parameters.
    start = at.session_state["wi_start"]
    end = at.session_state["wi_end"]
    from pc_cockpit.charts import session_window

    s, e = session_window(start, end)
    with fresh_stack.pc_client() as c:
        edited = c.post("/api/v1/backtest", json={
            "start": s.isoformat(), "end": e.isoformat(),
            "params": {"rsi_buy_threshold": 45.0}}).json()
        current = c.post("/api/v1/backtest", json={
            "start": s.isoformat(), "end": e.isoformat(),
            "params": {"rsi_buy_threshold": 50.0}}).json()
    row = side_by_side[side_by_side["지표"] == "최종 자산 (final_equity)"].iloc[0]
    assert row["수정안"] == format_value("final_equity", edited["metrics"]["final_equity"])
    assert row["현재 설정"] == format_value("final_equity", current["metrics"]["final_equity"])
    assert len(at.get("plotly_chart")) == 1  # equity curves overlaid
    at.text_input(key="strategy_push_reason").input("buy dips earlier")
    submit(at, "PUSH")
    with fresh_stack.oci_client() as c:
        snap = c.get("/api/v1/sync/snapshot").json()
        entry = c.get("/api/v1/audit", params={"action": "PUSH"}).json()[-1]
    assert snap["settings"]["strategy"]["rsi_buy_threshold"] == 45.0
    assert any(f"새 리비전 {snap['revision']} " in s.value for s in at.success), texts(at)
    assert entry["reason"] == "buy dips earlier"
    assert [(c["path"], c["before"], c["after"]) for c in entry["changes"]] == \
        [("settings.strategy.rsi_buy_threshold", 50.0, 45.0)]


def test_strategy_same_parameters_whatif_says_so(stack, cockpit):
    pull(stack)
    at = cockpit(stack, page="strategy", lang="en")
    at.button(key="wi_run").click().run()
    assert any("equal the current ones" in w.value for w in at.warning)


def test_settings_form_validation_names_the_field():
    base = Settings()
    bad = base.strategy.model_dump() | {"rsi_buy_threshold": 80.0}
    with pytest.raises(ValueError, match="rsi_buy_threshold"):
        build_settings(base, {"strategy": bad})
    with pytest.raises(ValueError, match="universe"):
        build_settings(base, {"universe": ["069500", "069500"]})


def test_settings_form_errors_read_in_korean_by_field_and_type_not_english():
    base = Settings()
    bad = base.strategy.model_dump() | {"rsi_buy_threshold": 80.0}
    with pytest.raises(FormError) as caught:
        build_settings(base, {"strategy": bad})
    said = caught.value.operator_text("ko")
    assert said == ("입력 오류 — RSI 매수 기준 (미만 매수) `strategy.rsi_buy_threshold`: "
                    "RSI 매수 기준은 매도 기준보다 낮아야 합니다 [rsi_order]"), said
    assert "Value error" not in said and "must be" not in said
    bad = base.strategy.model_dump() | {"stop_loss_pct": 0.0}
    with pytest.raises(FormError) as caught:
        build_settings(base, {"strategy": bad})
    assert caught.value.operator_text("ko") == \
        ("입력 오류 — 손절 비율 (0.12 = 12%) `strategy.stop_loss_pct`: 0보다 커야 합니다 "
         "[greater_than]")


def test_order_plan_ready_shows_limit_on_tick_fees_cash_and_guardrails(stack, cockpit):
    pull(stack)
    with stack.oci_client() as c:
        plan = OrderPlan.model_validate(c.get("/api/v1/plans/current").json())
        settings = Settings.model_validate(c.get("/api/v1/sync/snapshot").json()["settings"])
    assert plan.decision.value == "READY"
    at = cockpit(stack, page="order_plan")
    orders = at.dataframe[0].value
    order = plan.orders[0]
    row = orders[orders["종목코드"] == order.ticker].iloc[0]
    limit = ticketing.plan_limit(order, settings.strategy.slippage)
    assert row["지정가"] == f"{limit:,}"
    assert ticketing.is_on_tick(limit, order.kind)
    assert row["수량"] == f"{order.qty:,}"
    # 금액 is exactly qty × limit: the amount the HTS line types, with that amount's fees
    terms = [ticketing.order_terms(o, plan.asof, settings) for o in plan.orders]
    assert row["금액"] == f"{order.qty * limit:,}원"
    assert [c.value for c in at.code] == ["\n".join(x.line() for x in terms)]
    shown = {m.label: m.value for m in at.metric}
    assert shown["현재 현금"] == f"{round(plan.cash):,}원"
    assert shown["주문 후 예상 현금"] == fmt.won(ticketing.cash_after(plan.cash, terms))
    checks = at.dataframe[1].value
    assert list(checks["검사"]) == [c.code for c in plan.checks]
    assert any("준비됨" in s.value for s in at.success)


def test_order_plan_guardrail_holds_back_buys_says_why_and_what_would_change_it(
    fresh_stack: Stack, cockpit
):
    """SPEC §3: a binding guardrail holds back the buys (never the sells) instead of BLOCKING
    the plan; the page says which guardrail and what would change it."""
    pull(fresh_stack)
    with fresh_stack.pc_client() as c:
        settings = c.get("/api/v1/workspace/settings").json()
        settings["guardrails"]["max_single_order_pct"] = 0.01
        assert c.put("/api/v1/workspace/settings", json=settings).status_code == 200
        pushed = c.post("/api/v1/push", json={"reason": "tiny orders only"})
        assert pushed.status_code == 200, pushed.text
        plan = c.get("/api/v1/plan").json()
    assert plan["decision"] in ("READY", "EMPTY")
    assert all(o["side"] == "SELL" for o in plan["orders"])
    held = [r for r in plan["reasons"] if r.startswith("GUARDRAIL_MAX_SINGLE_ORDER")]
    assert held and "buys held back" in held[0]
    at = cockpit(fresh_stack, page="order_plan", lang="en")
    assert not any("BLOCKED" in e.value for e in at.error), texts(at)
    page = texts(at)
    # the reason's words with its code beside them, once (not OCI's sentence twice)
    assert "GUARDRAIL_MAX_SINGLE_ORDER" in page and "held the buys back" in page, page
    assert page.count("GUARDRAIL_MAX_SINGLE_ORDER") == 1, page
    assert "Adjusting the guardrail limits" in page  # what would change it
    checks = next(d.value for d in at.dataframe if "Check" in d.value.columns)
    assert "❌" in set(checks["OK"])


def test_window_helper_moves_onto_sessions():
    from pc_cockpit.charts import session_window

    assert session_window(date(2025, 9, 6), date(2025, 9, 7)) == \
        (date(2025, 9, 8), date(2025, 9, 5))


def test_calendar_overrides_form_parses_lines_and_names_the_bad_one():
    from pc_cockpit.forms import calendar_values

    values = calendar_values("2025-06-03\n\n 2025-06-04 \n", "2025-11-13 10:00\n")
    s = build_settings(Settings(), {"calendar": values})
    assert [d.isoformat() for d in s.calendar.closed_dates] == ["2025-06-03", "2025-06-04"]
    assert {d.isoformat(): v for d, v in s.calendar.late_opens.items()} == {
        "2025-11-13": "10:00"}
    with pytest.raises(ValueError, match="late_opens line 1"):
        calendar_values("", "2025-11-13")
    with pytest.raises(ValueError, match="calendar"):
        build_settings(Settings(), {"calendar": calendar_values("2025-06-31", "")})


def test_strategy_page_edits_the_calendar_overrides(fresh_stack, cockpit):
    pull(fresh_stack)
    at = cockpit(fresh_stack, page="strategy", lang="en")
    area = at.text_area(key="st_closed")
    assert area.value == "" and "calendar.closed_dates" in area.help
    area.set_value("2025-12-29")
    at.text_area(key="st_late").set_value("2025-11-13 10:00")
    submit(at, "Save to the local workspace")
    assert not at.exception, texts(at)
    with fresh_stack.pc_client() as c:
        cal = c.get("/api/v1/workspace/settings").json()["calendar"]
        assert cal == {"closed_dates": ["2025-12-29"], "late_opens": {"2025-11-13": "10:00"}}
        paths = {d["path"] for d in c.get("/api/v1/diff").json()["changes"]}
    assert {"calendar.closed_dates", "calendar.late_opens.2025-11-13"} <= paths
