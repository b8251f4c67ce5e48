"""The one set of display formats: won to the integer with separators, percentages with a %,
prices on their (integer-won) tick, share quantities, KST timestamps and session dates.

Used by the cockpit (`pc_cockpit.fmt` adds the session's language and the colours), the CLI
(`krx daily`, the backtest text), the HTML reports and the Telegram bot. Pure functions; the
unit words come from the one catalogue (`krx_common.i18n`). Nothing here shows a fraction of a
won: money is rounded half away from zero to the won.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from krx_common.defaults import KST
from krx_common.i18n import DEFAULT_LANG, text

NONE = "—"

# How a guardrail check's value and limit read (by its code); anything else is a plain number.
_GUARD_UNITS = {
    "GUARDRAIL_MAX_ORDERS": "count",
    "GUARDRAIL_ALLOW_LIST": "count",
    "GUARDRAIL_MAX_SINGLE_ORDER": "pct",
    "GUARDRAIL_MAX_BUY_TURNOVER": "pct",
    "GUARDRAIL_MIN_CASH": "won",
}


def number(value: Any) -> float | None:
    """`value` as a finite float; None for None, booleans, text and NaN/inf."""
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


def whole(value: float) -> int:
    """`value` rounded half away from zero (12.5 → 13, not Python's banker's 12)."""
    return int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def num(value: Any, digits: int = 0) -> str:
    """A number with thousands separators and `digits` decimals; '—' when there is none."""
    v = number(value)
    if v is None:
        return NONE
    if digits == 0:
        return f"{whole(v):,}"
    return f"{v:,.{digits}f}"


def won_number(value: Any, *, signed: bool = False) -> str:
    """Won to the integer with separators and no unit ('8,036,925'; '+1,234' when signed),
    for columns whose header names the unit."""
    v = number(value)
    if v is None:
        return NONE
    n = whole(v)
    return f"{n:+,}" if signed else f"{n:,}"


def won(value: Any, lang: str = DEFAULT_LANG, *, signed: bool = False) -> str:
    """Won to the integer with separators and the unit: '1,234,567원' (KO) / '₩1,234,567' (EN)."""
    shown = won_number(value, signed=signed)
    return shown if shown == NONE else text("unit.won", lang, value=shown)


def price(value: Any, lang: str | None = None) -> str:
    """A price in whole won (KRX ticks are whole won: a limit on its tick prints exactly; an
    average fill price is rounded to the won); with the unit when `lang` is given."""
    return won_number(value) if lang is None else won(value, lang)


def pct(value: Any, digits: int = 2, *, signed: bool = False) -> str:
    """A fraction as a percentage (0.0123 → '1.23%'; '+1.23%' when `signed`)."""
    v = number(value)
    if v is None:
        return NONE
    return f"{v * 100:+.{digits}f}%" if signed else f"{v * 100:.{digits}f}%"


def shares(qty: Any, lang: str = DEFAULT_LANG) -> str:
    """A share quantity with separators and the unit: '1,200주' / '1,200 sh'."""
    v = number(qty)
    if v is None:
        return NONE
    return text("unit.shares", lang, value=f"{whole(v):,}")


def ratio(value: Any, digits: int = 2) -> str:
    """A unitless ratio (Sharpe, profit factor) to `digits` decimals."""
    return num(value, digits)


def guard_value(code: str, value: Any, lang: str = DEFAULT_LANG) -> str:
    """A guardrail check's value or limit in its unit: a count, a % of equity, or won."""
    unit = _GUARD_UNITS.get(code)
    if unit == "pct":
        return pct(value, 1)
    if unit == "won":
        return won(value, lang)
    if unit == "count":
        return num(value)
    return plain(value)


# Fields holding won amounts and fractions (an artifact's field path ends in one of them).
_WON_FIELDS = frozenset({"cash", "avg_price", "initial_capital", "price", "limit_price",
                         "est_notional", "notional"})


def field_value(path: str, value: Any) -> str:
    """An artifact field's value as it reads, chosen by the field's name: won to the integer
    for money ('portfolio.cash', 'holdings[069500].avg_price'), a % for a `*_pct` fraction,
    else `plain`. Used by the diff, conflict and audit views."""
    leaf = path.rsplit(".", 1)[-1]
    if number(value) is not None and not isinstance(value, bool):
        if leaf in _WON_FIELDS:
            return won_number(value)
        if leaf.endswith("_pct"):
            return pct(value)
    return plain(value)


def kst(value: datetime | str | None, *, seconds: bool = False) -> str:
    """A timestamp in KST ('2026-11-30 18:03 KST'); naive input is refused as unknown ('—')."""
    if value is None:
        return NONE
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    if moment.tzinfo is None:
        return NONE
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return moment.astimezone(KST).strftime(fmt) + " KST"


def day(value: date | str | None) -> str:
    """A session date as YYYY-MM-DD ('—' when there is none)."""
    if value is None:
        return NONE
    if isinstance(value, datetime):
        return value.astimezone(KST).date().isoformat() if value.tzinfo else NONE
    return value.isoformat() if isinstance(value, date) else str(value)


def plain(value: Any) -> str:
    """Any audit/diff value as short text (lists and dicts compact, floats trimmed)."""
    if value is None:
        return NONE
    if isinstance(value, float):
        if value.is_integer():
            return f"{int(value):,}"
        if abs(value) < 1:
            return f"{value:.4g}"
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value) if value else "[]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={plain(v)}" for k, v in value.items())
    return str(value)
