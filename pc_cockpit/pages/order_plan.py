"""Order plan: each order with qty, limit price on a valid tick, notional, fees and tax; cash
before and after; every guardrail's verdict; and for a blocked or empty plan, why and what
would change it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from contracts.plan import OrderPlan, PlanDecision
from contracts.settings import Settings
from pc_cockpit import fmt, ui
from pc_cockpit.i18n import t
from strategy import ticketing

PAGE = "plan"


def limit_price(order, slippage: float) -> int | None:  # type: ignore[no-untyped-def]
    """The limit the ticket will carry: the one drafting rule of `strategy.ticketing`."""
    try:
        return ticketing.plan_limit(order, slippage)
    except ValueError:
        return None


def orders_table(plan: OrderPlan, settings: Settings | None) -> None:
    slippage = settings.strategy.slippage if settings is not None else 0.0
    rows = []
    for o in plan.orders:
        rows.append({
            t("col.side"): t("action." + o.side.value), t("col.ticker"): o.ticker,
            t("col.name"): o.name, t("col.qty"): fmt.num(o.qty),
            t("col.limit"): fmt.num(limit_price(o, slippage)),
            t("col.notional"): fmt.krw(o.est_notional),
            t("col.commission"): fmt.krw(o.est_commission), t("col.tax"): fmt.krw(o.est_tax),
            t("col.reason"): t("reason." + o.reason.value),
        })
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def cash_row(plan: OrderPlan) -> None:
    cols = st.columns(4)
    cols[0].metric(t("plan.equity"), fmt.krw(plan.equity))
    cols[1].metric(t("plan.cash_before"), fmt.krw(plan.cash))
    change = plan.est_cash_after - plan.cash
    cols[2].metric(t("plan.cash_after"), fmt.krw(plan.est_cash_after))
    cols[2].markdown(fmt.signed_markdown(change, f"{change:+,.0f}"))
    cols[3].metric(t("plan.reserve"), fmt.krw(plan.reserve))


def guardrails(plan: OrderPlan) -> None:
    st.subheader(t("plan.guardrails"))
    if not plan.checks:
        st.caption(t("plan.no_checks"))
        return
    rows = [{t("col.ok"): "✅" if c.ok else "❌", t("col.check"): c.code,
             t("col.value"): fmt.plain(c.value), t("col.limit_value"): fmt.plain(c.limit),
             t("col.message"): c.message} for c in plan.checks]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _change_key(reason: str) -> str:
    code = reason.split(":", 1)[0].strip().upper()
    if code.startswith("GUARDRAIL"):
        return "change.GUARDRAIL"
    return f"change.{code}" if f"change.{code}" in _known() else "change.default"


def _known() -> set[str]:
    from pc_cockpit.i18n import TEXT

    return set(TEXT)


def why_block(plan: OrderPlan, settings: Settings | None, entry_block: str | None) -> None:
    reasons = list(plan.reasons)
    if entry_block and entry_block not in " ".join(reasons):
        reasons.append(entry_block)
    if not reasons:
        reasons = ["RSI_NOT_LOW"] if plan.decision is PlanDecision.EMPTY else []
    st.markdown(f"**{t('plan.why')}**")
    for r in reasons:
        code = r.split(":", 1)[0].strip()
        words = t("reason." + code) if ("reason." + code) in _known() else r
        st.markdown(f"- {words} (`{r}`)")
    st.markdown(f"**{t('plan.would_change')}**")
    sp = settings.strategy if settings is not None else None
    seen = set()
    for r in reasons or ["default"]:
        key = _change_key(r)
        if key in seen:
            continue
        seen.add(key)
        st.markdown("- " + t(key, threshold=sp.adx_threshold if sp else "?",
                             buy=sp.rsi_buy_threshold if sp else "?"))


c = ui.page_header(PAGE, "nav.plan")
if c is None:
    st.stop()
# The pulled plan, as Portfolio and Strategy show the pulled state: it is the plan a ticket
# draft is built from (the source line says when OCI has moved on since).
snap = ui.fetch(c.snapshot, quiet_codes=("NOT_PULLED",))
if snap is None:
    st.info(t("err.not_pulled"))
    st.stop()
settings = snap.settings
plan = snap.plan
ui.source_caption("pulled")
if plan is None:
    st.info(t("err.no_plan", message=t("change.default")))
    st.stop()
st.caption(t("plan.id", plan_id=plan.plan_id, asof=plan.asof, p=plan.portfolio_revision,
             s=plan.settings_revision))
if plan.synthetic_data:
    st.warning(t("plan.synthetic"))
box = {PlanDecision.READY: st.success, PlanDecision.EMPTY: st.info,
       PlanDecision.BLOCKED: st.error}[plan.decision]
box(t("plan.decision." + plan.decision.value))
entry_block = None
if snap is not None and snap.summary is not None and snap.summary.signals is not None:
    eb = snap.summary.signals.entry_block
    entry_block = eb.value if eb is not None else None
if plan.orders:
    orders_table(plan, settings)
if plan.decision is not PlanDecision.READY:
    why_block(plan, settings, entry_block)
elif held := [r for r in plan.reasons if r.startswith("GUARDRAIL")]:
    # SPEC §3: a guardrail held the buys back; the sells above still go.
    st.warning(t("plan.buys_held_back", reasons=", ".join(held)) + " " + t("change.GUARDRAIL"))
cash_row(plan)
guardrails(plan)
