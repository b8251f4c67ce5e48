"""Types shared by every contract: KST, aware datetimes, KRX codes, the strict base model."""

from __future__ import annotations

import re
import types
import typing
import unicodedata
from datetime import date, datetime
from functools import cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from contracts.instruments import BUILTIN_INSTRUMENTS, is_known
from krx_common.defaults import KST

_CODE = re.compile(r"^[0-9A-Z]{6}$")


def rule_error(code: str, field: str, message: str, **params: str | int | float) -> Exception:
    """A cross-field rule broken, raised from a model validator: its error `type` is `code`
    (worded by the catalogue as `invalid.<code>`), its ctx names the `field` at fault and the
    `params` the words need; `message` (English, with `{param}` names) stays for logs."""
    return PydanticCustomError(code, message, {"field": field, **params})


def now_kst() -> datetime:
    """The current time as an aware datetime in KST."""
    return datetime.now(KST)


def _check_code(value: str) -> str:
    if not _CODE.match(value):
        raise ValueError(f"ticker {value!r} is not a 6-character KRX code (e.g. '069500')")
    if not is_known(value):
        raise ValueError(f"ticker {value!r} is not in the ticker master (unknown ticker)")
    return value


# Every stored or exchanged instant lies in this range: anything outside it is a typo or a
# probe, and far-out values overflow when converted to KST (0001-01-01+01:00 has no UTC form).
EARLIEST = datetime(1970, 1, 1, tzinfo=KST)
LATEST = datetime(2199, 12, 31, 23, 59, 59, tzinfo=KST)
# Trading dates (entries, fills) stay within the years the XKRX calendar can be built for.
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2099, 12, 31)
# Money and share counts: far above anything one account holds, far below what overflows a
# 64-bit integer or loses whole won in a float (2**53 ≈ 9.0e15).
MAX_KRW = 1e15
MAX_QTY = 10**10
MAX_PRICE = 1e9
MIN_PRICE = 1.0  # no KRX price is below 1 won (the smallest tick)


def _readable_reason(value: str) -> str:
    """An operator's reason is words on one line: not blank, no control characters."""
    if not value.strip():
        raise ValueError("must not be blank: say why")
    bad = sorted({f"U+{ord(c):04X}" for c in value
                  if unicodedata.category(c) == "Cc" or c in "\u2028\u2029"})
    if bad:
        raise ValueError(f"must be one line of text without control characters ({', '.join(bad)})")
    return value


# The reason an operator gives for a change (PUSH, emergency stop): audited verbatim.
Reason = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_readable_reason)]


def _to_kst(value: datetime) -> datetime:
    try:
        kst = value.astimezone(KST)
    except (OverflowError, ValueError):
        raise ValueError(
            f"datetime {value.isoformat()} is out of range; use {EARLIEST.year}..{LATEST.year}"
        ) from None
    if not EARLIEST <= kst <= LATEST:
        raise ValueError(
            f"datetime {value.isoformat()} is out of range; use {EARLIEST.year}..{LATEST.year}"
        )
    return kst


def _check_iso_date(value: str) -> str:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not a date in the form YYYY-MM-DD") from None
    if len(value) != 10 or not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValueError(
            f"{value!r} must be a YYYY-MM-DD date between {EARLIEST_DATE} and {LATEST_DATE}"
        )
    return value


def _ticker_schema(schema: dict) -> None:
    schema["pattern"] = _CODE.pattern
    schema["enum"] = [i.code for i in BUILTIN_INSTRUMENTS]
    schema["description"] = "a 6-character KRX code from the ticker master (contracts.instruments)"


# A known 6-character KRX code (the ticker master decides what is known).
Ticker = Annotated[str, AfterValidator(_check_code), Field(json_schema_extra=_ticker_schema)]
_NUMERIC = re.compile(r"^[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?$")


def _iso_only(value: object) -> object:
    # Pydantic reads numbers as Unix timestamps; in this system a number is always a mistake.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMERIC.match(value)):
        raise ValueError("expected an ISO-8601 datetime with an offset, e.g. "
                         "2025-12-29T09:05:00+09:00, not a number")
    return value


# Aware datetime, normalised to KST so every artifact reads the same way.
KstDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_only), AfterValidator(_to_kst)]
def _date_not_number(value: Any) -> Any:
    """pydantic reads a number as a Unix timestamp for a `date` (0 → 1970-01-01): refuse it."""
    if isinstance(value, bool | int | float):
        raise ValueError("expected a date YYYY-MM-DD, not a number")
    return value


def _date_in_range(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"{value} must be between {EARLIEST_DATE} and {LATEST_DATE}")
    return value


# A calendar date given as YYYY-MM-DD (never a number), within the calendar's years.
SessionDay = Annotated[date, BeforeValidator(_date_not_number), AfterValidator(_date_in_range)]

# A session date as text (YYYY-MM-DD), checked to be a real date in range.
IsoDate = Annotated[str, Field(min_length=10, max_length=10, pattern=r"^\d{4}-\d{2}-\d{2}$"),
                    AfterValidator(_check_iso_date)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class Contract(BaseModel):
    """Base of every artifact: unknown fields are errors, values are validated on assignment,
    and every float is finite (NaN and ±Infinity, including 1e309 which JSON parsers read as
    Infinity, are refused: a stored non-finite number would be written back as `null` and
    wedge every later read)."""

    # defer_build: a model's validator is built on its first use, not at import, so a process
    # pays only for the contracts it touches (importing them all took ~0.3-0.6 s of a cold
    # `krx daily`).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False,
                              allow_inf_nan=False, defer_build=True)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_boolean_number(cls, str(info.field_name), value)


def refuse_boolean_number(model: type[BaseModel], field: str, value: Any) -> Any:
    """`value` unless it is true/false for a number field of `model` (ValueError).

    pydantic's lax mode reads JSON true/false as 1/0 for a number field (`"cash": true` would
    store 1 KRW): in this system that is always a mistake."""
    if isinstance(value, bool) and field in _numeric_fields(model):
        raise ValueError("expected a number, not true/false")
    return value


def _bare(annotation: Any) -> Any:
    """`Annotated[int | None, ...]` → `int` (the one non-None member)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _bare(members[0])
    return annotation


@cache
def _numeric_fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(name for name, info in model.model_fields.items()
                     if _bare(info.annotation) in (int, float))
