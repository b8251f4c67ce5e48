"""The cockpit's display formats: the one formatting module (`krx_common.fmt`) in the
session's language, plus the Korean colour convention (gains red, losses blue). Pure
functions: no Streamlit here."""

from __future__ import annotations

from typing import Any

from krx_common import fmt as base
from krx_common.defaults import FLAT_COLOR, GAIN_COLOR, LOSS_COLOR
from krx_common.fmt import (
    day,
    field_value,
    guard_value,
    kst,
    num,
    number,
    pct,
    plain,
    won_number,
)
from pc_cockpit.i18n import current_lang

__all__ = ["color_of", "day", "field_value", "guard_value", "krw", "kst", "num", "pct", "plain",
           "price", "shares", "signed_markdown", "style_signed", "won_number"]


def krw(value: Any, lang: str | None = None, *, signed: bool = False) -> str:
    """KRW to the won with separators: '1,234,567원' (KO) / '₩1,234,567' (EN)."""
    return base.won(value, lang or current_lang(), signed=signed)


def price(value: Any, lang: str | None = None) -> str:
    """A price in whole won with the unit, in the session's language."""
    return base.price(value, lang or current_lang())


def shares(qty: Any, lang: str | None = None) -> str:
    """'1,200주' / '1,200 sh'."""
    return base.shares(qty, lang or current_lang())


def color_of(value: Any) -> str:
    """Red for a gain, blue for a loss, grey for zero or nothing."""
    v = number(value)
    if v is None or v == 0:
        return FLAT_COLOR
    return GAIN_COLOR if v > 0 else LOSS_COLOR


def signed_markdown(value: Any, text: str | None = None) -> str:
    """`text` (default: the signed value) coloured for Streamlit markdown: `:red[...]` for a
    gain, `:blue[...]` for a loss."""
    v = number(value)
    shown = text if text is not None else ("—" if v is None else f"{v:+,.2f}")
    if v is None or v == 0:
        return shown
    return f":red[{shown}]" if v > 0 else f":blue[{shown}]"


def style_signed(value: Any) -> str:
    """CSS for a pandas Styler cell: gains red, losses blue."""
    v = number(value)
    if v is None or v == 0:
        return ""
    return f"color: {color_of(v)}"
