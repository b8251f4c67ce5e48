"""Operator sentences from codes and numbers, in the operator's language: a risk from its code
+ params, a guardrail check from its code, value and limit, a plan reason from its code. The
words come from the one catalogue (`krx_common.i18n`), the numbers from the one formatting
module (`krx_common.fmt`); nothing here parses an English message (an unknown code gets
generic words and its detail shown as code)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from krx_common import fmt
from krx_common.i18n import DEFAULT_LANG, has, text

_BLOCK_PREFIX = "no entries:"


def risk_text(code: str, params: Mapping[str, object], message: str,
              lang: str = DEFAULT_LANG) -> str:
    """The risk `code` in words with its `params`; its `message` only as a code-formatted
    detail when the catalogue has no template its params fill."""
    if code.startswith("GUARDRAIL_") and "value" in params and "limit" in params:
        return guard_text(code, params["value"], params["limit"], lang)
    key = f"risk.{code}"
    if has(key) and params:
        try:
            return text(key, lang).format(**{k: _shown(v) for k, v in params.items()})
        except (KeyError, IndexError, ValueError):
            pass
    if has(key) and not params and "{" not in text(key, lang):
        return text(key, lang)
    plain = f"{key}.plain" if has(f"{key}.plain") else "risk.unknown"
    words = text(plain, lang)
    return f"{words} {text('risk.detail', lang, detail=message)}" if message else words


def guard_text(code: str, value: object, limit: object, lang: str = DEFAULT_LANG) -> str:
    """A guardrail check in words: '가장 큰 매수: 평가 총액의 19.8% (한도 25.0%)'."""
    key = f"guard_check.{code}" if has(f"guard_check.{code}") else "guard_check.unknown"
    return text(key, lang, value=fmt.guard_value(code, value, lang),
                limit=fmt.guard_value(code, limit, lang))


def plan_reason_code(reason: str) -> str:
    """The code a plan reason starts with: 'no entries: CHOP_BLOCK' → CHOP_BLOCK,
    'GUARDRAIL_MIN_CASH: 2 buys held back…' → GUARDRAIL_MIN_CASH, 'DATA_STALE' → DATA_STALE."""
    body = reason.strip()
    if body.lower().startswith(_BLOCK_PREFIX):
        body = body[len(_BLOCK_PREFIX):].strip()
    return body.split(":", 1)[0].strip().upper()


def plan_reason_text(reason: str, lang: str = DEFAULT_LANG) -> tuple[str, str]:
    """(words, code) of a plan reason: the code is shown beside the words, once."""
    code = plan_reason_code(reason)
    if code.startswith("GUARDRAIL"):
        return text("reason.GUARDRAIL", lang), code
    if code == "CASH_LIMIT":
        ticker = re.search(r"\b\d{6}\b", reason)
        return text("reason.CASH_LIMIT", lang, ticker=ticker.group(0) if ticker else "—"), code
    key = f"reason.{code}"
    return (text(key, lang) if has(key) else text("reason.unknown", lang)), code


def _shown(value: object) -> object:
    """Params as they read: floats trimmed (12.6, not 12.600000001)."""
    if isinstance(value, float):
        return fmt.plain(value)
    return value
