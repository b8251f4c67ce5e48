"""Strategy & settings (governance): parameters, universe, guardrails, execution mode and
notification URLs edited in the workspace; a what-if backtest of the edited parameters
against the current ones on the same window; the diff; PUSH with a reason (audited)."""

from __future__ import annotations

import hashlib
import typing
from datetime import date, timedelta
from typing import Any

import streamlit as st
from pydantic import BaseModel

from contracts.common import now_kst
from contracts.instruments import all_instruments
from contracts.settings import ExecutionMode, Guardrails, Settings, StrategyParams
from pc_cockpit import charts, sync_ui, ui
from pc_cockpit.client import PcClient
from pc_cockpit.forms import FormError, build_settings, calendar_values
from pc_cockpit.i18n import TEXT, current_lang, field_label, t

PAGE = "strategy"


def _kind(model: type[BaseModel], name: str) -> tuple[str, list[Any]]:
    """('bool'|'int'|'float'|'choice', choices) of a model field."""
    ann = model.model_fields[name].annotation
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return "choice", list(typing.get_args(ann))
    if ann is bool:
        return "bool", []
    if ann is int:
        return "int", []
    return "float", []


def _load_widgets(working: Settings) -> None:
    ss = st.session_state
    for name in StrategyParams.model_fields:
        ss[f"sp_{name}"] = getattr(working.strategy, name)
    for name in Guardrails.model_fields:
        ss[f"gr_{name}"] = getattr(working.guardrails, name)
    ss["st_universe"] = list(working.universe)
    ss["st_benchmark"] = working.benchmark
    ss["st_mode"] = working.execution_mode.value
    ss["st_live_ack"] = working.live_trading_acknowledged
    ss["st_keep_unfilled"] = working.keep_unfilled_at_close
    ss["st_urls"] = "\n".join(working.notifications.apprise_urls)
    ss["st_daily"] = working.notifications.daily_summary
    ss["st_incidents"] = working.notifications.incidents
    ss["st_closed"] = "\n".join(d.isoformat() for d in working.calendar.closed_dates)
    ss["st_late"] = "\n".join(f"{d.isoformat()} {hhmm}"
                              for d, hhmm in sorted(working.calendar.late_opens.items()))


LABEL_PREFIX = {"sp": "param", "gr": "guard"}


def _number_widget(prefix: str, model: type[BaseModel], name: str) -> None:
    """One widget per field: the field's label in the session's language, the field name
    (as in the audit trail and the API) in its help."""
    kind, choices = _kind(model, name)
    key = f"{prefix}_{name}"
    label, help_ = field_label(LABEL_PREFIX[prefix], name), f"`{name}`"
    if kind == "bool":
        st.checkbox(label, key=key, help=help_)
    elif kind == "choice":
        # a choice reads in words with its code beside them ("신규 매수만 막기 (block_entries)")
        lang = current_lang()  # fixed now: the widget formats its options later
        st.selectbox(label, choices, key=key, help=help_, placeholder=t("widget.choose"),
                     format_func=lambda v: f"{t(f'{name}.{v}', lang)} ({v})"
                     if f"{name}.{v}" in TEXT else str(v))
    elif kind == "int":
        st.number_input(label, step=1, key=key, help=help_)
    else:
        value = float(st.session_state.get(key, 0.0))
        fmt_ = "%.5f" if abs(value) < 0.01 and value != 0 else "%.4g"
        st.number_input(label, step=None, format=fmt_, key=key, help=help_)


def edited_settings(working: Settings) -> Settings:
    """The settings the widgets describe, validated (ValueError names the field)."""
    ss = st.session_state
    values = {
        "strategy": {n: ss.get(f"sp_{n}") for n in StrategyParams.model_fields},
        "guardrails": {n: ss.get(f"gr_{n}") for n in Guardrails.model_fields},
        "universe": list(ss.get("st_universe") or []),
        "benchmark": ss.get("st_benchmark"),
        "execution_mode": ss.get("st_mode"),
        "live_trading_acknowledged": bool(ss.get("st_live_ack")),
        "keep_unfilled_at_close": bool(ss.get("st_keep_unfilled")),
        "notifications": {
            "apprise_urls": [u.strip() for u in str(ss.get("st_urls", "")).splitlines()
                             if u.strip()],
            "daily_summary": bool(ss.get("st_daily")), "incidents": bool(ss.get("st_incidents")),
        },
        "calendar": calendar_values(str(ss.get("st_closed", "")), str(ss.get("st_late", ""))),
    }
    return build_settings(working, values)


def _save(working: Settings) -> None:
    try:
        settings = edited_settings(working)
    except ValueError as exc:
        ui.flash(PAGE, "error", exc.operator_text() if isinstance(exc, FormError)
                 else t("err.invalid", field="settings", message=str(exc)))
        return

    def do(c: PcClient) -> str:
        c.put_settings(settings)
        n = len([ch for ch in c.diff().changes if ch.artifact == "settings"])
        return t("pf.saved", n=n)

    ui.act(PAGE, do)


def editor(working: Settings) -> None:
    sig = hashlib.sha256(working.model_dump_json().encode("utf-8")).hexdigest()[:12]
    # Streamlit drops a widget's state when a run does not draw it (another page): reload.
    if st.session_state.get("st_sig") != sig or "sp_rsi_period" not in st.session_state:
        st.session_state["st_sig"] = sig
        _load_widgets(working)
    codes = [i.code for i in all_instruments()]
    names = {i.code: f"{i.code} {i.name_ko}" for i in all_instruments()}
    with st.form("st_form"):
        st.subheader(t("st.params"))
        cols = st.columns(4)
        for i, name in enumerate(StrategyParams.model_fields):
            with cols[i % 4]:
                _number_widget("sp", StrategyParams, name)
        st.subheader(t("st.universe"))
        st.multiselect(t("st.universe"), codes, key="st_universe",
                       format_func=lambda c: names.get(c, c), placeholder=t("widget.choose"))
        st.selectbox(t("st.benchmark"), codes, key="st_benchmark",
                     format_func=lambda c: names.get(c, c), placeholder=t("widget.choose"))
        st.subheader(t("st.guardrails"))
        cols = st.columns(4)
        for i, name in enumerate(Guardrails.model_fields):
            with cols[i % 4]:
                _number_widget("gr", Guardrails, name)
        st.selectbox(t("st.mode"), [m.value for m in ExecutionMode], key="st_mode",
                     placeholder=t("widget.choose"), help=t("st.mode_help"))
        left, right = st.columns(2)
        # The guard is OCI's: a broker mode without credentials, or BROKER_LIVE without this
        # acknowledgement, is refused at PUSH (422 naming the field).
        left.checkbox(t("st.live_ack"), key="st_live_ack",
                      help="`live_trading_acknowledged`")
        right.checkbox(t("st.keep_unfilled"), key="st_keep_unfilled",
                       help="`keep_unfilled_at_close`")
        st.text_area(t("st.notify"), key="st_urls", height=80)
        left, right = st.columns(2)
        left.checkbox(field_label("notify", "daily_summary"), key="st_daily",
                      help="`daily_summary`")
        right.checkbox(field_label("notify", "incidents"), key="st_incidents",
                       help="`incidents`")
        st.subheader(t("st.calendar"))
        left, right = st.columns(2)
        left.text_area(t("st.closed_dates"), key="st_closed", height=80,
                       help="`calendar.closed_dates`")
        right.text_area(t("st.late_opens"), key="st_late", height=80,
                        help="`calendar.late_opens`")
        st.form_submit_button(t("st.save"), on_click=_save, args=(working,))


def _params_sig(s: Settings) -> str:
    return hashlib.sha256(
        (s.strategy.model_dump_json() + ",".join(s.universe)).encode("utf-8")).hexdigest()[:12]


def _run_whatif(working: Settings, pulled: Settings) -> None:
    start, end = st.session_state.get("wi_start"), st.session_state.get("wi_end")
    if not (isinstance(start, date) and isinstance(end, date)) or start >= end:
        ui.flash(PAGE, "error", t("bt.bad_window"))
        return
    start, end = charts.session_window(start, end)
    if _params_sig(working) == _params_sig(pulled):
        ui.flash(PAGE, "warning", t("st.whatif_same"))
        return

    def do(c: PcClient) -> None:
        # Same window, same data: the pulled (current) parameters, then the edited ones.
        current = c.backtest(start, end, pulled.strategy.model_dump(mode="json"),
                             list(pulled.universe))
        edited = c.backtest(start, end, working.strategy.model_dump(mode="json"),
                            list(working.universe))
        st.session_state["wi_result"] = (_params_sig(working), current, edited)
        return None

    ui.act(PAGE, do, spinner=t("st.whatif_running"))


def whatif(working: Settings, pulled: Settings, asof: date | None) -> None:
    st.subheader(t("st.whatif"))
    end_default = asof or now_kst().date()
    st.session_state.setdefault("wi_end", end_default)
    st.session_state.setdefault("wi_start", end_default - timedelta(days=730))
    cols = st.columns(3)
    cols[0].date_input(t("bt.start"), key="wi_start")
    cols[1].date_input(t("bt.end"), key="wi_end")
    with cols[2]:
        st.write("")
        st.button(t("st.whatif_run"), key="wi_run", type="primary", on_click=_run_whatif,
                  args=(working, pulled))
    stored = st.session_state.get("wi_result")
    if not stored:
        return
    sig, current_answer, edited_answer = stored
    if sig != _params_sig(working):
        st.warning(t("st.whatif_stale"))
    current = charts.RemoteBacktest.from_model(current_answer)
    edited = charts.RemoteBacktest.from_model(edited_answer)
    st.caption(t("st.whatif_done", start=edited.start, end=edited.end,
                 sessions=len(edited.equity)))
    labels = [t("col.metric"), t("col.current"), t("col.edited")]
    frame = charts.metrics_side_by_side(current, edited, labels)
    styled = frame.drop(columns=["_delta", "_key"]).style.apply(
        lambda row: ["", "", "", charts.metric_color(
            str(frame.loc[row.name, "_key"]), frame.loc[row.name, "_delta"])], axis=1)
    st.dataframe(styled, hide_index=True, width="stretch")
    st.plotly_chart(charts.whatif_figure(edited, current, title=t("st.whatif"),
                                         edited_name=t("col.edited"),
                                         current_name=t("col.current")),
                    width="stretch")


c = ui.page_header(PAGE, "nav.strategy")
if c is None:
    st.stop()
working = ui.fetch(c.settings, quiet_codes=("NOT_PULLED",))
snap = ui.fetch(c.snapshot, quiet_codes=("NOT_PULLED",))
if working is None or snap is None:
    st.info(t("err.not_pulled"))
    st.stop()
ui.source_caption("pulled")
editor(working)
whatif(working, snap.settings, snap.summary.asof if snap.summary else None)
diff = sync_ui.diff_view(c, None)
sync_ui.conflicts_form(PAGE, diff)
sync_ui.push_form(PAGE, len(diff.changes) if diff is not None else 0)
sync_ui.discard_button(PAGE)
