"""The cockpit's view of the one catalogue (`krx_common.i18n`): `t(key)` in the session's
language, which lives in `st.session_state["lang"]` ("ko" | "en") and in the page URL's
`?lang=` query parameter, so a reload keeps it."""

from __future__ import annotations

from typing import Any

from krx_common.i18n import DEFAULT_LANG, LANGS, TEXT, normal_lang, text

__all__ = ["DEFAULT_LANG", "LANGS", "TEXT", "current_lang", "field_label", "t"]


def t(key: str, lang: str | None = None, /, **values: Any) -> str:
    """The label `key` in `lang` (default: the session's language) with `values` filled in."""
    return text(key, lang or current_lang(), **values)


def field_label(prefix: str, name: str, lang: str | None = None) -> str:
    """The label of a settings field (`prefix` param | guard | notify); the field name when
    the table has none."""
    key = f"{prefix}.{name}"
    return t(key, lang) if key in TEXT else name


def current_lang() -> str:
    """The session's language ("ko" unless the English toggle is on); "ko" outside Streamlit."""
    try:
        import streamlit as st

        lang = st.session_state.get("lang", DEFAULT_LANG)
    except Exception:  # no script context (CLI, plain tests)
        return DEFAULT_LANG
    return normal_lang(lang)
