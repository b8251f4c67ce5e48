"""Ticker master: code, Korean and English names, instrument kind (etf/stock)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

InstrumentKind = Literal["etf", "stock"]

_MASTER_COLUMNS = ("code", "name_ko", "name_en", "kind")


@dataclass(frozen=True)
class TickerInfo:
    """One listed instrument. `kind` decides the sell tax (stocks only)."""

    code: str
    name_ko: str
    name_en: str
    kind: InstrumentKind


def _info(code: str, name_ko: str, name_en: str, kind: InstrumentKind) -> TickerInfo:
    return TickerInfo(code=code, name_ko=name_ko, name_en=name_en, kind=kind)


# The same instruments as the shared tickers.csv, kept in code so names and kinds are known
# without the data directory.
BUILTIN_TICKERS: dict[str, TickerInfo] = {
    t.code: t
    for t in (
        _info("005930", "삼성전자", "Samsung Electronics", "stock"),
        _info("035420", "NAVER", "NAVER", "stock"),
        _info("035720", "카카오", "Kakao", "stock"),
        _info("051910", "LG화학", "LG Chem", "stock"),
        _info("069500", "KODEX 200", "KODEX 200", "etf"),
        _info("091160", "KODEX 반도체", "KODEX Semiconductor", "etf"),
        _info("102110", "TIGER 200", "TIGER 200", "etf"),
        _info("114800", "KODEX 인버스", "KODEX Inverse", "etf"),
        _info("122630", "KODEX 레버리지", "KODEX Leverage", "etf"),
        _info("229200", "KODEX 코스닥150", "KODEX KOSDAQ150", "etf"),
        _info("233740", "KODEX 코스닥150레버리지", "KODEX KOSDAQ150 Leverage", "etf"),
        _info("252670", "KODEX 200선물인버스2X", "KODEX 200 Futures Inverse 2X", "etf"),
        _info("261240", "KODEX 미국달러선물", "KODEX US Dollar Futures", "etf"),
        _info("305720", "KODEX 2차전지산업", "KODEX Secondary Battery Industry", "etf"),
    )
}


class TickerMasterError(ValueError):
    """The ticker master file is malformed; the message names the file and line."""


def load_ticker_master(path: Path | str) -> dict[str, TickerInfo]:
    """Read a ticker master CSV (columns code,name_ko,name_en,kind; extra columns ignored).

    Returns the instruments keyed by code, in file order. Raises `TickerMasterError` naming
    the file and line for a missing column, an unknown kind, or a duplicate code.
    """
    path = Path(path)
    out: dict[str, TickerInfo] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        # A BOM written by spreadsheet tools would otherwise end up in the first column name.
        fields = [f.lstrip("\ufeff").strip() for f in (reader.fieldnames or [])]
        reader.fieldnames = fields
        missing = [c for c in _MASTER_COLUMNS if c not in fields]
        if missing:
            raise TickerMasterError(f"{path}: missing column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            code = (row["code"] or "").strip()
            kind = (row["kind"] or "").strip().lower()
            if not code:
                raise TickerMasterError(f"{path}:{line}: empty code")
            if kind not in ("etf", "stock"):
                raise TickerMasterError(
                    f"{path}:{line}: kind {kind!r} for {code} must be 'etf' or 'stock'"
                )
            if code in out:
                raise TickerMasterError(f"{path}:{line}: duplicate code {code}")
            out[code] = TickerInfo(
                code=code,
                name_ko=(row["name_ko"] or "").strip(),
                name_en=(row["name_en"] or "").strip(),
                kind=cast(InstrumentKind, kind),
            )
    return out
