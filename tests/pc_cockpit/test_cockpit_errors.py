"""Error states on every page, against real processes: OCI down, the PC backend down or its
token missing, and the emergency stop (toggled from the sidebar with a confirmation)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cockpit_stack import Stack, pull, texts
from oci_server import stop_server

pytestmark = pytest.mark.integration

PAGES = ("overview", "order_plan", "portfolio", "strategy", "tickets", "backtest", "audit")


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pages_say_oci_is_down_and_what_to_do_without_a_traceback(fresh_stack, cockpit):
    pull(fresh_stack)
    stop_server(fresh_stack.oci)
    for page in PAGES:
        at = cockpit(fresh_stack, page=page)  # asserts no exception
        warning = " ".join(w.value for w in at.warning)
        assert "OCI에 연결할 수 없습니다" in warning and "터널" in warning, (page, texts(at))
        said = [e.value for kind in ("error", "warning") for e in getattr(at, kind)
                if "OCI에 연결할 수 없습니다" in e.value]
        assert len(said) == 1, (page, said)  # said once (issue 16, item 19)
    at = cockpit(fresh_stack)
    at.button(key="ov_pull").click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "OCI에 연결할 수 없습니다" in errors  # the PULL's failure, in words
    assert "마지막으로 PULL한 내용은 계속 볼 수 있습니다" in errors
    assert "오늘의 단계" in texts(at)  # the last pulled snapshot is still shown


def test_pages_say_the_pc_backend_is_down_and_how_to_start_it(cockpit, tmp_path: Path):
    token = tmp_path / "pc_token"
    token.write_text("x" * 40, encoding="utf-8")
    url = f"http://127.0.0.1:{dead_port()}"
    for page in PAGES:
        at = cockpit(None, page=page, pc_url=url, token_file=token)
        errors = " ".join(e.value for e in at.error)
        assert f"PC 백엔드({url})에 연결할 수 없습니다" in errors, (page, texts(at))
        assert "krx pc serve" in errors
        said = [e.value for e in at.error if "PC 백엔드(" in e.value]
        assert len(said) == 1, (page, said)  # the page says it; the badge shows the state
    at = cockpit(None, pc_url=url, token_file=token)  # one run: the sidebar is in the tree
    assert len([e for e in at.error if "PC 백엔드(" in e.value]) == 1, texts(at)
    assert "🔴 **PC 백엔드**: 연결 안 됨 (`PC_DOWN`)" in texts(at, "markdown")


def test_missing_token_file_names_the_file(cockpit, tmp_path: Path):
    missing = tmp_path / "nowhere" / "pc_token"
    at = cockpit(None, lang="en", token_file=missing)
    errors = " ".join(e.value for e in at.error)
    assert str(missing) in errors and "krx pc serve" in errors


def test_emergency_stop_asks_to_confirm_then_shows_ocis_answer_on_every_page(
        fresh_stack: Stack, cockpit):
    pull(fresh_stack)
    at = cockpit(fresh_stack)
    at.button(key="stop_toggle").click().run()
    assert at.session_state["stop_confirm"] is True
    with fresh_stack.oci_client() as c:  # nothing happened before the confirmation
        assert c.get("/api/v1/emergency-stop").json()["on"] is False
    # AppTest drops the sidebar from its tree on reruns under st.navigation (the browser does
    # not): a new session in the confirming state shows the confirmation form.
    at = cockpit(fresh_stack, stop_confirm=True)
    at.text_input(key="stop_reason").input("drill: broker outage")
    at.button(key="stop_yes").click().run()
    assert not at.exception
    with fresh_stack.oci_client() as c:
        stop = c.get("/api/v1/emergency-stop").json()
    assert stop["on"] is True and stop["reason"] == "drill: broker outage"
    for page in PAGES:
        at = cockpit(fresh_stack, page=page)
        banner = " ".join(e.value for e in at.error)
        assert "긴급 정지 중" in banner and "drill: broker outage" in banner, page


def test_emergency_stop_without_a_reason_changes_nothing(fresh_stack: Stack, cockpit):
    at = cockpit(fresh_stack, stop_confirm=True)
    at.button(key="stop_yes").click().run()
    assert not at.exception
    with fresh_stack.oci_client() as c:
        assert c.get("/api/v1/emergency-stop").json()["on"] is False
    assert at.session_state["stop_confirm"] is True  # still asking


def test_emergency_stop_cancel_changes_nothing(stack: Stack, cockpit):
    at = cockpit(stack, stop_confirm=True, stop_reason="not now")
    at.button(key="stop_no").click().run()
    assert "stop_confirm" not in at.session_state
    with stack.oci_client() as c:
        assert c.get("/api/v1/emergency-stop").json()["on"] is False
