"""Signals for one as-of session: the regime block and one row per universe ticker."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field

from contracts.common import Contract, Ticker


class Regime(StrEnum):
    BULL = "BULL"
    BEAR = "BEAR"
    UNKNOWN = "UNKNOWN"


class SignalAction(StrEnum):
    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"
    NONE = "NONE"


class ReasonCode(StrEnum):
    BEAR_EXIT = "BEAR_EXIT"
    STOP_LOSS = "STOP_LOSS"
    RSI_TAKE_PROFIT = "RSI_TAKE_PROFIT"
    CHOP_EXIT = "CHOP_EXIT"
    RSI_DIP_ENTRY = "RSI_DIP_ENTRY"
    BEAR_BLOCK = "BEAR_BLOCK"
    CHOP_BLOCK = "CHOP_BLOCK"
    REGIME_UNKNOWN = "REGIME_UNKNOWN"
    NO_SLOT = "NO_SLOT"
    RSI_NOT_LOW = "RSI_NOT_LOW"
    RSI_UNKNOWN = "RSI_UNKNOWN"
    HOLDING = "HOLDING"
    QTY_ZERO = "QTY_ZERO"


class RegimeState(Contract):
    regime: Regime
    candidate: Regime
    close: float | None = None
    sma_long: float | None = None
    sma_short: float | None = None
    golden: bool | None = None
    adx: float | None = None
    chop: bool | None = Field(default=None, description="None when ADX is not yet defined")
    bear_days: int = Field(default=0, ge=0, description="consecutive BEAR sessions up to as-of")


class TickerSignal(Contract):
    ticker: Ticker
    name: str
    close: float | None
    rsi: float | None
    held_qty: int = Field(default=0, ge=0)
    entry_price: float | None = None
    stop_price: float | None = None
    action: SignalAction
    reason: ReasonCode | None = None
    score: float | None = None
    rank: int | None = Field(default=None, description="1-based entry rank among candidates")
    qty: int = Field(default=0, ge=0, description="planned shares (sell: whole position)")


class Signals(Contract):
    asof: date
    benchmark: Ticker
    regime: RegimeState
    tickers: list[TickerSignal]
    entry_block: ReasonCode | None = Field(
        default=None, description="why no entries are allowed today, if any"
    )
