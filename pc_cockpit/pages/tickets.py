"""Tickets: draft from the current plan → preview with the HTS/MTS copy text → explicit
confirmation → submit; the ticket list with a state timeline; fills for MANUAL mode; a stale
draft flagged with a re-draft button."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from contracts.plan import PlanDecision
from contracts.ticket import TERMINAL_STATES, TicketOrder, TicketRecord, TicketState
from krx_common.words import ticket_event_text
from pc_cockpit import fmt, ui
from pc_cockpit.client import PcClient, PcError
from pc_cockpit.i18n import current_lang, t

PAGE = "tickets"
FILLABLE = (TicketState.AWAITING_MANUAL_EXECUTION, TicketState.PARTIALLY_FILLED)


def _draft(c: PcClient) -> str:
    stored = c.draft()
    st.session_state["tk_confirm"] = False
    return t("tk.draft_made", ticket_id=stored.ticket.ticket_id)


def _redraft(c: PcClient) -> str:
    try:
        c.discard_draft()
    except PcError as exc:
        if exc.code != "NO_DRAFT" and exc.status != 404:
            raise
    return _draft(c)


def _discard(c: PcClient) -> str:
    c.discard_draft()
    st.session_state["tk_confirm"] = False
    return ""


def _submit() -> None:
    if not st.session_state.get("tk_confirm"):
        ui.flash(PAGE, "warning", t("tk.need_confirm"))
        return

    def do(c: PcClient) -> str:
        record = c.submit()
        st.session_state["tk_confirm"] = False
        st.session_state["tk_selected"] = record.ticket.ticket_id
        return t("tk.submitted", ticket_id=record.ticket.ticket_id, state=record.state.value)

    def failed(exc: PcError) -> None:
        st.session_state["tk_confirm"] = False  # a refused send is confirmed afresh
        if exc.code in ("STALE_TICKET", "STALE_DRAFT"):
            st.session_state["tk_stale"] = exc.message

    ui.act(PAGE, do, on_error=failed)


def orders_frame(orders: list[TicketOrder]) -> pd.DataFrame:
    return pd.DataFrame([{
        t("col.side"): t("action." + o.side.value), t("col.ticker"): o.ticker,
        t("col.name"): o.name, t("col.qty"): fmt.num(o.qty),
        t("col.limit"): fmt.num(o.limit_price), t("col.notional"): fmt.krw(o.qty * o.limit_price),
        t("col.fees"): fmt.krw(o.est_fees), t("col.reason"): t("reason." + o.reason.value),
    } for o in orders])


def draft_block(c: PcClient) -> None:
    plan = ui.fetch(c.plan, quiet_codes=("NO_PLAN", "NOT_FOUND"))
    stored = ui.fetch(c.get_draft)
    if stored is None:
        if plan is None or plan.decision is not PlanDecision.READY:
            st.info(t("tk.no_plan_ready", decision=plan.decision.value if plan else "—"))
        st.button(t("tk.draft"), key="tk_draft", type="primary",
                  on_click=ui.act, args=(PAGE, _draft),
                  disabled=plan is None or plan.decision is not PlanDecision.READY)
        return
    ticket = stored.ticket
    record = stored.record
    stale = plan is not None and ticket.plan_id != plan.plan_id
    if stale or st.session_state.get("tk_stale"):
        st.warning(t("tk.stale", plan_id=ticket.plan_id,
                     current=plan.plan_id if plan else "—"))
        st.button(t("tk.redraft"), key="tk_redraft", type="primary",
                  on_click=ui.act, args=(PAGE, _redraft))
        st.session_state.pop("tk_stale", None)
    st.subheader(t("tk.preview", ticket_id=ticket.ticket_id, mode=ticket.mode.value,
                   asof=ticket.asof.isoformat()))
    st.dataframe(orders_frame(ticket.orders), hide_index=True, width="stretch")
    st.markdown(f"**{t('tk.copy')}**")
    st.code(ticket.copy_text or "\n".join(o.hts_text for o in ticket.orders), language=None)
    if record is not None:
        # Already accepted by OCI: said once as a caption (the submit's own answer is the one
        # alert), and no second send button.
        st.caption(t("tk.submitted", ticket_id=ticket.ticket_id, state=record.state.value))
        st.button(t("tk.discard"), key="tk_discard", on_click=ui.act, args=(PAGE, _discard))
        return
    st.checkbox(t("tk.confirm"), key="tk_confirm")
    cols = st.columns(2)
    cols[0].button(t("tk.submit"), key="tk_submit", type="primary", on_click=_submit,
                   disabled=not st.session_state.get("tk_confirm"))
    cols[1].button(t("tk.discard"), key="tk_discard", on_click=ui.act, args=(PAGE, _discard))


def _record_fills(ticket_id: str, orders: list[dict[str, Any]]) -> None:
    fills = []
    for i, o in enumerate(orders):
        qty = int(st.session_state.get(f"fill_qty_{ticket_id}_{i}") or 0)
        price = float(st.session_state.get(f"fill_px_{ticket_id}_{i}") or 0)
        if qty > 0:
            fills.append({"ticker": o["ticker"], "side": o["side"], "qty": qty, "price": price})
    if not fills:
        ui.flash(PAGE, "warning", t("tk.no_fills"))
        return
    final = bool(st.session_state.get(f"fill_final_{ticket_id}"))

    def do(c: PcClient) -> str:
        rec = c.record_fills(ticket_id, fills, final=final)
        return t("tk.recorded", ticket_id=ticket_id, state=rec.state.value)

    ui.act(PAGE, do)


def remaining(record: TicketRecord) -> list[int]:
    """Per order of the ticket, the quantity not filled yet (its qty less the recorded fills
    of the same ticker and side)."""
    left = []
    for o in record.ticket.orders:
        done = sum(f.qty for f in record.fills if f.ticker == o.ticker and f.side == o.side)
        left.append(max(0, o.qty - done))
    return left


def fills_form(record: TicketRecord) -> None:
    tid = record.ticket.ticket_id
    orders = [o.model_dump(mode="json") for o in record.ticket.orders]
    left = remaining(record)
    st.markdown(f"**{t('tk.record')}**")
    with st.form(f"fills_{tid}"):
        for i, o in enumerate(orders):
            cols = st.columns([3, 2, 2])
            cols[0].markdown(f"{t('action.' + o['side'])} {o['name']} ({o['ticker']}) "
                             f"× {o['qty']:,}")
            cols[0].caption(t("tk.remaining", left=f"{left[i]:,}", qty=f"{o['qty']:,}"))
            # a number_input needs max ≥ min: a fully filled order shows 0 and takes nothing
            cols[1].number_input(t("col.qty"), min_value=0, max_value=left[i], step=1,
                                 value=0, key=f"fill_qty_{tid}_{i}", disabled=left[i] == 0)
            cols[2].number_input(t("col.price"), min_value=0.0, step=5.0,
                                 value=float(o["limit_price"]), key=f"fill_px_{tid}_{i}")
        st.checkbox(t("tk.final"), key=f"fill_final_{tid}")
        st.form_submit_button(t("tk.record_btn"), on_click=_record_fills, args=(tid, orders))


def broker_lines_frame(record: TicketRecord) -> pd.DataFrame:
    """Per line in a broker mode: its state at the broker, the order number, filled and
    remaining quantities."""
    return pd.DataFrame([{
        t("col.side"): t("action." + ln.side.value), t("col.ticker"): ln.ticker,
        t("col.broker_state"): ln.state.value, t("col.order_no"): ln.order_no or "",
        t("col.qty"): fmt.num(ln.qty), t("col.filled"): fmt.num(ln.filled_qty),
        t("col.remaining"): fmt.num(ln.remaining_qty), t("col.message"): ln.message,
    } for ln in record.broker_lines])


def ticket_list(c: PcClient) -> None:
    st.subheader(t("tk.list"))
    st.button(t("tk.refresh"), key="tk_refresh")
    records = ui.fetch(c.tickets)
    if records is None:
        return
    if not records:
        st.caption(t("tk.none"))
        return
    en = current_lang() == "en"
    rows = [{t("col.ticket"): r.ticket.ticket_id,
             t("col.state"): f"{t('tkstate.' + r.state.value)} ({r.state.value})",
             t("col.submitted"): fmt.kst(r.submitted_at), t("col.orders"): len(r.ticket.orders),
             t("col.mode"): r.ticket.mode.value,
             **({t("col.message"): said} if (said := _last_event_words(r, en)) else {})}
            for r in records]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    ids = [r.ticket.ticket_id for r in records]
    if st.session_state.get("tk_selected") not in ids:
        st.session_state["tk_selected"] = ids[0]
    chosen = st.selectbox(t("tk.pick"), ids, key="tk_selected",
                          placeholder=t("widget.choose"))
    record = next(r for r in records if r.ticket.ticket_id == chosen)
    st.markdown(f"**{t('tk.timeline')}**")
    for e in record.events:
        icon = "✅" if e.state in TERMINAL_STATES and e.state not in (
            TicketState.REJECTED, TicketState.FAILED) else (
            "❌" if e.state in (TicketState.REJECTED, TicketState.FAILED) else "•")
        # the state's meaning and the event's own words from the catalogue (its code +
        # params); an older event without a code has only OCI's English message
        said = t("tkstate." + e.state.value)
        words = ticket_event_text(e.code, e.params, current_lang())
        extra = (f" — {words}" if words else
                 f" — {e.message}" if current_lang() == "en" and e.message else "")
        st.markdown(f"{icon} `{fmt.kst(e.at, seconds=True)}` **{said}** (`{e.state.value}`)"
                    f"{extra}")
    if record.broker_lines:
        st.markdown(f"**{t('tk.broker_lines')}**")
        st.dataframe(broker_lines_frame(record), hide_index=True, width="stretch")
    if record.fills:
        st.markdown(f"**{t('tk.fills')}**")
        st.dataframe(pd.DataFrame([{
            t("col.side"): t("action." + f.side.value), t("col.ticker"): f.ticker,
            t("col.qty"): fmt.num(f.qty), t("col.price"): fmt.price(f.price),
            t("col.at"): fmt.kst(f.filled_at)} for f in record.fills]),
            hide_index=True, width="stretch")
    if record.state in FILLABLE:
        fills_form(record)


def _last_event_words(record: TicketRecord, en: bool) -> str:
    """The last event in the operator's words (from its code); OCI's English message of an
    older record only in English."""
    last = record.events[-1] if record.events else None
    words = ticket_event_text(last.code, last.params, current_lang()) if last else None
    return words or (record.message if en else "")


c = ui.page_header(PAGE, "nav.tickets")
if c is None:
    st.stop()
ui.source_caption("live")
draft_block(c)
st.divider()
ticket_list(c)
