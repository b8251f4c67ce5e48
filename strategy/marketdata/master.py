"""Ticker master: code, Korean and English names, instrument kind (etf/stock)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import cast

from contracts.instruments import BUILTIN_INSTRUMENTS, InstrumentKind
from contracts.instruments import Instrument as TickerInfo

_MASTER_COLUMNS = ("code", "name_ko", "name_en", "kind")

# The instruments of the shared tickers.csv, known without the data directory (one table,
# owned by `contracts.instruments`).
BUILTIN_TICKERS: dict[str, TickerInfo] = {t.code: t for t in BUILTIN_INSTRUMENTS}


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
