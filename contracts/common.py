"""Types shared by every contract: KST, aware datetimes, KRX codes, the strict base model."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

KST = ZoneInfo("Asia/Seoul")

_CODE = re.compile(r"^[0-9A-Z]{6}$")


def now_kst() -> datetime:
    """The current time as an aware datetime in KST."""
    return datetime.now(KST)


def _check_code(value: str) -> str:
    if not _CODE.match(value):
        raise ValueError(f"ticker {value!r} is not a 6-character KRX code (e.g. '069500')")
    from contracts.instruments import is_known

    if not is_known(value):
        raise ValueError(f"ticker {value!r} is not in the ticker master (unknown ticker)")
    return value


def _to_kst(value: datetime) -> datetime:
    return value.astimezone(KST)


# A known 6-character KRX code (the ticker master decides what is known).
Ticker = Annotated[str, AfterValidator(_check_code)]
# Aware datetime, normalised to KST so every artifact reads the same way.
KstDatetime = Annotated[AwareDatetime, AfterValidator(_to_kst)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class Contract(BaseModel):
    """Base of every artifact: unknown fields are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
