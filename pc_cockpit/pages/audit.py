"""Audit trail: who, what, when and why, filterable, with field-level before → after; a
field's whole history (e.g. a strategy parameter) in one table."""

from __future__ import annotations

from datetime import datetime, time

import pandas as pd
import streamlit as st

from contracts.audit import AuditAction, AuditEntry
from krx_common.defaults import KST
from pc_cockpit import fmt, ui
from pc_cockpit.i18n import t

PAGE = "audit"


def entries_frame(entries: list[AuditEntry]) -> pd.DataFrame:
    return pd.DataFrame([{
        t("col.at"): fmt.kst(e.at, seconds=True), t("col.actor"): e.actor,
        t("col.what"): e.action.value, t("col.target"): e.target, t("col.why"): e.reason,
        t("col.revision"): (f"{e.revision_before}→{e.revision_after}"
                            if e.revision_after is not None else ""),
        "Δ": len(e.changes),
    } for e in reversed(entries)])


def changes_frame(entries: list[AuditEntry], path: str | None = None) -> pd.DataFrame:
    rows = []
    for e in reversed(entries):
        for ch in e.changes:
            if path is not None and ch.path != path:
                continue
            rows.append({t("col.at"): fmt.kst(e.at, seconds=True), t("col.actor"): e.actor,
                         t("col.field"): ch.path,
                         t("col.before"): fmt.field_value(ch.path, ch.before),
                         t("col.after"): fmt.field_value(ch.path, ch.after), t("col.why"): e.reason,
                         t("col.revision"): e.revision_after})
    return pd.DataFrame(rows)


c = ui.page_header(PAGE, "nav.audit")
if c is None:
    st.stop()
ui.source_caption("live")
cols = st.columns(4)
actions = [""] + [a.value for a in AuditAction]
action = cols[0].selectbox(t("au.action"), actions, key="au_action",
                           format_func=lambda a: a or t("au.all"),
                           placeholder=t("widget.choose"))
target = cols[1].text_input(t("au.target"), key="au_target")
since_day = cols[2].date_input(t("au.since"), value=None, key="au_since")
limit = cols[3].number_input(t("au.limit"), min_value=1, max_value=1000, value=200, step=50,
                             key="au_limit")
since = datetime.combine(since_day, time(0, 0), tzinfo=KST) if since_day else None
client = c
entries = ui.fetch(lambda: client.audit(limit=int(limit), action=action or None,
                                   target=target.strip() or None, since=since),
                   spinner=t("misc.loading"))
if entries is None:
    st.stop()
if not entries:
    st.info(t("au.none"))
    st.stop()
st.dataframe(entries_frame(entries), hide_index=True, width="stretch")
st.subheader(t("au.changes"))
changes = changes_frame(entries)
if changes.empty:
    st.caption(t("au.none"))
else:
    st.dataframe(changes, hide_index=True, width="stretch")
    paths = sorted({ch.path for e in entries for ch in e.changes})
    path = st.selectbox(t("au.path"), paths, key="au_path",
                        placeholder=t("widget.choose"))
    st.markdown(f"**{t('au.history', path=path)}**")
    st.dataframe(changes_frame(entries, path), hide_index=True, width="stretch")
