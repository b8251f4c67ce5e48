"""Portfolio: cash and holdings edited in the workspace (validated), the field-level diff
against the pulled revision, PUSH with a required reason, and the conflict view."""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from contracts.instruments import all_instruments
from contracts.portfolio import Portfolio
from pc_cockpit import fmt, sync_ui, ui
from pc_cockpit.client import PcClient, PcError
from pc_cockpit.forms import FormError, MissingCell, build_portfolio
from pc_cockpit.i18n import t

PAGE = "portfolio"
CELL_LABEL = {"ticker": "col.ticker", "qty": "col.qty", "avg_price": "col.avg_price"}


def holdings_frame(p: Portfolio) -> pd.DataFrame:
    return pd.DataFrame(
        [{"ticker": h.ticker, "qty": h.qty, "avg_price": h.avg_price,
          "entry_date": h.entry_date or ""} for h in p.holdings],
        columns=["ticker", "qty", "avg_price", "entry_date"],
    )


def editor(c: PcClient, working: Portfolio) -> None:
    # Widgets follow the working copy: a new one (PULL, discard) resets them.
    sig = hashlib.sha256(working.model_dump_json().encode("utf-8")).hexdigest()[:12]
    if st.session_state.get("pf_sig") != sig or "pf_cash" not in st.session_state:
        st.session_state["pf_sig"] = sig
        st.session_state["pf_cash"] = float(working.cash)
    codes = [i.code for i in all_instruments()]
    names = {i.code: i.name_ko for i in all_instruments()}
    with st.form("pf_form"):
        cash = st.number_input(t("pf.cash"), min_value=0.0, step=100_000.0, format="%.0f",
                               key="pf_cash")
        st.caption(fmt.krw(working.cash))
        st.markdown(f"**{t('pf.holdings')}**")
        edited = st.data_editor(
            holdings_frame(working), num_rows="dynamic", width="stretch",
            key=f"pf_holdings_{sig}", hide_index=True,
            # Not `required=True`: the grid then drops a new row with an empty required cell
            # without a word ("변경 0건"); `build_portfolio` names the row and the cell instead.
            column_config={
                "ticker": st.column_config.SelectboxColumn(
                    t("col.ticker"), options=codes,
                    format_func=lambda code: f"{code} {names.get(str(code), '')}".strip()),
                # No min_value: the grid would silently clamp a bad number; the contract
                # refuses it on save with a message naming the holding and the field.
                "qty": st.column_config.NumberColumn(t("col.qty"), step=1, format="%,d"),
                # shown to the won with separators; the stored value keeps its decimals
                "avg_price": st.column_config.NumberColumn(t("col.avg_price"), format="%,.0f"),
                "entry_date": st.column_config.TextColumn(t("col.entry_date"),
                                                          help="YYYY-MM-DD"),
            },
        )
        saved = st.form_submit_button(t("pf.save"))
    if saved:
        try:
            portfolio = build_portfolio(working, float(cash), edited)
        except MissingCell as exc:
            ui.flash(PAGE, "error", t("pf.missing_cell", row=exc.row + 1,
                                      ticker=exc.ticker or "—", column=t(CELL_LABEL[exc.column])))
            st.rerun()
        except ValueError as exc:
            ui.flash(PAGE, "error", exc.operator_text() if isinstance(exc, FormError)
                     else t("err.invalid", field="portfolio", message=str(exc)))
            st.rerun()
        try:
            c.put_portfolio(portfolio)
            n = len([ch for ch in c.diff().changes if ch.artifact == "portfolio"])
            ui.flash(PAGE, "success", t("pf.saved", n=n))
        except PcError as exc:
            ui.forget_client_on(exc)
            ui.flash(PAGE, "error", exc.user_message())
        st.rerun()


c = ui.page_header(PAGE, "nav.portfolio")
if c is None:
    st.stop()
working = ui.fetch(c.portfolio, quiet_codes=("NOT_PULLED",))
if working is None:
    st.info(t("err.not_pulled"))
    st.stop()
ui.source_caption("pulled")
editor(c, working)
diff = sync_ui.diff_view(c, None)
sync_ui.conflicts_form(PAGE, diff)
n_changes = len(diff.changes) if diff is not None else 0
sync_ui.push_form(PAGE, n_changes)
sync_ui.discard_button(PAGE)
