"""Broker reconciliation: the broker's balance beside the book (SSOT), the differences by
field, reconcile now, and the two resolutions (take the broker's: a PUSH with a reason; keep
the book: recorded with a reason). Everything goes through the PC backend to OCI; the PC
holds no broker credential."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from contracts.broker import BrokerHoldingView, Reconciliation
from pc_cockpit import fmt, ui
from pc_cockpit.client import PcClient
from pc_cockpit.i18n import t

PAGE = "broker"


def side_by_side(rec: Reconciliation) -> pd.DataFrame:
    """One row per ticker (and cash): book against broker, quantity and average price."""
    book = {h.ticker: h for h in rec.book_holdings}
    broker = {h.ticker: h for h in rec.broker_holdings}

    def cell(h: BrokerHoldingView | None, what: str) -> str:
        if h is None:
            return "—"
        return fmt.num(h.qty) if what == "qty" else fmt.num(h.avg_price, 2)

    rows = [{t("col.ticker"): "cash", f"{t('br.book')}": fmt.num(rec.book_cash),
             f"{t('br.broker')}": fmt.num(rec.broker_cash), "": ""}]
    for ticker in sorted(set(book) | set(broker)):
        for what in ("qty", "avg_price"):
            b, k = cell(book.get(ticker), what), cell(broker.get(ticker), what)
            rows.append({t("col.ticker"): f"{ticker} {what}", f"{t('br.book')}": b,
                         f"{t('br.broker')}": k, "": "" if b == k else "≠"})
    return pd.DataFrame(rows)


def _reconcile() -> None:
    ui.act(PAGE, lambda c: c.reconcile().message)


def _resolve(choice: str) -> None:
    reason = str(st.session_state.get("br_reason", "")).strip()
    if not reason:
        ui.flash(PAGE, "warning", t("br.need_reason"))
        return
    ui.act(PAGE, lambda c: c.resolve_reconciliation(choice, reason).message)


def panel(c: PcClient) -> None:
    status = ui.fetch(c.broker_status)
    if status is None:
        return
    if not status.configured:
        st.info(t("br.not_configured"))
        return
    st.caption(f"KIS {status.kind} · {status.execution_mode}")
    st.button(t("br.reconcile"), key="br_run", type="primary", on_click=_reconcile)
    rec = status.last_reconciliation
    if rec is None:
        st.caption(t("br.never"))
        return
    (st.success if rec.clean else st.error)(
        f"{t('br.clean') if rec.clean else t('br.drift')} · {fmt.kst(rec.at, seconds=True)}")
    st.dataframe(side_by_side(rec), hide_index=True, width="stretch")
    if not rec.clean:
        st.dataframe(pd.DataFrame([d.model_dump() for d in rec.diffs]), hide_index=True,
                     width="stretch")
        st.text_input(t("br.reason"), key="br_reason")
        left, right = st.columns(2)
        left.button(t("br.take"), key="br_take", on_click=_resolve, args=("take_broker",))
        right.button(t("br.keep"), key="br_keep", on_click=_resolve, args=("keep_book",))


c = ui.page_header(PAGE, "nav.broker")
if c is None:
    st.stop()
panel(c)
