"""Backtest & sweep: run with parameters and a date range (progress shown); metric cards,
equity vs benchmark with the regime shaded, drawdown, trades, per-year table; a sweep
heatmap and a walk-forward summary; CSV and HTML report downloads. The figures are the
report's (`strategy/backtest/figures.py`)."""

from __future__ import annotations

from datetime import date, timedelta
from functools import partial

import pandas as pd
import streamlit as st

from contracts.common import now_kst
from contracts.pc import WalkForwardRequest
from contracts.research import BacktestResponse
from contracts.settings import Settings, StrategyParams
from pc_cockpit import charts, fmt, ui
from pc_cockpit.client import PcClient, PcError
from pc_cockpit.i18n import TEXT, current_lang, field_label, t
from strategy.backtest import frames

PAGE = "backtest"
EDITABLE = ("rsi_period", "rsi_buy_threshold", "rsi_sell_threshold", "adx_threshold",
            "stop_loss_pct", "max_positions", "regime_ma_long", "ma_short_period")
OBJECTIVES = ("sharpe", "cagr", "calmar", "sortino", "total_return", "mdd")
CARDS = ("total_return", "cagr", "mdd", "sharpe", "n_trades", "win_rate")


def _defaults(settings: Settings | None, asof: date | None) -> None:
    ss = st.session_state
    end = asof or now_kst().date()
    ss.setdefault("bt_end", end)
    ss.setdefault("bt_start", end - timedelta(days=3 * 365))
    sp = settings.strategy if settings is not None else StrategyParams()
    for name in EDITABLE:
        ss.setdefault(f"bt_{name}", getattr(sp, name))


def run_form(c: PcClient) -> None:
    with st.form("bt_form"):
        cols = st.columns(2)
        cols[0].date_input(t("bt.start"), key="bt_start")
        cols[1].date_input(t("bt.end"), key="bt_end")
        pcols = st.columns(4)
        for i, name in enumerate(EDITABLE):
            pcols[i % 4].number_input(field_label("param", name), key=f"bt_{name}",
                                     help=f"`{name}`",
                                     step=1 if isinstance(st.session_state[f"bt_{name}"], int)
                                     else None)
        go = st.form_submit_button(t("bt.run"), type="primary")
    if not go:
        return
    start, end = st.session_state["bt_start"], st.session_state["bt_end"]
    if start >= end:
        st.error(t("bt.bad_window"))
        return
    start, end = charts.session_window(start, end)
    params = {name: st.session_state[f"bt_{name}"] for name in EDITABLE}
    with st.status(t("bt.running"), expanded=False) as status:
        bar = st.progress(0.1, text=f"{start} → {end}")
        try:
            answer = c.backtest(start, end, params)
        except PcError as exc:
            status.update(state="error")
            ui.forget_client_on(exc)
            st.session_state.pop("bt_result", None)
            ui.flash(PAGE, "error", exc.user_message())
            st.rerun()
        bar.progress(1.0, text="OK")
        status.update(state="complete")
    st.session_state["bt_result"] = answer
    ui.clear_flash(PAGE)


def metric_name(key: str, lang: str | None = None) -> str:
    """A metric or column in words ("총수익률"); the key itself when the catalogue has none."""
    return t(f"metric.{key}", lang) if f"metric.{key}" in TEXT else key


def formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every cell in its column's format (won to the integer, %, dates) and the
    column names in words (`metric.<name>` / `col.<name>`)."""
    shown = pd.DataFrame({col: [frames.format_value(str(col), v) for v in frame[col].tolist()]
                          for col in frame.columns})
    return shown.rename(columns={c: metric_name(str(c)) if f"metric.{c}" in TEXT
                                 else t(f"col.{c}") if f"col.{c}" in TEXT else c
                                 for c in frame.columns})


def metric_cards(result: charts.RemoteBacktest) -> None:
    cols = st.columns(len(CARDS))
    for col, name in zip(cols, CARDS, strict=True):
        value = result.metrics.get(name)
        shown = frames.format_value(name, value)
        signed = name in ("total_return", "cagr", "mdd")
        with col:
            st.markdown(f"**{metric_name(name)}**")
            st.caption(f"`{name}`")
            st.markdown("### " + (fmt.signed_markdown(value, shown) if signed else shown))


def results(answer: BacktestResponse) -> None:
    result = charts.RemoteBacktest.from_model(answer)
    st.subheader(t("bt.metrics") + f" · {result.start} → {result.end}")
    metric_cards(result)
    if len(result.equity):
        st.plotly_chart(charts.equity_figure(result), width="stretch")
        st.plotly_chart(charts.drawdown_figure(result), width="stretch")
    if not result.fills.empty:
        st.plotly_chart(charts.trades_figure(result), width="stretch")
    st.subheader(t("bt.per_year"))
    if not result.per_year.empty:
        frame = charts.per_year_frame(result)
        shown = formatted(frame)
        signed = [str(col).endswith("return") for col in frame.columns]
        st.dataframe(shown.style.apply(
            lambda row: [fmt.style_signed(frame.iloc[row.name, i]) if signed[i] else ""
                         for i in range(len(signed))], axis=1),
            hide_index=True, width="stretch")
    st.subheader(t("bt.trades"))
    if not result.trades.empty:
        st.dataframe(formatted(result.trades), hide_index=True, width="stretch")
    cols = st.columns(3)
    cols[0].download_button(t("bt.csv"), result.trades.to_csv(index=False).encode("utf-8"),
                            file_name="trades.csv", mime="text/csv", key="dl_trades")
    eq = pd.DataFrame({"equity": result.equity, "benchmark": result.benchmark})
    cols[1].download_button(t("bt.equity_csv"), eq.to_csv().encode("utf-8"),
                            file_name="equity.csv", mime="text/csv", key="dl_equity")
    if cols[2].toggle(t("bt.html"), key="bt_html"):
        # Built on demand: the offline page inlines plotly.js (a few MB).
        page = charts.report_html(result)
        cols[2].download_button("⬇ HTML", page.encode("utf-8"), file_name="backtest.html",
                                mime="text/html", key="dl_html")


def _values(name: str, text: str) -> list[float | int]:
    out: list[float | int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(int(part) if part.lstrip("-").isdigit() else float(part))
        except ValueError:
            raise ValueError(t("bt.bad_values", name=name, value=text)) from None
    if not out:
        raise ValueError(t("bt.bad_values", name=name, value=text))
    return out


def sweep_block(c: PcClient) -> None:
    st.subheader(t("bt.sweep"))
    fields = list(StrategyParams.model_fields)
    st.session_state.setdefault("sw_x", "rsi_buy_threshold")
    st.session_state.setdefault("sw_xv", "40, 45, 50")
    st.session_state.setdefault("sw_y", "rsi_sell_threshold")
    st.session_state.setdefault("sw_yv", "65, 70, 75")
    with st.form("sw_form"):
        cols = st.columns(4)
        cols[0].selectbox(t("bt.sweep_x"), fields, key="sw_x", placeholder=t("widget.choose"))
        cols[1].text_input(t("bt.sweep_values"), key="sw_xv")
        cols[2].selectbox(t("bt.sweep_y"), fields, key="sw_y", placeholder=t("widget.choose"))
        cols[3].text_input(t("bt.sweep_values") + " ", key="sw_yv")
        st.caption(" · ".join(f"{field_label('param', n)} = `{n}`"
                              for n in dict.fromkeys([st.session_state["sw_x"],
                                                      st.session_state["sw_y"]])))
        st.selectbox(t("bt.objective"), OBJECTIVES, key="sw_objective",
                     placeholder=t("widget.choose"),
                     format_func=partial(metric_name, lang=current_lang()))
        go = st.form_submit_button(t("bt.sweep_run"))
    if go:
        ss = st.session_state
        try:
            grid = {ss["sw_x"]: _values(ss["sw_x"], ss["sw_xv"])}
            if ss["sw_y"] != ss["sw_x"]:
                grid[ss["sw_y"]] = _values(ss["sw_y"], ss["sw_yv"])
        except ValueError as exc:
            st.error(str(exc))
            return
        with st.spinner(t("bt.sweep_running")):
            try:
                start, end = charts.session_window(ss["bt_start"], ss["bt_end"])
                answer = c.sweep(start, end, grid, ss["sw_objective"])
            except PcError as exc:
                ui.forget_client_on(exc)
                st.error(exc.user_message())
                return
        ss["sw_result"] = (ss["sw_x"], ss["sw_y"], ss["sw_objective"], answer)
    stored = st.session_state.get("sw_result")
    if not stored:
        return
    x, y, objective, answer = stored
    frame = charts.sweep_frame(answer)
    if frame.empty:
        st.info(str(answer.attrs.skipped or answer.attrs)[:300])
        return
    try:
        st.plotly_chart(charts.sweep_heatmap(frame, x, y, objective), width="stretch")
    except KeyError as exc:
        st.warning(str(exc))
    st.dataframe(frames.sweep_top_frame(frame, objective, 20) if objective in frame.columns
                 else frame.head(20), hide_index=True, width="stretch")
    st.download_button(t("bt.sweep_csv"), frame.to_csv(index=False).encode("utf-8"),
                       file_name="sweep.csv", mime="text/csv", key="dl_sweep")


def walkforward_block(c: PcClient) -> None:
    st.subheader(t("bt.wf"))
    ss = st.session_state
    for key, default in (("wf_train", 24), ("wf_test", 6), ("wf_step", 6)):
        ss.setdefault(key, default)
    with st.form("wf_form"):
        cols = st.columns(3)
        cols[0].number_input(t("bt.wf_train"), min_value=1, max_value=240, step=1,
                             key="wf_train")
        cols[1].number_input(t("bt.wf_test"), min_value=1, max_value=120, step=1, key="wf_test")
        cols[2].number_input(t("bt.wf_step"), min_value=1, max_value=120, step=1, key="wf_step")
        st.caption(t("bt.wf_grid", name=ss.get("sw_x", "rsi_buy_threshold"),
                     values=ss.get("sw_xv", "40, 45, 50")))
        go = st.form_submit_button(t("bt.wf_run"))
    if go:
        try:
            name = ss.get("sw_x", "rsi_buy_threshold")
            grid = {name: _values(name, ss.get("sw_xv", "40, 45, 50"))}
        except ValueError as exc:
            st.error(str(exc))
            return
        start, end = charts.session_window(ss["bt_start"], ss["bt_end"])
        body = WalkForwardRequest(start=start, end=end, grid=grid,
                                  objective=ss.get("sw_objective", "sharpe"),
                                  train_months=int(ss["wf_train"]),
                                  test_months=int(ss["wf_test"]),
                                  step_months=int(ss["wf_step"]))
        with st.spinner(t("bt.wf_running")):
            try:
                ss["wf_result"] = c.walkforward(body)
            except PcError as exc:
                ui.forget_client_on(exc)
                ss.pop("wf_result", None)
                if exc.status in (404, 405):
                    st.info(t("bt.wf_unavailable"))
                else:
                    st.error(exc.user_message())
                return
    stored = ss.get("wf_result")
    if not stored:
        return
    wf = charts.RemoteWalkForward.from_model(stored)
    mcols = st.columns(4)
    mcols[0].metric(f"IS {wf.objective}", frames.format_value(wf.objective, wf.is_mean))
    mcols[1].metric(f"OOS {wf.objective}", frames.format_value(wf.objective, wf.oos_mean))
    mcols[2].metric(t("bt.wf_gap"), frames.format_value(wf.objective, wf.gap))
    mcols[3].metric(t("bt.wf_windows"), f"{wf.n_compared}/{len(wf.windows)}")
    if len(wf.oos_equity) and not wf.windows.empty:
        st.plotly_chart(charts.walkforward_figure(wf), width="stretch")
    if not wf.windows.empty:
        st.dataframe(wf.windows, hide_index=True, width="stretch")


c = ui.page_header(PAGE, "nav.backtest")
if c is None:
    st.stop()
snap = ui.fetch(c.snapshot, quiet_codes=("NOT_PULLED",))
_defaults(snap.settings if snap else None,
          snap.summary.asof if snap is not None and snap.summary is not None else None)
run_form(c)
if st.session_state.get("bt_result"):
    results(st.session_state["bt_result"])
st.divider()
sweep_block(c)
st.divider()
walkforward_block(c)
