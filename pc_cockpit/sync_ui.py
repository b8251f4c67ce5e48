"""What the Portfolio and Strategy pages share: the field-level diff against the pulled
revision, PUSH with a required reason, and the three-way conflict view (base / mine /
theirs) with a choice per field."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from contracts.pc import Conflict, ConflictChoice, Diff
from pc_cockpit import fmt, ui
from pc_cockpit.client import PcClient, PcError
from pc_cockpit.i18n import current_lang, t


def diff_view(c: PcClient, artifact: str | None) -> Diff | None:
    """Show the changes (of `artifact`, or all) against the pulled revision; the diff."""
    diff = ui.fetch(c.diff, quiet_codes=("NOT_PULLED",))
    if diff is None:
        return None
    changes = [ch for ch in diff.changes if artifact in (None, ch.artifact)]
    st.subheader(t("diff.title", rev=diff.base_revision))
    if not changes:
        st.caption(t("diff.none"))
    else:
        rows = [{t("col.artifact"): ch.artifact, t("col.field"): ch.path,
                 t("col.base"): fmt.field_value(ch.path, ch.base),
                 t("col.mine"): fmt.field_value(ch.path, ch.mine)} for ch in changes]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    return diff


def _push(page: str) -> None:
    reason = str(st.session_state.get(f"{page}_push_reason", "")).strip()
    if not reason:
        ui.flash(page, "warning", t("push.need_reason"))
        return

    def do(c: PcClient) -> str:
        res = c.push(reason)
        st.session_state[f"{page}_push_reason"] = ""  # pushed: the reason was used
        changed = ", ".join(res.changed) or "—"
        text = t("push.done", revision=res.revision, changed=changed,
                 visible=t("push.visible") if res.visible else "")
        if res.replan == "scheduled":
            text += t("push.replan")
        return text

    def failed(exc: PcError) -> None:
        if exc.conflicts:
            st.session_state[f"{page}_conflicts"] = exc.conflict_models()

    st.session_state.pop(f"{page}_conflicts", None)
    ui.act(page, do, on_error=failed)


def push_form(page: str, n_changes: int) -> None:
    st.subheader(t("push.title"))
    with st.form(f"{page}_push_form", clear_on_submit=False):
        st.text_input(t("push.reason"), key=f"{page}_push_reason", max_chars=500)
        st.form_submit_button(t("push.button"), type="primary", on_click=_push, args=(page,),
                              disabled=n_changes == 0)
    if n_changes == 0:
        st.caption(t("push.nothing"))


def _resolve(page: str, conflicts: list[Conflict]) -> None:
    choices = []
    for i, cf in enumerate(conflicts):
        pick = st.session_state.get(f"{page}_pick_{i}", "mine")
        choices.append(ConflictChoice(artifact=cf.artifact, path=cf.path,
                                      pick="theirs" if pick == "theirs" else "mine"))

    def do(c: PcClient) -> str:
        diff = c.resolve(choices)
        st.session_state.pop(f"{page}_conflicts", None)
        return t("conflict.resolved", n=len(diff.conflicts))

    ui.act(page, do)


def conflicts_form(page: str, diff: Diff | None) -> None:
    """The three-way view when the workspace (or the last PUSH) has conflicts."""
    pushed: list[Conflict] = st.session_state.get(f"{page}_conflicts") or []
    conflicts = (list(diff.conflicts) if diff is not None else []) or list(pushed)
    if not conflicts:
        return
    st.subheader(t("conflict.title"))
    st.warning(t("err.conflict"))
    rows = [{t("col.artifact"): cf.artifact, t("col.field"): cf.path,
             t("col.base"): fmt.field_value(cf.path, cf.base),
             t("col.mine"): fmt.field_value(cf.path, cf.mine),
             t("col.theirs"): fmt.field_value(cf.path, cf.theirs)} for cf in conflicts]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    with st.form(f"{page}_conflict_form"):
        for i, cf in enumerate(conflicts):
            st.radio(f"{cf.artifact}.{cf.path}", ["mine", "theirs"],
                     key=f"{page}_pick_{i}", horizontal=True,
                     format_func=_pick_label(current_lang()))
        st.form_submit_button(t("conflict.apply"), on_click=_resolve, args=(page, conflicts))


def discard_button(page: str) -> None:
    def do(c: PcClient) -> str:
        c.discard_edits()
        return t("pf.discarded")

    st.button(t("pf.discard"), key=f"{page}_discard", on_click=ui.act, args=(page, do))


def _pick_label(lang: str) -> Callable[[str], str]:
    """The radio's option words in `lang` (fixed when drawn: the widget formats later)."""
    def label(choice: str) -> str:
        return t("conflict." + choice, lang)

    return label
