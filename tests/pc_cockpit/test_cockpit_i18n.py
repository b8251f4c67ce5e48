"""The cockpit's language: the choice survives a reload (it lives in the URL's ?lang=)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cockpit_stack import APP

pytestmark = pytest.mark.integration


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _session(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lang: str | None,  # noqa: ANN202
             toggle: bool | None = None):
    from streamlit.testing.v1 import AppTest

    token = tmp_path / "pc_token"
    token.write_text("x" * 40, encoding="utf-8")
    monkeypatch.setenv("KRX_COCKPIT_PC_URL", _dead_url())
    monkeypatch.setenv("KRX_COCKPIT_TOKEN_FILE", str(token))
    at = AppTest.from_file(str(APP), default_timeout=120)
    if lang is not None:
        at.query_params["lang"] = lang
    if toggle is not None:  # the sidebar toggle's state, as a click leaves it
        at.session_state["lang_en"] = toggle
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_cockpit_language_choice_survives_a_reload(monkeypatch, tmp_path):
    at = _session(monkeypatch, tmp_path, None)
    assert at.title[0].value == "개요"  # Korean by default
    assert at.query_params["lang"] in ("ko", ["ko"])
    at = _session(monkeypatch, tmp_path, None, toggle=True)  # the operator picks English
    assert at.title[0].value == "Overview"
    kept = at.query_params["lang"]
    assert kept in ("en", ["en"]), kept  # ... and the URL now says so
    # a reload is a new session on the same URL: English again, without touching the toggle
    again = _session(monkeypatch, tmp_path, "en")
    assert again.title[0].value == "Overview"
    assert again.session_state["lang_en"] is True
    back = _session(monkeypatch, tmp_path, "ko")
    assert back.title[0].value == "개요"
