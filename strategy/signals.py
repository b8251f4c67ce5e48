"""Bars + portfolio + settings → the decisions for one as-of session (`Signals`).

Indicators and the regime machine run over the whole history up to the as-of session, so the
state at T reflects the warm-up; nothing after T is read (bars are cut at T first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from contracts.instruments import instrument
from contracts.portfolio import Portfolio
from contracts.settings import Settings
from contracts.signals import (
    ReasonCode,
    Regime,
    RegimeState,
    SignalAction,
    Signals,
    TickerSignal,
)
from strategy import indicators, rules
from strategy.params import param_vector

# pandas loads on first use, in the functions that need it: the OCI server imports this module
# at start and does not need pandas until a cycle runs (~0.6 s of CPU per server start).
if TYPE_CHECKING:
    import pandas as pd


class SignalInputError(ValueError):
    """The bars cannot support a decision for the requested session (names ticker and date)."""


@dataclass(frozen=True)
class SessionDecision:
    """Raw outputs of `rules.decide_session` for one session, in `tickers` order."""

    asof: date
    tickers: list[str]
    close: np.ndarray
    rsi: np.ndarray
    held_qty: np.ndarray
    entry_price: np.ndarray
    exit_code: np.ndarray
    rank: np.ndarray
    buy_qty: np.ndarray
    regime: int
    bear_days: int
    bench_close: float
    sma_long: float
    sma_short: float
    adx: float
    block: int
    guard: int
    equity: float
    reserve: float
    cash: float


def decision_tickers(settings: Settings, portfolio: Portfolio) -> list[str]:
    """Universe order first, then held tickers outside the universe (exit rules still apply)."""
    out = list(settings.universe)
    out += [h.ticker for h in portfolio.holdings if h.ticker not in out]
    return out


def required_tickers(settings: Settings, portfolio: Portfolio) -> list[str]:
    tickers = decision_tickers(settings, portfolio)
    if settings.benchmark not in tickers:
        tickers.append(settings.benchmark)
    return tickers


def _cut(df: pd.DataFrame, ticker: str, asof: date) -> pd.DataFrame:
    """Bars up to and including `asof`; the last one must be `asof` itself."""
    import pandas as pd

    end = int(df.index.searchsorted(pd.Timestamp(asof), side="right"))
    cut = df.iloc[:end]
    if end == 0 or cut.index[-1].date() != asof:
        last = cut.index[-1].date() if end else None
        raise SignalInputError(f"{ticker}: no bar for session {asof} (last bar: {last})")
    return cut


def _value(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def decide(
    bars: dict[str, pd.DataFrame], asof: date, portfolio: Portfolio, settings: Settings
) -> SessionDecision:
    """Run the Crisis Alpha rules for session `asof` on bars cut at `asof`."""
    sp = settings.strategy
    bench = _cut(bars[settings.benchmark], settings.benchmark, asof)
    b_close = bench["close"].to_numpy(np.float64)
    sma_long = indicators.sma(b_close, sp.regime_ma_long)
    sma_short = indicators.sma(b_close, sp.ma_short_period)
    adx = indicators.adx(
        bench["high"].to_numpy(np.float64), bench["low"].to_numpy(np.float64), b_close,
        sp.adx_period,
    )
    n_b = b_close.shape[0]
    # Plain lists: the uncompiled rules index them far faster than numpy arrays.
    regime_arr = [0] * n_b
    bear_arr = [0] * n_b
    rules.regime_series(
        b_close.tolist(), sma_long.tolist(), sma_short.tolist(), sp.golden_cross_override,
        sp.min_regime_hold_days, regime_arr, bear_arr,
    )

    tickers = decision_tickers(settings, portfolio)
    n = len(tickers)
    close = np.empty(n)
    rsi = np.empty(n)
    held = np.zeros(n, dtype=np.int64)
    entry = np.zeros(n)
    for i, t in enumerate(tickers):
        if t not in bars:
            raise SignalInputError(f"{t}: no bars loaded")
        c = _cut(bars[t], t, asof)["close"].to_numpy(np.float64)
        close[i] = c[-1]
        rsi[i] = indicators.rsi(c, sp.rsi_period)[-1]
        h = portfolio.holding(t)
        if h is not None:
            held[i] = h.qty
            entry[i] = h.avg_price
    exit_code = np.zeros(n, dtype=np.int64)
    rank = np.zeros(n, dtype=np.int64)
    buy_qty = np.zeros(n, dtype=np.int64)
    p = param_vector(sp, settings.guardrails)
    block, guard, equity, reserve = rules.decide_session(
        int(regime_arr[-1]), float(adx[-1]), close, rsi, held, entry, portfolio.cash, p,
        exit_code, rank, buy_qty,
    )
    return SessionDecision(
        asof=asof, tickers=tickers, close=close, rsi=rsi, held_qty=held, entry_price=entry,
        exit_code=exit_code, rank=rank, buy_qty=buy_qty, regime=int(regime_arr[-1]),
        bear_days=int(bear_arr[-1]), bench_close=float(b_close[-1]),
        sma_long=float(sma_long[-1]), sma_short=float(sma_short[-1]), adx=float(adx[-1]),
        block=block, guard=guard,
        equity=equity, reserve=reserve, cash=portfolio.cash,
    )


def to_signals(d: SessionDecision, settings: Settings) -> Signals:
    """The `Signals` contract for a decision (regime block + one row per ticker)."""
    sp = settings.strategy
    sl, ss, close_b = d.sma_long, d.sma_short, d.bench_close
    known = not (math.isnan(sl) or math.isnan(ss))
    golden = bool(ss > sl) if known else None
    if known:
        cand = Regime.BULL if (close_b >= sl or (golden and sp.golden_cross_override)) \
            else Regime.BEAR
    else:
        cand = Regime.UNKNOWN
    chop = rules.chop_state(d.adx, sp.adx_threshold)
    regime = RegimeState(
        regime=Regime(rules.REGIME_NAMES[d.regime]), candidate=cand, close=close_b,
        sma_long=_value(sl), sma_short=_value(ss), golden=golden, adx=_value(d.adx),
        chop=None if chop == rules.CHOP_UNKNOWN else chop == rules.CHOP_YES,
        bear_days=d.bear_days,
    )
    block = ReasonCode(rules.BLOCK_NAMES[d.block]) if d.block else None
    rows = []
    for i, t in enumerate(d.tickers):
        rsi_v = _value(d.rsi[i])
        held = int(d.held_qty[i])
        score = sp.rsi_buy_threshold - d.rsi[i] if rsi_v is not None else None
        action, reason, qty = SignalAction.NONE, None, 0
        if held > 0:
            code = int(d.exit_code[i])
            if code:
                action, reason, qty = SignalAction.SELL, ReasonCode(rules.EXIT_NAMES[code]), held
            else:
                action, reason = SignalAction.HOLD, ReasonCode.HOLDING
        elif block is not None:
            reason = block
        elif d.buy_qty[i] > 0:
            action, reason, qty = SignalAction.BUY, ReasonCode.RSI_DIP_ENTRY, int(d.buy_qty[i])
        elif d.rank[i] > 0:
            reason = ReasonCode.QTY_ZERO
        elif rsi_v is None:
            reason = ReasonCode.RSI_UNKNOWN
        elif rsi_v >= sp.rsi_buy_threshold:
            reason = ReasonCode.RSI_NOT_LOW
        else:
            reason = ReasonCode.NO_SLOT
        entry = float(d.entry_price[i]) if held else None
        rows.append(TickerSignal(
            ticker=t, name=instrument(t).name_ko, close=_value(d.close[i]), rsi=rsi_v,
            held_qty=held, entry_price=entry,
            stop_price=entry * (1 - sp.stop_loss_pct) if entry else None,
            action=action, reason=reason,
            score=float(score) if score is not None else None,
            rank=int(d.rank[i]) or None, qty=qty,
        ))
    return Signals(
        asof=d.asof, benchmark=settings.benchmark, regime=regime, tickers=rows, entry_block=block
    )
