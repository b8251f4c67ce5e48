"""`state/portfolio.json`: cash and holdings, owned by OCI."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from contracts.common import (
    MAX_KRW,
    MAX_PRICE,
    MAX_QTY,
    MIN_PRICE,
    Contract,
    IsoDate,
    KstDatetime,
    Ticker,
    now_kst,
)


class Holding(Contract):
    ticker: Ticker
    qty: Annotated[int, Field(gt=0, le=MAX_QTY,
                              description="shares held; a closed position is removed")]
    avg_price: Annotated[float, Field(
        ge=MIN_PRICE, le=MAX_PRICE, allow_inf_nan=False,
        description="average fill price incl. slippage, excl. commission (= entry price)",
    )]
    entry_date: IsoDate | None = Field(
        default=None, description="session date (YYYY-MM-DD) of the entry fill, when known"
    )


class Portfolio(Contract):
    cash: Annotated[float, Field(ge=0, le=MAX_KRW, allow_inf_nan=False, description="KRW")]
    holdings: list[Holding] = Field(default_factory=list, max_length=200)
    asof: KstDatetime = Field(default_factory=now_kst)
    revision: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _unique_tickers(self) -> Portfolio:
        seen: set[str] = set()
        for i, h in enumerate(self.holdings):
            if h.ticker in seen:
                raise ValueError(f"holdings[{i}].ticker {h.ticker!r} appears twice")
            seen.add(h.ticker)
        return self

    def holding(self, ticker: str) -> Holding | None:
        return next((h for h in self.holdings if h.ticker == ticker), None)

    @classmethod
    def default(cls) -> Portfolio:
        """The first-run portfolio: 10,000,000 KRW cash, no holdings."""
        return cls(cash=10_000_000.0, holdings=[])
