"""Crisis Alpha v1 decision rules: the one implementation shared by the daily cycle and backtest.

Everything here is plain Python over floats, ints and numpy arrays so that the backtester can
compile the very same functions with numba (`strategy.backtest`) while the daily cycle calls
them uncompiled. Parameters travel as a float64 vector indexed by the `P_*` constants.
Reason, regime and guardrail codes are small ints here (the compiled kernels need ints); the
`*_NAMES` maps give each its name, the value of its `contracts.signals` enum (the names are
declared there only).
"""

from __future__ import annotations

import math
from typing import TypeAlias

import numpy as np

from contracts.signals import ReasonCode, Regime

Series: TypeAlias = "np.ndarray | list[float]"
IntSeries: TypeAlias = "np.ndarray | list[int]"

# Regime codes.
REGIME_UNKNOWN = 0
REGIME_BULL = 1
REGIME_BEAR = 2

# Chop state: ADX undefined, ADX >= threshold, ADX < threshold.
CHOP_UNKNOWN = -1
CHOP_NO = 0
CHOP_YES = 1

# Exit reasons (first match wins, in this order).
EXIT_NONE = 0
EXIT_BEAR = 1
EXIT_STOP_LOSS = 2
EXIT_RSI_TAKE_PROFIT = 3
EXIT_CHOP = 4

# Why no entries are allowed at all today.
BLOCK_NONE = 0
BLOCK_REGIME_UNKNOWN = 1
BLOCK_BEAR = 2
BLOCK_CHOP = 3

# Buy guardrails (sells are never blocked).
GUARD_OK = 0
GUARD_MAX_ORDERS = 1
GUARD_MAX_SINGLE_ORDER = 2
GUARD_MAX_BUY_TURNOVER = 3

EXIT_NAMES = {
    EXIT_BEAR: ReasonCode.BEAR_EXIT.value,
    EXIT_STOP_LOSS: ReasonCode.STOP_LOSS.value,
    EXIT_RSI_TAKE_PROFIT: ReasonCode.RSI_TAKE_PROFIT.value,
    EXIT_CHOP: ReasonCode.CHOP_EXIT.value,
}
# The one entry rule's reason.
ENTRY_NAME = ReasonCode.RSI_DIP_ENTRY.value
BLOCK_NAMES = {
    BLOCK_REGIME_UNKNOWN: ReasonCode.REGIME_UNKNOWN.value,
    BLOCK_BEAR: ReasonCode.BEAR_BLOCK.value,
    BLOCK_CHOP: ReasonCode.CHOP_BLOCK.value,
}
GUARD_NAMES = {
    GUARD_MAX_ORDERS: "GUARDRAIL_MAX_ORDERS",
    GUARD_MAX_SINGLE_ORDER: "GUARDRAIL_MAX_SINGLE_ORDER",
    GUARD_MAX_BUY_TURNOVER: "GUARDRAIL_MAX_BUY_TURNOVER",
}
REGIME_NAMES = {
    REGIME_UNKNOWN: Regime.UNKNOWN.value,
    REGIME_BULL: Regime.BULL.value,
    REGIME_BEAR: Regime.BEAR.value,
}

# Parameter vector layout.
P_GOLDEN_OVERRIDE = 0
P_MIN_HOLD_DAYS = 1
P_ADX_THRESHOLD = 2
P_CHOP_EXIT_ALL = 3
P_RSI_BUY = 4
P_RSI_SELL = 5
P_STOP_LOSS = 6
P_MAX_POSITIONS = 7
P_MIN_CASH = 8
P_COMMISSION = 9
P_SLIPPAGE = 10
P_MAX_ORDERS = 11
P_MAX_SINGLE = 12
P_MAX_TURNOVER = 13
N_PARAMS = 14

# Stock sell tax by the year of the sell fill; ETFs pay none.
_TAX_FROM_2025 = 0.0015


def sell_tax_rate(year: int, is_stock: bool) -> float:
    """Securities transaction tax on a sell filled in `year` (0 for ETFs; buys are never taxed)."""
    if not is_stock:
        return 0.0
    if year <= 2022:
        return 0.0023
    if year == 2023:
        return 0.0020
    if year == 2024:
        return 0.0018
    return _TAX_FROM_2025


def regime_step(
    prev_regime: int,
    prev_bear_days: int,
    close: float,
    sma_long: float,
    sma_short: float,
    golden_override: bool,
    min_hold_days: int,
) -> tuple[int, int]:
    """One step of the regime machine: (regime at T, consecutive BEAR sessions up to T).

    BULL→BEAR is immediate; BEAR→BULL needs a BULL candidate and either a golden cross (with
    the override on) or `min_hold_days` BEAR sessions before T.
    """
    if math.isnan(close) or math.isnan(sma_long) or math.isnan(sma_short):
        return REGIME_UNKNOWN, 0
    golden = sma_short > sma_long
    golden_ok = golden and golden_override
    candidate = REGIME_BULL if (close >= sma_long or golden_ok) else REGIME_BEAR
    if prev_regime == REGIME_BEAR and candidate == REGIME_BULL:
        regime = REGIME_BULL if (golden_ok or prev_bear_days >= min_hold_days) else REGIME_BEAR
    else:
        regime = candidate
    bear_days = prev_bear_days + 1 if regime == REGIME_BEAR else 0
    return regime, bear_days


def regime_series(
    close: Series,
    sma_long: Series,
    sma_short: Series,
    golden_override: bool,
    min_hold_days: int,
    regime_out: IntSeries,
    bear_days_out: IntSeries,
) -> None:
    """Run the regime machine over a whole benchmark history (warm-up included).

    Takes numpy arrays (compiled, in the backtester) or plain lists (uncompiled, faster there).
    """
    regime = REGIME_UNKNOWN
    bear_days = 0
    for t in range(len(close)):
        regime, bear_days = regime_step(
            regime, bear_days, close[t], sma_long[t], sma_short[t], golden_override, min_hold_days
        )
        regime_out[t] = regime
        bear_days_out[t] = bear_days


def chop_state(adx: float, threshold: float) -> int:
    if math.isnan(adx):
        return CHOP_UNKNOWN
    return CHOP_YES if adx < threshold else CHOP_NO


def exit_reason(
    regime: int, chop: int, close: float, entry_price: float, rsi: float, p: np.ndarray
) -> int:
    """Why a held position is sold at the close of T (EXIT_NONE to keep it)."""
    if regime == REGIME_BEAR:
        return EXIT_BEAR
    # Compared exactly, as documented: close <= entry × (1 − stop).
    if close <= entry_price * (1.0 - p[P_STOP_LOSS]):
        return EXIT_STOP_LOSS
    if not math.isnan(rsi) and rsi > p[P_RSI_SELL]:
        return EXIT_RSI_TAKE_PROFIT
    if chop == CHOP_YES and p[P_CHOP_EXIT_ALL] > 0.5:
        return EXIT_CHOP
    return EXIT_NONE


def entry_block(regime: int, chop: int) -> int:
    if regime == REGIME_UNKNOWN:
        return BLOCK_REGIME_UNKNOWN
    if regime == REGIME_BEAR:
        return BLOCK_BEAR
    if chop != CHOP_NO:
        return BLOCK_CHOP
    return BLOCK_NONE


def cash_reserve(equity: float, p: np.ndarray) -> float:
    """Cash a decision keeps back from the next open's buys: `min_cash_pct` of its equity."""
    return p[P_MIN_CASH] * equity


def flat_book_block(regime: int, adx: float, p: np.ndarray) -> int:
    """`decide_session`'s entry block for a book that holds nothing. When it is not
    BLOCK_NONE, `decide_session` of that book exits nothing, ranks nothing, sizes nothing and
    returns (block, GUARD_OK, cash, cash_reserve(cash, p)), so a caller may skip the call."""
    return entry_block(regime, chop_state(adx, p[P_ADX_THRESHOLD]))


def decide_session(
    regime: int,
    adx: float,
    close: np.ndarray,
    rsi: np.ndarray,
    held_qty: np.ndarray,
    entry_price: np.ndarray,
    cash: float,
    p: np.ndarray,
    exit_out: np.ndarray,
    rank_out: np.ndarray,
    buy_qty_out: np.ndarray,
) -> tuple[int, int, float, float]:
    """Decide session T for the universe (arrays in universe order).

    Writes per ticker: `exit_out` (EXIT_* for held tickers), `rank_out` (1-based entry rank of
    a candidate that got a slot or was sized to 0 shares; 0 otherwise) and `buy_qty_out`
    (shares to buy, sized as floor(equity / max_positions / close)). Returns
    (entry block code, guardrail code, equity_T, reserve). A guardrail code other than
    GUARD_OK means the buys must not be executed (sells still are).
    """
    n = close.shape[0]
    chop = chop_state(adx, p[P_ADX_THRESHOLD])
    equity = cash
    kept = 0
    n_exits = 0
    for i in range(n):
        exit_out[i] = EXIT_NONE
        rank_out[i] = 0
        buy_qty_out[i] = 0
        if held_qty[i] > 0:
            equity += held_qty[i] * close[i]
            reason = exit_reason(regime, chop, close[i], entry_price[i], rsi[i], p)
            exit_out[i] = reason
            if reason == EXIT_NONE:
                kept += 1
            else:
                n_exits += 1
    reserve = cash_reserve(equity, p)
    block = entry_block(regime, chop)
    if block != BLOCK_NONE:
        return block, GUARD_OK, equity, reserve

    max_positions = int(p[P_MAX_POSITIONS])
    slots = max_positions - kept
    threshold = p[P_RSI_BUY]
    rank = 0
    n_buys = 0
    buy_total = 0.0
    max_single = 0.0
    while slots > 0:
        # Highest score = lowest RSI among remaining candidates; ties go to universe order.
        best = -1
        best_score = -1.0
        for i in range(n):
            if held_qty[i] > 0 or rank_out[i] != 0 or math.isnan(rsi[i]) or rsi[i] >= threshold:
                continue
            score = threshold - rsi[i]
            if best < 0 or score > best_score:
                best = i
                best_score = score
        if best < 0:
            break
        rank += 1
        rank_out[best] = rank
        qty = math.floor(equity / max_positions / close[best])
        if qty >= 1:
            buy_qty_out[best] = qty
            slots -= 1
            n_buys += 1
            notional = qty * close[best]
            buy_total += notional
            if notional > max_single:
                max_single = notional

    guard = GUARD_OK
    if n_buys > 0:
        if n_exits + n_buys > p[P_MAX_ORDERS]:
            guard = GUARD_MAX_ORDERS
        elif max_single > p[P_MAX_SINGLE] * equity:
            guard = GUARD_MAX_SINGLE_ORDER
        elif buy_total > p[P_MAX_TURNOVER] * equity:
            guard = GUARD_MAX_BUY_TURNOVER
    return block, guard, equity, reserve


def buys_held_back(guard: int) -> bool:
    """The guardrail rule (SPEC §3): a violated guardrail holds back the session's buys and never
    its sells. The backtest kernel and the live planner both ask this one function."""
    return guard != GUARD_OK


def buy_qty_at_fill(
    cash: float, reserve: float, fill_price: float, commission: float, qty: int
) -> int:
    """Shares a sized buy can really take at `fill_price`: cut to what cash above the reserve
    pays for, commission included; 0 means skip (no replacement candidate)."""
    affordable = math.floor((cash - reserve) / (fill_price * (1.0 + commission)))
    if affordable <= 0:
        return 0
    return qty if qty <= affordable else affordable


# Sides of `fill_terms` (a fill's sign on the position).
SIDE_BUY = 1
SIDE_SELL = -1


def fill_terms(
    side: int, ref_price: float, qty: int, slippage: float, commission: float, tax_year: int,
    is_stock: bool, cut: bool, cash: float, reserve: float,
) -> tuple[int, float, float, float, float, float]:
    """The one fee and fill rule: (qty, price, notional, commission, tax, cash after).

    Price = `ref_price` × (1 + slippage) for a buy, × (1 − slippage) for a sell (0 slippage
    for a price the broker reported). A buy with `cut` takes `buy_qty_at_fill` of `qty` (cash
    above `reserve` at that price, commission included; 0 = skip). Commission = notional ×
    `commission`; a sell pays the stock sell tax of `tax_year`. Cash after: sell `cash +
    (notional − commission − tax)`, buy `cash − (notional + commission)`. Called by the compiled
    backtest kernel, the planner, ticket drafting and OCI's fill application.
    """
    if side == SIDE_SELL:
        price = ref_price * (1.0 - slippage)
        notional = qty * price
        comm = notional * commission
        tax = notional * sell_tax_rate(tax_year, is_stock)
        return qty, price, notional, comm, tax, cash + (notional - comm - tax)
    price = ref_price * (1.0 + slippage)
    q = buy_qty_at_fill(cash, reserve, price, commission, qty) if cut else qty
    notional = q * price
    comm = notional * commission
    return q, price, notional, comm, 0.0, cash - (notional + comm)


def score_of(rsi: float, p: np.ndarray) -> float:
    return p[P_RSI_BUY] - rsi
