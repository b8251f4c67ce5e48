"""Order plan: each order with qty, limit price on a valid tick, notional, fees and tax; cash
before and after; every guardrail's verdict; and for a blocked or empty plan, why and what
would change it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from contracts.plan import OrderPlan, PlanDecision
from contracts.settings import Settings
from krx_common import words
from pc_cockpit import fmt, ui
from pc_cockpit.i18n import TEXT, current_lang, t
from strategy import ticketing

PAGE = "plan"


def limit_price(order, slippage: float) -> int | None:  # type: ignore[no-untyped-def]
    """The limit the ticket will carry: the one drafting rule of `strategy.ticketing`."""
    try:
        return ticketing.plan_limit(order, slippage)
    except ValueError:
        return None


def order_terms(plan: OrderPlan, settings: Settings | None) -> list[ticketing.OrderTerms]:
    """Each order as its HTS line types it (qty × limit, that amount's fees); empty without
    the pulled settings (the table then shows the plan's own estimates)."""
    if settings is None:
        return []
    try:
        return [ticketing.order_terms(o, plan.asof, settings) for o in plan.orders]
    except ValueError:
        return []


def orders_table(plan: OrderPlan, settings: Settings | None) -> None:
    slippage = settings.strategy.slippage if settings is not None else 0.0
    terms = order_terms(plan, settings)
    rows = []
    for i, o in enumerate(plan.orders):
        x = terms[i] if terms else None
        rows.append({
            t("col.side"): t("action." + o.side.value), t("col.ticker"): o.ticker,
            t("col.name"): o.name, t("col.qty"): fmt.num(o.qty),
            t("col.limit"): fmt.num(x.limit if x else limit_price(o, slippage)),
            # qty × limit exactly: the amount the HTS line types
            t("col.notional"): fmt.krw(x.amount if x else o.est_notional),
            t("col.commission"): fmt.krw(x.commission if x else o.est_commission),
            t("col.tax"): fmt.krw(x.tax if x else o.est_tax),
            t("col.reason"): t("reason." + o.reason.value),
        })
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if terms:
        st.code("\n".join(x.line() for x in terms), language=None)


def cash_row(plan: OrderPlan, settings: Settings | None) -> None:
    terms = order_terms(plan, settings)
    after = ticketing.cash_after(plan.cash, terms) if terms else plan.est_cash_after
    cols = st.columns(4)
    cols[0].metric(t("plan.equity"), fmt.krw(plan.equity))
    cols[1].metric(t("plan.cash_before"), fmt.krw(plan.cash))
    change = after - plan.cash
    cols[2].metric(t("plan.cash_after"), fmt.krw(after))
    cols[2].markdown(fmt.signed_markdown(change, fmt.krw(change, signed=True)))
    cols[3].metric(t("plan.reserve"), fmt.krw(plan.reserve))


def guardrails(plan: OrderPlan) -> None:
    st.subheader(t("plan.guardrails"))
    if not plan.checks:
        st.caption(t("plan.no_checks"))
        return
    lang = current_lang()
    rows = [{t("col.ok"): "✅" if c.ok else "❌", t("col.check"): c.code,
             t("col.value"): fmt.guard_value(c.code, c.value, lang),
             t("col.limit_value"): fmt.guard_value(c.code, c.limit, lang),
             t("col.message"): words.guard_text(c.code, c.value, c.limit, lang)}
            for c in plan.checks]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _change_key(code: str) -> str:
    if code.startswith("GUARDRAIL"):
        return "change.GUARDRAIL"
    return f"change.{code}" if f"change.{code}" in TEXT else "change.default"


def why_block(plan: OrderPlan, settings: Settings | None, entry_block: str | None) -> None:
    reasons = list(plan.reasons)
    codes = {words.plan_reason_code(r) for r in reasons}
    if entry_block and entry_block not in codes:
        reasons.append(entry_block)
    if not reasons:
        reasons = ["RSI_NOT_LOW"] if plan.decision is PlanDecision.EMPTY else []
    st.markdown(f"**{t('plan.why')}**")
    lang = current_lang()
    shown = []
    for r in reasons:
        said, code = words.plan_reason_text(r, lang)
        if (said, code) not in shown:  # one line per reason: the words, then the code once
            shown.append((said, code))
            st.markdown(f"- {said} (`{code}`)")
    st.markdown(f"**{t('plan.would_change')}**")
    sp = settings.strategy if settings is not None else None
    seen = set()
    for _, code in shown or [("", "default")]:
        key = _change_key(code)
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
    st.warning(t("plan.buys_held_back", reasons=", ".join(
        f"`{words.plan_reason_code(r)}`" for r in held)) + " " + t("change.GUARDRAIL"))
cash_row(plan, settings)
guardrails(plan)
