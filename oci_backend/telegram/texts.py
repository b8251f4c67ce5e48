"""The bot's labels, from the one catalogue (`krx_common.i18n`, keys `tg.<key>`): Korean by
default, English available (`/lang en`, `KRX_TELEGRAM_LANG`).
Risks, guardrail checks and plan reasons are worded from their codes by `krx_common.words`;
numbers are `krx_common.fmt`'s. Refusals and audit lines are shown as OCI states them."""

from __future__ import annotations

from krx_common import fmt
from krx_common.i18n import has, text

LANGS = ("ko", "en")


def t(key: str, lang: str) -> str:
    """The bot's label `key` in `lang`, from the one catalogue (`tg.<key>`)."""
    full = f"tg.{key}"
    if not has(full):
        raise KeyError(key)
    return text(full, lang)


def won(x: float | None, lang: str = "ko") -> str:
    """KRW as everywhere else (`krx_common.fmt.won`): `1,234,567원` / `₩1,234,567`."""
    return fmt.won(x, lang)


def shares(n: int, lang: str = "ko") -> str:
    return fmt.shares(n, lang)


def pct(x: float | None) -> str:
    """A signed percentage as the cockpit shows one: `+1.23%`."""
    return fmt.pct(x, signed=True)
