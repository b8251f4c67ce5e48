"""Overview: connection, the stage of the day and the next action, regime, signals, risks,
PULL, and running the cycle now (ops)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from contracts.common import now_kst
from contracts.ops import LastCycle
from contracts.pc import PcStatus
from contracts.summary import OpsSummary, Severity, Stage
from krx_common import words
from pc_cockpit import fmt, ui
from pc_cockpit.client import PcClient
from pc_cockpit.i18n import current_lang, t

PAGE = "overview"
STAGES = {s.value for s in Stage}


def _pull(c: PcClient) -> str:
    res = c.pull()
    text = t("ov.pulled", revision=res.revision, at=fmt.kst(res.pulled_at),
             rebased=t("ov.rebased") if res.rebased else "")
    if res.conflicts:
        text += "\n\n" + t("ov.pull_conflicts", n=len(res.conflicts))
    return text


def exit_meaning(summary: OpsSummary) -> str:
    """The cycle's exit code in words: the summary's overall status (OK 0, WARN and BLOCKED 2,
    FAILED 1) and why — the risks that made it WARN, the message that says what blocked it."""
    why = summary.message
    if summary.status.value == "WARN":
        why = ", ".join(f"{r.code}: {r.message}" for r in summary.risks
                        if r.severity is not Severity.INFO) or why
    return t("ov.exit." + summary.status.value, why=why)


def _run_cycle(c: PcClient) -> str:
    replay = st.session_state.get("ov_replay")
    res = c.run_cycle(replay if isinstance(replay, date) else None)
    s = res.summary
    return t("ov.cycle_done", code=res.exit_code, meaning=exit_meaning(s),
             stage=t("stage." + s.stage.value), plan=res.plan_id or "—")


def connection_row() -> None:
    status: PcStatus | None = st.session_state.get("_status")
    cols = st.columns(4)
    state = status.tunnel.state.value if status is not None else "DOWN"
    reachable = status is not None and status.oci.reachable
    cols[0].metric(t("conn.tunnel"), t("tunnel." + state))
    cols[1].metric(t("conn.latency"), f"{fmt.num(status.oci.latency_ms, 0)} ms"
                   if status is not None and reachable else t("conn.oci_down"))
    rev = status.pulled_revision if status is not None else None
    cols[2].metric(t("conn.last_pull"), "—" if rev is None else f"{t('conn.revision')} {rev}",
                   help=fmt.kst(status.last_pull_at if status is not None else None))
    cols[3].metric(t("conn.unpushed"), str(status.unpushed_edits if status is not None else 0))


def _live_cycle(status: PcStatus | None) -> LastCycle | None:
    """OCI's last cycle from the status probe, when OCI was reached."""
    if status is None or not status.oci.reachable:
        return None
    return status.oci_last_cycle


def current_stage(summary: OpsSummary, status: PcStatus | None) -> tuple[str, str]:
    """(stage, where it comes from): OCI's current stage from the status probe (the PC
    backend asks OCI's /health on every status), else the pulled summary's, said to be as of
    the PULL."""
    live = _live_cycle(status)
    if live is not None and live.stage.value in STAGES:
        return live.stage.value, t("ov.stage_live", at=fmt.kst(now_kst()))
    return summary.stage.value, t("ov.stage_pulled", at=fmt.kst(
        status.last_pull_at if status is not None else None))


@st.fragment(run_every=ui.LIVE_REFRESH_S)
def live_stage_block(summary: OpsSummary) -> None:
    """The stage, redrawn on its own with OCI's current one while the page sits idle."""
    status, _ = ui.live_status("stage")
    stage_block(summary, status)


def stage_block(summary: OpsSummary, status: PcStatus | None) -> None:
    stage, source = current_stage(summary, status)
    box = {"BLOCKED": st.error, "STOPPED": st.error, "FAILED": st.error,
           "STALE_TICKET": st.warning}.get(stage, st.success)
    box(f"**{t('ov.stage')}: {t('stage.' + stage)}** ({stage})\n\n{t('next.' + stage)}")
    st.caption(source)
    last = status.oci_last_cycle if status is not None else None
    if last is not None and fmt.kst(last.run_at) != fmt.kst(summary.run_at):
        st.info(t("ov.stage_newer", at=fmt.kst(last.run_at)))
    cols = st.columns(3)
    cols[0].markdown(f"**{t('ov.asof')}**: {fmt.day(summary.asof)}")
    cols[1].markdown(f"**{t('ov.mode')}**: {summary.execution_mode.value}")
    cols[2].markdown(f"**{t('conn.revision')}**: P{summary.portfolio_revision}"
                     f" / S{summary.settings_revision}")
    if summary.freshness is not None and summary.freshness.synthetic:
        st.warning(t("ov.synthetic"))


def regime_block(summary: OpsSummary) -> None:
    sig = summary.signals
    if sig is None:
        return
    r = sig.regime
    st.subheader(t("ov.regime"))
    gap = (r.close / r.sma_long - 1.0) if r.close and r.sma_long else None
    cols = st.columns(5)
    cols[0].metric(t("ov.regime"), t("regime." + r.regime.value))
    chop = "—" if r.chop is None else t("ov.yes" if r.chop else "ov.no")
    cols[1].metric(t("ov.chop"), chop)
    cols[2].metric(t("ov.adx"), fmt.num(r.adx, 1))
    with cols[3]:
        st.markdown(f"**{t('ov.sma_gap')}**")
        st.markdown(f"### {fmt.signed_markdown(gap, fmt.pct(gap, signed=True))}")
    cols[4].metric(t("ov.bear_days"), str(r.bear_days))


def signals_table(summary: OpsSummary) -> None:
    sig = summary.signals
    if sig is None:
        return
    st.subheader(t("ov.signals"))
    rows = [{
        t("col.ticker"): s.ticker, t("col.name"): s.name, t("col.close"): fmt.num(s.close),
        t("col.rsi"): fmt.num(s.rsi, 1), t("col.held"): fmt.num(s.held_qty),
        t("col.action"): t("action." + s.action.value),
        t("col.reason"): t("reason." + s.reason.value) if s.reason else "",
    } for s in sig.tickers]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if sig.entry_block is not None:
        st.info(t("reason." + sig.entry_block.value))


def risks_block(summary: OpsSummary) -> None:
    st.subheader(t("ov.risks"))
    if not summary.risks:
        st.caption(t("ov.no_risks"))
    order = {Severity.CRITICAL: 0, Severity.WARN: 1, Severity.INFO: 2}
    for risk in sorted(summary.risks, key=lambda r: order[r.severity]):
        box = {Severity.CRITICAL: st.error, Severity.WARN: st.warning}.get(risk.severity, st.info)
        box(f"**{t('severity.' + risk.severity.value)}** · "
            f"{words.risk_text(risk.code, risk.params, risk.message, current_lang())} "
            f"(`{risk.code}`)")


def chart_names(bench: str) -> dict[str, str]:
    """The legend of the Overview chart, in the operator's language."""
    return {"strategy": t("ov.chart_strategy"),
            "benchmark (buy & hold)": t("ov.chart_benchmark", bench=bench),
            "regime BULL": t("ov.chart_bull"), "regime BEAR": t("ov.chart_bear"),
            "regime UNKNOWN": t("ov.chart_unknown"), "CHOP (top strip)": t("ov.chart_chop")}


def chart_block(c: PcClient, summary: OpsSummary, revision: int) -> None:
    """Strategy equity vs buy-and-hold of the benchmark over the last year, on the regime
    bands: the series of the pulled settings' backtest (`/backtest/series`, the plain-Python
    kernel: no compile wait on a fresh backend)."""
    if summary.asof is None:
        return
    from pc_cockpit import charts  # Plotly and the report's figures: not before the chart

    st.subheader(t("ov.chart"))
    key = ("ov_chart", revision, summary.asof.isoformat())
    cache = st.session_state.get("ov_chart")
    if not (isinstance(cache, tuple) and cache[0] == key):
        start, end = charts.session_window(summary.asof - timedelta(days=365), summary.asof)
        try:
            with st.spinner(t("misc.loading")):
                answer = c.backtest_series(start, end)
            cache = (key, charts.RemoteSeries.from_model(answer), None)
        except Exception as exc:  # the chart is a view: its failure never hides the page
            message = exc.user_message() if hasattr(exc, "user_message") else str(exc)
            cache = (key, None, message)
        st.session_state["ov_chart"] = cache
    _, series, error = cache
    if series is None or not len(series.benchmark):
        st.caption(t("ov.chart_unavailable", message=error or "—"))
        return
    bench = summary.signals.benchmark if summary.signals else "benchmark"
    title = t("ov.chart_title", bench=bench, start=fmt.day(series.equity.index[0].date()),
              end=fmt.day(series.equity.index[-1].date()))
    st.plotly_chart(charts.overview_figure(series, title=title, names=chart_names(bench)),
                    width="stretch")
    st.caption(t("ov.chart_caption", bench=bench))


# A session's first run leaves the chart out: its browser would otherwise fetch and compile
# Plotly's script (4.6 MB) while the stage, the signals and the risks are still to be drawn.
# A timer reruns the page this long after the browser got the first run's elements (it then
# still has them to draw: under load on 2 cores, seconds), and that run draws the chart.
CHART_DELAY_S = 2.0
CHART_DEFERRED = "_ov_chart_deferred"
_CHART_TIMER_SEEN = "_ov_chart_timer_seen"


def chart_slot(c: PcClient, summary: OpsSummary, revision: int) -> None:
    """The chart, from the session's second run on; on its first run a placeholder and the
    timer that brings the chart (`CHART_DELAY_S`)."""
    ss = st.session_state
    if ss.get(CHART_DEFERRED):
        chart_block(c, summary, revision)
        return
    ss[CHART_DEFERRED] = True
    if summary.asof is None:
        return
    st.subheader(t("ov.chart"))
    st.caption(t("misc.loading"))
    _chart_timer()


@st.fragment(run_every=CHART_DELAY_S)
def _chart_timer() -> None:
    """Nothing on the page's own run; on the timer's first tick, the whole page again (which
    draws the chart and no longer this fragment, so Streamlit stops its timer)."""
    ss = st.session_state
    run = ss.get(ui.RUN_ID)
    if ss.get(_CHART_TIMER_SEEN) != run:
        ss[_CHART_TIMER_SEEN] = run
        return
    st.rerun(scope="app")


def ops_block() -> None:
    with st.expander(t("ov.ops")):
        st.date_input(t("ov.replay"), value=None, key="ov_replay",
                      max_value=now_kst().date())
        st.button(t("ov.run_cycle"), key="ov_run_cycle",
                  on_click=ui.act, args=(PAGE, _run_cycle))


c = ui.page_header(PAGE, "nav.overview")
if c is None:
    st.stop()
connection_row()
st.button(t("ov.pull"), key="ov_pull", type="primary", on_click=ui.act, args=(PAGE, _pull))
snap = ui.snapshot(c)
if snap is None:
    ops_block()
    st.stop()
ui.source_caption("pulled")
summary = snap.summary
if summary is None:
    st.info(t("ov.no_summary"))
    ops_block()
    st.stop()
live_stage_block(summary)
regime_block(summary)
signals_table(summary)
risks_block(summary)
ops_block()
chart_slot(c, summary, snap.revision)
