"""Display formats of the cockpit: KRW with separators, KST timestamps, and the Korean colour
convention (gains red, losses blue). Pure functions: no Streamlit here."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from krx_common.defaults import FLAT_COLOR, GAIN_COLOR, KST, LOSS_COLOR
from pc_cockpit.i18n import t


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


def num(value: Any, digits: int = 0) -> str:
    """A number with thousands separators (`digits` decimals); '—' when there is none."""
    v = _number(value)
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def krw(value: Any, lang: str | None = None) -> str:
    """KRW with thousands separators: '1,234,567원' (KO) / '₩1,234,567' (EN)."""
    v = _number(value)
    if v is None:
        return "—"
    return t("misc.krw", lang, value=f"{round(v):,}")


def pct(value: Any, digits: int = 2, *, signed: bool = False) -> str:
    """A fraction as a percentage (0.0123 → '1.23%'; '+1.23%' when `signed`)."""
    v = _number(value)
    if v is None:
        return "—"
    return f"{v * 100:+.{digits}f}%" if signed else f"{v * 100:.{digits}f}%"


def color_of(value: Any) -> str:
    """Red for a gain, blue for a loss, grey for zero or nothing."""
    v = _number(value)
    if v is None or v == 0:
        return FLAT_COLOR
    return GAIN_COLOR if v > 0 else LOSS_COLOR


def signed_markdown(value: Any, text: str | None = None) -> str:
    """`text` (default: the signed value) coloured for Streamlit markdown: `:red[...]` for a
    gain, `:blue[...]` for a loss."""
    v = _number(value)
    shown = text if text is not None else ("—" if v is None else f"{v:+,.2f}")
    if v is None or v == 0:
        return shown
    return f":red[{shown}]" if v > 0 else f":blue[{shown}]"


def style_signed(value: Any) -> str:
    """CSS for a pandas Styler cell: gains red, losses blue."""
    v = _number(value)
    if v is None or v == 0:
        return ""
    return f"color: {color_of(v)}"


def kst(value: datetime | str | None, *, seconds: bool = False) -> str:
    """A timestamp in KST ('2026-11-30 18:03 KST'); naive input is refused as unknown ('—')."""
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    if moment.tzinfo is None:
        return "—"
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return moment.astimezone(KST).strftime(fmt) + " KST"


def day(value: date | str | None) -> str:
    if value is None:
        return "—"
    return value.isoformat() if isinstance(value, date) else str(value)


def plain(value: Any) -> str:
    """Any audit/diff value as short text (lists and dicts compact, floats trimmed)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if value.is_integer():
            return f"{int(value):,}"
        if abs(value) < 1:
            return f"{value:.6g}"
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value) if value else "[]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={plain(v)}" for k, v in value.items())
    return str(value)
