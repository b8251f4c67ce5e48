"""Streamlit pieces every page shares: the page header (emergency-stop banner, flash
messages), calling the PC backend with a spinner and a readable error, the sidebar.

Actions run in button callbacks (`on_click`), never inside another button's branch, and
leave OCI's answer in `st.session_state["flash"]`, shown on the next run — so what the
operator sees is what the backend answered, not a local echo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from contracts.common import now_kst
from contracts.pc import PcStatus
from contracts.sync import EmergencyStop, SyncSnapshot
from pc_cockpit import fmt
from pc_cockpit.client import SESSION_KEY, PcClient, PcError, get_client
from pc_cockpit.i18n import DEFAULT_LANG, t

T = TypeVar("T")

FLASH = "flash"
_SNAP = "_snapshot_of_run"  # (run id, the snapshot or the error of reading it): `run_snapshot`


# --- session --------------------------------------------------------------------------------


def init_session() -> None:
    """Defaults of the session state (idempotent)."""
    ss = st.session_state
    ss.setdefault(FLASH, {})
    # A new session (a reload, a bookmark) takes the language from the URL's ?lang=.
    ss.setdefault("lang_en", st.query_params.get(LANG_PARAM) == "en")
    ss["lang"] = "en" if ss.get("lang_en") else DEFAULT_LANG


LANG_PARAM = "lang"


def keep_lang_in_url() -> None:
    """Write the session's language into the URL (?lang=ko|en) so a reload keeps it."""
    lang = st.session_state.get("lang", DEFAULT_LANG)
    if st.query_params.get(LANG_PARAM) != lang:
        st.query_params[LANG_PARAM] = lang


def flash(page: str, kind: str, text: str) -> None:
    """Show `text` on `page` (kind: success, info, warning, error) on the next run."""
    st.session_state.setdefault(FLASH, {})[page] = (kind, text)


def clear_flash(page: str) -> None:
    st.session_state.setdefault(FLASH, {}).pop(page, None)


def show_flash(page: str) -> None:
    """Show the page's last action result once (the next interaction clears it, so a stale
    answer never sits beside newer state)."""
    item = st.session_state.get(FLASH, {}).pop(page, None)
    if item:
        kind, text = item
        getattr(st, kind, st.info)(text)


# --- calling the backend --------------------------------------------------------------------


def client() -> PcClient | None:
    """The session's client, or None after showing why there is none."""
    try:
        return get_client()
    except PcError as exc:
        st.error(exc.user_message())
        return None


def forget_client_on(exc: PcError) -> None:
    # A refused token may have been rotated by a backend restart: re-read it next run.
    if exc.status == 401 or exc.code == "NO_TOKEN":
        st.session_state.pop(SESSION_KEY, None)


def fetch(fn: Callable[[], T], *, quiet_codes: tuple[str, ...] = (),
          spinner: str | None = None) -> T | None:
    """`fn()` or None after showing the error (errors whose code is in `quiet_codes` are
    returned as None without a message, for the page to explain in context)."""
    try:
        if spinner:
            with st.spinner(spinner):
                return fn()
        return fn()
    except PcError as exc:
        forget_client_on(exc)
        if exc.code not in quiet_codes and not _said_already(exc):
            st.error(exc.user_message())
        return None


OCI_DOWN_CODES = ("OCI_UNREACHABLE", "OCI_DOWN", "TUNNEL_DOWN")
_OCI_WARNED = "_oci_down_warned"


def _said_already(exc: PcError) -> bool:
    """Whether the page header already says what `exc` says (OCI down): one alert, not two."""
    return exc.code in OCI_DOWN_CODES and bool(st.session_state.get(_OCI_WARNED))


def act(page: str, fn: Callable[[PcClient], str | None], *,
        on_error: Callable[[PcError], None] | None = None, spinner: str | None = None) -> None:
    """Button callback body: run `fn(client)` under a spinner; its returned text (OCI's
    answer) becomes the page's success message, a `PcError` its error message. Callbacks run
    before the page is drawn, so the page (and the sidebar's badge) shows the new state."""
    with st.spinner(spinner or t("misc.working")):
        perform(page, fn, on_error=on_error)


def perform(page: str, fn: Callable[[PcClient], str | None], *,
            on_error: Callable[[PcError], None] | None = None) -> None:
    """Run `fn(client)` now; OCI's answer or the error becomes the page's message. An action
    may change the snapshot: the run's cached read (`run_snapshot`) is forgotten."""
    try:
        c = get_client()
        text = fn(c)
    except PcError as exc:
        st.session_state.pop(_SNAP, None)
        forget_client_on(exc)
        flash(page, "error", exc.user_message())
        if on_error is not None:
            on_error(exc)
        return
    st.session_state.pop(_SNAP, None)
    if text:
        flash(page, "success", text)
    else:
        clear_flash(page)


def run_snapshot(c: PcClient) -> SyncSnapshot:
    """The last pulled snapshot, asked once per full run (the sidebar's stop state and mode
    and the page read the same answer; a PULL in this run forgets it). Raises `PcError`."""
    ss = st.session_state
    run = ss.get(RUN_ID)
    hit = ss.get(_SNAP)
    if isinstance(hit, tuple) and hit[0] == run:
        if isinstance(hit[1], PcError):
            raise hit[1]
        return hit[1]
    try:
        snap = c.snapshot()
    except PcError as exc:
        ss[_SNAP] = (run, exc)
        raise
    ss[_SNAP] = (run, snap)
    return snap


def snapshot(c: PcClient) -> SyncSnapshot | None:
    """The last pulled snapshot; None (with a hint to PULL) before the first pull."""
    try:
        return run_snapshot(c)
    except PcError as exc:
        forget_client_on(exc)
        if exc.code == "NOT_PULLED":
            st.info(t("ov.not_pulled"))
        else:
            st.error(exc.user_message())
        return None


# --- PULL on open, and where a page's data comes from ---------------------------------------

AUTO_PULLED = "_auto_pulled"
AUTO_PULL_NOTE = "_auto_pull_note"


def auto_pull(c: PcClient | None, status: PcStatus | None) -> PcStatus | None:
    """PULL once per browser session when the cockpit opens, so the first screen shows the
    morning; only when OCI answers and nothing local could be rebased (no unpushed edits, no
    conflicts, no damaged workspace). The outcome is noted for the source line of the pages
    (`AUTO_PULL_NOTE`: a catalogue key and its values, shown in the current language).
    Returns the status as it is after the PULL.

    The sidebar calls it right after the status, before it reads the snapshot: the stop
    state, the mode and the page then come from one snapshot read after the PULL (one round
    trip fewer before the stage is on screen than reading it before and after)."""
    ss = st.session_state
    if ss.get(AUTO_PULLED) or c is None or status is None or not status.oci.reachable:
        return status  # tried again on the next run once OCI answers
    ss[AUTO_PULLED] = True
    if status.unpushed_edits or status.conflicts or status.workspace_error:
        ss[AUTO_PULL_NOTE] = ("src.auto_skipped", {"n": status.unpushed_edits
                                                   + status.conflicts})
        return status
    try:
        res = c.pull()
    except PcError as exc:
        forget_client_on(exc)
        ss[AUTO_PULL_NOTE] = ("src.auto_failed", {"message": exc.user_message()})
        return status
    ss.pop(_SNAP, None)
    ss[AUTO_PULL_NOTE] = ("src.auto_pulled", {"revision": res.revision})
    return status.model_copy(update={"pulled_revision": res.revision,
                                     "last_pull_at": res.pulled_at})


def source_caption(source: str) -> None:
    """Say where the page's data comes from: "live" (asked from OCI on this run) or "pulled"
    (the last PULL: its revision and time, and whether OCI has moved on since)."""
    status: PcStatus | None = st.session_state.get("_status")
    if source == "live":
        st.caption(t("src.live", at=fmt.kst(now_kst())))
        return
    rev = status.pulled_revision if status is not None else None
    if rev is None:
        return
    text = t("src.pulled", revision=rev,
             at=fmt.kst(status.last_pull_at if status is not None else None))
    note = st.session_state.get(AUTO_PULL_NOTE)
    if isinstance(note, tuple):
        text += " · " + t(note[0], **note[1])
    if status is not None and status.oci_revision is not None and status.oci_revision != rev:
        text += " · " + t("src.oci_moved", revision=status.oci_revision)
    st.caption(text)


# --- page header and sidebar ----------------------------------------------------------------


def page_header(page: str, title_key: str) -> PcClient | None:
    """Title, emergency-stop banner and the page's last action result; the client or None
    (the reason already shown) when the PC backend cannot be used."""
    st.title(t(title_key))
    mode_badge(st.session_state.get("_mode"))
    stop: EmergencyStop | None = st.session_state.get("_stop_state")
    if stop is not None and stop.on:
        st.error(t("stop.banner", by=stop.by, at=fmt.kst(stop.at), reason=stop.reason),
                 icon="🛑")
    show_flash(page)
    c = st.session_state.get("_client_ok")
    error: PcError | None = st.session_state.get("_conn_error")
    if error is not None:
        # What is down and what to do, said once, here (the sidebar badge shows the state).
        st.error(error.user_message())
    if not isinstance(c, PcClient):
        return None
    status: PcStatus | None = st.session_state.get("_status")
    down = status is not None and not status.oci.reachable
    st.session_state[_OCI_WARNED] = down
    if down:
        assert status is not None
        st.warning(_oci_down_text(status))
    return c


def mode_badge(mode: str | None) -> None:
    """The execution mode on every page: a live broker mode in red (real money), a paper
    broker mode in amber, the others as a caption."""
    if not mode:
        return
    text = t("mode.badge", mode=mode)
    if mode == "BROKER_LIVE":
        st.error(text, icon="💸")
    elif mode == "BROKER_PAPER":
        st.warning(text, icon="🧪")
    else:
        st.caption(text)


def _oci_down_text(status: PcStatus) -> str:
    """What is down and what to do: the backend behind a healthy tunnel has its own advice."""
    if status.tunnel.state.value == "OCI_DOWN":
        return t("err.oci_down_tunnel_ok")
    return t("err.oci_down", message=status.oci.error or "")


# The connection badge and the Overview's stage redraw on their own this often (Streamlit
# fragments: only they rerun, not the page), so an idle page follows the tunnel and OCI.
LIVE_REFRESH_S = 3.0
RUN_ID = "_run_id"


def live_status(name: str) -> tuple[PcStatus | None, PcError | None]:
    """The PC backend's status for the fragment `name`: on a full run the sidebar's answer of
    this run; on the fragment's own timed rerun asked anew. When OCI's reachability or the
    backend's own flips, the whole page reruns, so its warnings and data follow too."""
    ss = st.session_state
    run = ss.get(RUN_ID)
    if ss.get(f"_seen_{name}") != run:
        ss[f"_seen_{name}"] = run
        return ss.get("_status"), ss.get("_conn_error")
    before: PcStatus | None = ss.get("_status")
    try:
        status: PcStatus | None = get_client().status()
        error: PcError | None = None
    except PcError as exc:
        forget_client_on(exc)
        status, error = None, exc

    def up(s: PcStatus | None) -> tuple[bool, bool]:
        return s is not None, s is not None and s.oci.reachable

    if up(status) != up(before):
        st.rerun(scope="app")
    ss["_status"] = status
    return status, error


@st.fragment(run_every=LIVE_REFRESH_S)
def _live_badge() -> None:
    status, error = live_status("badge")
    _badge(status, error)


def _badge(status: PcStatus | None, error: PcError | None) -> None:
    st.subheader(t("conn.title"))
    if error is not None:
        # The page says what is down and what to do (page_header); the badge only the state.
        st.markdown(f"🔴 **{t('conn.pc_backend')}**: {t('conn.pc_unreachable')} (`{error.code}`)")
        return
    assert status is not None
    state = status.tunnel.state.value
    oci = status.oci
    icon = {"UP": "🟢", "DIRECT": "🟢", "DEGRADED": "🟡", "RECONNECTING": "🟡"}.get(state, "🔴")
    if not oci.reachable:
        icon = "🔴"
    st.markdown(f"{icon} **{t('conn.tunnel')}**: {t('tunnel.' + state)}")
    if oci.reachable:
        st.markdown(f"**{t('conn.latency')}**: {fmt.num(oci.latency_ms, 0)} ms")
    else:
        st.markdown(f"**{t('conn.latency')}**: {t('conn.oci_down')}")
        if state == "OCI_DOWN":
            st.caption(t("err.oci_down_tunnel_ok"))
        elif oci.error:
            st.caption(oci.error)
    pulled = status.last_pull_at
    rev = status.pulled_revision
    st.markdown(f"**{t('conn.last_pull')}**: {fmt.kst(pulled) if pulled else t('conn.never')}"
                + (f" · {t('conn.revision')} {rev}" if rev is not None else ""))
    st.markdown(f"**{t('conn.unpushed')}**: {status.unpushed_edits}"
                f" · **{t('conn.conflicts')}**: {status.conflicts}")


def _stop_on_click(want_on: bool) -> None:
    st.session_state["stop_confirm"] = want_on


def _stop_cancel() -> None:
    st.session_state.pop("stop_confirm", None)


def _stop_confirm() -> None:
    want_on = bool(st.session_state.get("stop_confirm"))
    reason = str(st.session_state.get("stop_reason", "")).strip()
    if not reason:
        flash("sidebar", "warning", t("stop.need_reason"))
        return

    def do(c: PcClient) -> str:
        stop = c.set_emergency_stop(want_on, reason, "operator")
        st.session_state["_stop_state"] = stop
        return t("stop.done", state=t("on" if stop.on else "off"), by=stop.by,
                 at=fmt.kst(stop.at))

    act("sidebar", do)
    st.session_state.pop("stop_confirm", None)
    st.session_state["stop_reason"] = ""


def _stop_panel(stop: EmergencyStop | None) -> None:
    st.subheader(t("stop.title"))
    if stop is None:
        st.warning(t("stop.unknown"))
    elif stop.on:
        st.error(t("stop.on"))
        st.caption(f"{stop.by} · {fmt.kst(stop.at)} · {stop.reason}")
    else:
        st.success(t("stop.off"))
    pending = st.session_state.get("stop_confirm")
    if pending is None:
        if stop is not None:
            want_on = not stop.on
            st.button(t("stop.turn_on" if want_on else "stop.turn_off"), key="stop_toggle",
                      type="primary" if want_on else "secondary", on_click=_stop_on_click,
                      args=(want_on,), width="stretch")
    else:
        st.warning(t("stop.confirm_on" if pending else "stop.confirm_off"))
        st.text_input(t("stop.reason"), key="stop_reason")
        left, right = st.columns(2)
        left.button(t("stop.confirm"), key="stop_yes", type="primary", on_click=_stop_confirm)
        right.button(t("stop.cancel"), key="stop_no", on_click=_stop_cancel)
    show_flash("sidebar")


def sidebar() -> None:
    """Language toggle, connection badge and the emergency stop (on every page). Leaves the
    client (or None) and the stop state in the session for the page."""
    with st.sidebar:
        st.toggle(t("lang.toggle"), key="lang_en")
        st.session_state["lang"] = "en" if st.session_state.get("lang_en") else DEFAULT_LANG
        keep_lang_in_url()
        st.session_state[RUN_ID] = st.session_state.get(RUN_ID, 0) + 1
        status: PcStatus | None = None
        error: PcError | None = None
        stop: EmergencyStop | None = None
        c: PcClient | None = None
        try:
            c = get_client()
            status = c.status()
        except PcError as exc:
            forget_client_on(exc)
            error = exc
            c = None if exc.code in ("PC_DOWN", "NO_TOKEN", "TIMEOUT") or exc.status == 401 \
                else c
        status = auto_pull(c, status)
        if c is not None and (status is None or status.oci.reachable):
            try:
                stop = c.emergency_stop()
            except PcError:
                stop = None
        if stop is None and c is not None:
            # OCI unreachable: the last pulled snapshot still tells the operator the stop state.
            try:
                stop = run_snapshot(c).emergency_stop
            except PcError:
                stop = None
        mode = None
        if c is not None:
            try:
                mode = run_snapshot(c).settings.execution_mode.value
            except PcError:
                mode = None
        st.session_state["_mode"] = mode
        st.session_state["_client_ok"] = c
        st.session_state["_conn_error"] = error
        st.session_state["_stop_state"] = stop
        st.session_state["_status"] = status
        _live_badge()
        st.divider()
        _stop_panel(stop if c is not None else None)
