"""The ticker master: which KRX codes exist for this system, their names and kinds.

The built-in table covers the instruments of the shipped data set; `register_instruments` adds
more (e.g. from a `tickers.csv` beside the data) before any contract is validated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

InstrumentKind = Literal["etf", "stock"]


@dataclass(frozen=True, slots=True)
class Instrument:
    code: str
    name_ko: str
    name_en: str
    kind: InstrumentKind


BUILTIN_INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("005930", "삼성전자", "Samsung Electronics", "stock"),
    Instrument("035420", "NAVER", "NAVER", "stock"),
    Instrument("035720", "카카오", "Kakao", "stock"),
    Instrument("051910", "LG화학", "LG Chem", "stock"),
    Instrument("069500", "KODEX 200", "KODEX 200", "etf"),
    Instrument("091160", "KODEX 반도체", "KODEX Semiconductor", "etf"),
    Instrument("102110", "TIGER 200", "TIGER 200", "etf"),
    Instrument("114800", "KODEX 인버스", "KODEX Inverse", "etf"),
    Instrument("122630", "KODEX 레버리지", "KODEX Leverage", "etf"),
    Instrument("229200", "KODEX 코스닥150", "KODEX KOSDAQ150", "etf"),
    Instrument("233740", "KODEX 코스닥150레버리지", "KODEX KOSDAQ150 Leverage", "etf"),
    Instrument("252670", "KODEX 200선물인버스2X", "KODEX 200 Futures Inverse 2X", "etf"),
    Instrument("261240", "KODEX 미국달러선물", "KODEX US Dollar Futures", "etf"),
    Instrument("305720", "KODEX 2차전지산업", "KODEX Secondary Battery Industry", "etf"),
)

_MASTER: dict[str, Instrument] = {i.code: i for i in BUILTIN_INSTRUMENTS}


def is_known(code: str) -> bool:
    return code in _MASTER


def instrument(code: str) -> Instrument:
    """The master entry for `code`; KeyError names the code when it is unknown."""
    try:
        return _MASTER[code]
    except KeyError:
        raise KeyError(f"unknown ticker {code!r}: not in the ticker master") from None


def all_instruments() -> list[Instrument]:
    return list(_MASTER.values())


def register_instruments(items: list[Instrument]) -> None:
    """Add or update master entries (idempotent)."""
    for item in items:
        _MASTER[item.code] = item
