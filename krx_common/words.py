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
    key = base = f"risk.{code}"
    # one code, more than one sentence: `variant` picks `risk.<code>.<variant>`
    variant = params.get("variant")
    params = {k: v for k, v in params.items() if k != "variant"}
    if variant is not None and has(f"{key}.{variant}"):
        key = f"{key}.{variant}"
    if has(key) and params:
        try:
            return text(key, lang).format(**{k: _shown(v) for k, v in params.items()})
        except (KeyError, IndexError, ValueError):
            pass
    if has(key) and not params and "{" not in text(key, lang):
        return text(key, lang)
    plain = f"{base}.plain" if has(f"{base}.plain") else "risk.unknown"
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


# pydantic's ctx names of a bound → the catalogue's `{limit}`
_BOUNDS = ("gt", "ge", "lt", "le")
# the settings section a field sits in → its label's prefix in the catalogue
_SECTIONS = {"strategy": "param", "guardrails": "guard", "notifications": "notify"}


def invalid_params(ctx: Mapping[str, object]) -> dict[str, object]:
    """The words' params of a validation error's ctx: a bound as `limit`, the rest trimmed."""
    params = {k: _shown(v) for k, v in ctx.items()}
    for bound in _BOUNDS:
        if bound in ctx:
            params["limit"] = fmt.plain(ctx[bound])
    return params


def invalid_text(kind: str, ctx: Mapping[str, object], lang: str = DEFAULT_LANG) -> str:
    """A refused value in words from its error type (pydantic's, or a rule's code from
    `contracts.common.rule_error`) and ctx: '0보다 커야 합니다'."""
    key = f"invalid.{kind}"
    if not has(key):
        return text("invalid.other", lang)
    return text(key, lang, **invalid_params(ctx))


def field_label(field: str, lang: str = DEFAULT_LANG) -> str:
    """A dotted settings field's label ('strategy.rsi_buy_threshold' → 'RSI 매수 기준 …');
    the field itself when the catalogue has none."""
    parts = field.split(".")
    if len(parts) == 2 and parts[0] in _SECTIONS and has(f"{_SECTIONS[parts[0]]}.{parts[1]}"):
        return text(f"{_SECTIONS[parts[0]]}.{parts[1]}", lang)
    return field


def invalid_field_text(field: str, kind: str, ctx: Mapping[str, object],
                       lang: str = DEFAULT_LANG) -> str:
    """'입력 오류 — RSI 매수 기준 (미만 매수) `strategy.rsi_buy_threshold`: … [rsi_order]': the
    field by its label and name, the error in words, its raw type beside them."""
    words = invalid_text(kind, ctx, lang)
    label = field_label(field, lang)
    if label == field:
        return text("err.invalid_coded", lang, field=field, message=words, code=kind)
    return text("err.invalid_named", lang, label=label, field=field, message=words, code=kind)


def ticket_event_text(code: str, params: Mapping[str, object],
                      lang: str = DEFAULT_LANG) -> str | None:
    """A ticket event in words from its `code` + `params` (`tkevent.<code>`; a refusal
    `refused.<Error>` falls back to `tkevent.refused`), with a `final` mark and a `note` (shown
    as code) when the params carry them; None for an older event without a code."""
    if not code:
        return None
    key = f"tkevent.{code}"
    if not has(key):
        key = f"tkevent.{code.split('.', 1)[0]}"
    if not has(key):
        return text("tkevent.unknown", lang, code=code)
    try:
        words = text(key, lang).format(**{k: _shown(v) for k, v in params.items()})
    except (KeyError, IndexError, ValueError):
        return text("tkevent.unknown", lang, code=code)
    if params.get("final"):
        words += text("tkevent.final", lang)
    if params.get("note"):
        words += text("tkevent.note", lang, note=params["note"])
    return words


def _shown(value: object) -> object:
    """Params as they read: floats trimmed (12.6, not 12.600000001)."""
    if isinstance(value, float):
        return fmt.plain(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"  # amounts in won read with separators; counts are below 1,000
    return value
