"""Plain-text rendering of a cycle's summary and plan: the morning output of `krx daily`.

The same text is what the cockpit shows. Every order line can be typed into the broker's HTS
as printed (trade date = the session after as-of, side in Korean and English, name, code, qty,
지정가 and a limit on a valid KRX tick, via `strategy.ticketing`); held positions show entry,
last close, unrealised P&L and the stop; every skip or exit reason carries its numbers; the
regime line explains the state machine. Colour (gains red, losses blue: the Korean
convention) only when asked for. The text keeps to characters the Korean Windows code page
(cp949) has, so it prints there too.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import date

from contracts.plan import OrderPlan, PlannedOrder, Side
from contracts.portfolio import Portfolio
from contracts.settings import Settings, StrategyParams
from contracts.signals import ReasonCode, Regime, RegimeState, Signals, TickerSignal
from contracts.summary import OpsSummary
from strategy import calendar
from strategy.ticketing import OrderTerms, order_terms, plan_limit, round_limit

_RED, _BLUE, _BOLD, _RESET = "\x1b[31m", "\x1b[34m", "\x1b[1m", "\x1b[0m"
_SIDE_EN_KO = {Side.BUY: "BUY  매수", Side.SELL: "SELL 매도"}


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    """Left-align to a terminal width, counting Korean (wide) characters as two columns."""
    out, used = "", 0
    for ch in text:
        w = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        if used + w > width - 1:
            break
        out, used = out + ch, used + w
    return out + " " * (width - used)


def _num(x: float | None, fmt: str = "{:,.1f}") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def _won(x: float | None) -> str:
    return _num(x, "{:,.0f}")


def _pct(x: float | None, signed: bool = True) -> str:
    return _num(None if x is None else x * 100, "{:+.2f} %" if signed else "{:.2f} %")


class _Paint:
    """ANSI colour when on; the same text without escapes when off."""

    def __init__(self, on: bool) -> None:
        self.on = on

    def _wrap(self, text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if self.on else text

    def signed(self, text: str, value: float | None) -> str:
        """Gains red, losses blue (Korean convention); zero and unknown plain."""
        if value is None or value == 0 or (isinstance(value, float) and math.isnan(value)):
            return text
        return self._wrap(text, _RED if value > 0 else _BLUE)

    def side(self, text: str, side: Side) -> str:
        return self._wrap(text, _RED if side is Side.BUY else _BLUE)

    def bold(self, text: str) -> str:
        return self._wrap(text, _BOLD)


def trade_date(asof: date, settings: Settings | None) -> date:
    """The session the plan's orders are placed on: the session after as-of (XKRX with the
    settings' closures)."""
    cal = calendar.for_settings(settings) if settings is not None else calendar.XKRX
    return cal.next_session(asof)


def order_limit(order: PlannedOrder, settings: Settings | None) -> int:
    """The order's limit on a valid KRX tick (the ticket draft's rule)."""
    if settings is not None:
        return plan_limit(order, settings.strategy.slippage)
    return round_limit(order.est_price, order.kind, order.side)  # est = ref ± slippage


def order_line(order: PlannedOrder, asof: date, settings: Settings | None) -> str:
    """`2025-12-30 BUY  매수  [매수] KODEX 200 (069500) 12주 지정가 60,750원 = 729,000원
    (수수료·세금 약 109원)`: the one HTS line (`strategy.ticketing.hts_line`)."""
    if settings is not None:
        terms = order_terms(order, asof, settings)
    else:  # without settings: the plan's own fee estimate at its limit rule
        terms = OrderTerms(order.side, order.ticker, order.name, order.qty,
                           order_limit(order, None), order.est_commission, order.est_tax)
    return f"{trade_date(asof, settings):%Y-%m-%d} {_SIDE_EN_KO[order.side]}  {terms.line()}"


# --- regime -----------------------------------------------------------------------------------


def regime_explanation(r: RegimeState, sp: StrategyParams | None) -> str:
    """Why the regime is what it is, in the state machine's terms (STRATEGY.md, Regime)."""
    long_n = f"SMA{sp.regime_ma_long}" if sp else "SMA long"
    short_n = f"SMA{sp.ma_short_period}" if sp else "SMA short"
    override = sp.golden_cross_override if sp else True
    hold = sp.min_regime_hold_days if sp else None
    if r.regime is Regime.UNKNOWN or r.close is None or r.sma_long is None:
        return f"UNKNOWN: {long_n} or {short_n} not yet defined (warm-up); no entries"
    above = r.close >= r.sma_long
    gap = r.close / r.sma_long - 1.0 if r.sma_long else float("nan")
    cmp = f"close {_won(r.close)} {'>=' if above else '<'} {long_n} {_num(r.sma_long)} " \
          f"({_pct(gap)})"
    golden = bool(r.golden)
    cross = (f"{short_n} {_num(r.sma_short)} {'>' if golden else '<='} {long_n} "
             f"{_num(r.sma_long)}: golden cross {'on' if golden else 'off'}")
    if r.regime is Regime.BULL:
        if above:
            return (f"BULL: {cmp}; turns BEAR the first session close < {long_n} "
                    f"without a golden cross")
        return (f"BULL held by the golden-cross override: {cmp}, but {cross}; turns BEAR "
                f"as soon as {short_n} <= {long_n} while close stays below")
    # BEAR
    days = f"BEAR for {r.bear_days} session(s)"
    if r.candidate is Regime.BULL:
        why = "close >= " + long_n if above else "golden cross"
        if hold is not None:
            more = max(1, hold - r.bear_days + 1)
            return (f"{days}: candidate BULL ({why}) but no golden-cross override; BEAR holds "
                    f"{hold} sessions after entering it: BULL after {more} more session(s) "
                    f"if the candidate stays BULL ({cmp})")
        return f"{days}: candidate BULL ({why}); waiting out the minimum BEAR hold ({cmp})"
    need = f"close >= {long_n}" + (f" or {short_n} > {long_n}" if override else "")
    return f"{days}: {cmp}; {cross}; BULL needs {need}"


def _regime_block(sig: Signals, sp: StrategyParams | None, paint: _Paint) -> list[str]:
    r = sig.regime
    long_n = f"SMA{sp.regime_ma_long}" if sp else "SMA long"
    short_n = f"SMA{sp.ma_short_period}" if sp else "SMA short"
    thr = sp.adx_threshold if sp else None
    if r.chop is None:
        chop = f"ADX {_num(r.adx, '{:.1f}')}: not yet defined, chop unknown (no entries)"
    elif r.chop:
        chop = f"ADX {_num(r.adx, '{:.1f}')} < {_num(thr, '{:g}')} (chop)"
    else:
        chop = f"ADX {_num(r.adx, '{:.1f}')} >= {_num(thr, '{:g}')} (trending)"
    return [
        paint.bold(f"regime {r.regime.value}") + f" (candidate {r.candidate.value}) . "
        f"{sig.benchmark} close {_won(r.close)} . {long_n} {_num(r.sma_long)} . "
        f"{short_n} {_num(r.sma_short)} . {chop}",
        "  " + regime_explanation(r, sp),
    ]


# --- reasons ----------------------------------------------------------------------------------


def reason_text(
    t: TickerSignal, sig: Signals, sp: StrategyParams | None, held: int | None = None
) -> str:
    """The signal's reason with the numbers that made it (thresholds from the settings)."""
    r = sig.regime
    rsi = _num(t.rsi, "{:.1f}")
    buy = _num(sp.rsi_buy_threshold if sp else None, "{:g}")
    sell = _num(sp.rsi_sell_threshold if sp else None, "{:g}")
    adx = _num(r.adx, "{:.1f}")
    thr = _num(sp.adx_threshold if sp else None, "{:g}")
    code = t.reason
    if code is None:
        return ""
    if code is ReasonCode.RSI_NOT_LOW:
        return f"RSI {rsi} >= buy threshold {buy}: no dip"
    if code is ReasonCode.RSI_DIP_ENTRY:
        score = _num(t.score, "{:.1f}")
        rank = f", rank {t.rank}" if t.rank else ""
        return f"RSI {rsi} < buy threshold {buy}: dip entry (score {score}{rank})"
    if code is ReasonCode.RSI_UNKNOWN:
        n = f" (needs {sp.rsi_period + 1} bars)" if sp else ""
        return f"RSI not yet defined{n}: no entry, no take profit"
    if code is ReasonCode.CHOP_BLOCK:
        if r.chop is None:
            return f"ADX not yet defined: chop unknown, entries blocked (RSI {rsi})"
        return f"ADX {adx} < {thr} (chop): entries blocked (RSI {rsi})"
    if code is ReasonCode.CHOP_EXIT:
        return f"ADX {adx} < {thr} (chop) with chop_action exit_all: sell all"
    if code is ReasonCode.BEAR_BLOCK:
        return f"regime BEAR ({r.bear_days} session(s)): entries blocked (RSI {rsi})"
    if code is ReasonCode.BEAR_EXIT:
        return f"regime BEAR: close {_won(r.close)} < SMA {_num(r.sma_long)}: sell all"
    if code is ReasonCode.REGIME_UNKNOWN:
        return "regime UNKNOWN (SMAs not yet defined): entries blocked"
    if code is ReasonCode.NO_SLOT:
        slots = f"{held} of {sp.max_positions} positions held" if sp and held is not None \
            else "every slot taken"
        return f"RSI {rsi} < buy threshold {buy}, but no free slot ({slots})"
    if code is ReasonCode.QTY_ZERO:
        return f"RSI {rsi} < buy threshold {buy}, but 1 share at {_won(t.close)} exceeds the " \
               "slot budget (equity / max positions): qty 0"
    if code is ReasonCode.STOP_LOSS:
        pct = _num(sp.stop_loss_pct * 100 if sp else None, "{:g}")
        return (f"close {_won(t.close)} <= stop {_won(t.stop_price)} "
                f"(entry {_won(t.entry_price)} x (1 - {pct} %)): stop loss")
    if code is ReasonCode.RSI_TAKE_PROFIT:
        return f"RSI {rsi} > sell threshold {sell}: take profit"
    if code is ReasonCode.HOLDING:
        return (f"held: RSI {rsi} <= sell {sell}, close {_won(t.close)} > stop "
                f"{_won(t.stop_price)}")
    return code.value


# --- sections ---------------------------------------------------------------------------------


def _held_block(
    sig: Signals | None, portfolio: Portfolio | None, sp: StrategyParams | None, paint: _Paint
) -> list[str]:
    rows = {t.ticker: t for t in sig.tickers} if sig else {}
    held: list[tuple[str, str, int, str, float | None, float | None, float | None]] = []
    if portfolio is not None:
        for h in portfolio.holdings:
            t = rows.get(h.ticker)
            stop = t.stop_price if t and t.stop_price else (
                h.avg_price * (1 - sp.stop_loss_pct) if sp else None)
            held.append((h.ticker, t.name if t else "", h.qty,
                         str(h.entry_date)[:10] if h.entry_date else "-",
                         h.avg_price, t.close if t else None, stop))
    else:
        for t in rows.values():
            if t.held_qty:
                held.append((t.ticker, t.name, t.held_qty, "-", t.entry_price, t.close,
                             t.stop_price))
    if not held:
        return ["held positions: none"]
    lines = [
        "held positions:",
        f"  {'code':<7}{'name':<22}{'qty':>6}  {'entry date':<11}{'entry':>10}{'close':>10}"
        f"{'P&L KRW':>13}{'P&L %':>10}{'stop':>10}{'to stop':>10}",
    ]
    total = 0.0
    for code, name, qty, entry_date, entry, close, stop in held:
        pnl = (close - entry) * qty if close is not None and entry else None
        pnl_pct = close / entry - 1.0 if close is not None and entry else None
        dist = close / stop - 1.0 if close is not None and stop else None
        total += pnl or 0.0
        lines.append(
            f"  {code:<7}{_pad(name, 22)}{qty:>6,}  {entry_date:<11}{_won(entry):>10}"
            f"{_won(close):>10}" + paint.signed(f"{_num(pnl, '{:+,.0f}'):>13}", pnl)
            + paint.signed(f"{_pct(pnl_pct):>10}", pnl_pct)
            + f"{_won(stop):>10}{_pct(dist):>10}"
        )
    lines.append("  unrealised P&L " + paint.signed(f"{total:+,.0f} KRW", total)
                 + " (close vs entry; 'to stop' = how far the close sits above the stop)")
    return lines


def block_numbers(reason: str, sig: Signals | None, sp: StrategyParams | None) -> str:
    """The numbers behind a plan-level entry block ("no entries: CHOP_BLOCK")."""
    if sig is None:
        return ""
    r = sig.regime
    if reason.endswith("CHOP_BLOCK"):
        if r.adx is None:
            return " (ADX not yet defined: chop unknown)"
        thr = _num(sp.adx_threshold if sp else None, "{:g}")
        return f" (ADX {r.adx:.1f} < {thr})"
    if reason.endswith("BEAR_BLOCK"):
        return f" (regime BEAR for {r.bear_days} session(s))"
    if reason.endswith("REGIME_UNKNOWN"):
        return " (SMAs not yet defined)"
    return ""


def _orders_block(
    plan: OrderPlan, settings: Settings | None, paint: _Paint, sig: Signals | None = None
) -> list[str]:
    lines = [
        paint.bold(f"plan {plan.plan_id}: {plan.decision.value}")
        + f" . equity {plan.equity:,.0f} . cash {plan.cash:,.0f}"
        f" . est. cash after {plan.est_cash_after:,.0f}"
    ]
    if plan.orders:
        td = trade_date(plan.asof, settings)
        lines.append(f"orders to type into the HTS on {td:%Y-%m-%d (%a)} "
                     f"(the session after {plan.asof}); sells first:")
        ordered = sorted(plan.orders, key=lambda o: (o.side is not Side.SELL, o.rank or 0))
        for i, o in enumerate(ordered, 1):
            lines.append(f"  {i}. " + paint.side(order_line(o, plan.asof, settings), o.side)
                         + f"  [{o.reason.value}]")
    sp = settings.strategy if settings is not None else None
    for reason in plan.reasons:
        lines.append(f"  . {reason}{block_numbers(reason, sig, sp)}")
    return lines


def render_cycle(
    summary: OpsSummary,
    plan: OrderPlan | None,
    *,
    portfolio: Portfolio | None = None,
    settings: Settings | None = None,
    color: bool = False,
) -> str:
    """The morning report: status, regime and why, orders as HTS lines, held positions,
    per-ticker signals with their reasons and numbers, risks.

    `portfolio` adds entry dates to the held positions; `settings` adds the thresholds to the
    reasons and the exact limit rule (without them, what the summary carries is shown).
    """
    paint = _Paint(color)
    sp = settings.strategy if settings is not None else None
    lines = [
        f"KRX Alertor daily cycle - run {summary.run_at:%Y-%m-%d %H:%M %Z}",
        f"status {summary.status.value} . stage {summary.stage.value} . "
        f"mode {summary.execution_mode.value} . as-of {summary.asof or '-'}",
        summary.message,
    ]
    if summary.freshness and summary.freshness.synthetic:
        lines.append("*** SYNTHETIC MARKET DATA (demo) - not real prices ***")
    sig = summary.signals
    if sig is not None:
        lines += ["", *_regime_block(sig, sp, paint)]
    if plan is not None:
        lines += ["", *_orders_block(plan, settings, paint, sig)]
    if sig is not None or portfolio is not None:
        lines += ["", *_held_block(sig, portfolio, sp, paint)]
    if sig is not None:
        n_held = sum(1 for t in sig.tickers if t.held_qty)
        lines += [
            "",
            f"{'ticker':<8}{'name':<26}{'close':>10}{'RSI':>7}{'held':>7}  {'action':<7}reason",
        ]
        for t in sig.tickers:
            lines.append(
                f"{t.ticker:<8}{_pad(t.name, 26)}{_won(t.close):>10}"
                f"{_num(t.rsi, '{:.1f}'):>7}{t.held_qty:>7}  {t.action.value:<7}"
                + reason_text(t, sig, sp, n_held)
                + (f" -> qty {t.qty}" if t.qty else "")
            )
    if summary.risks:
        lines.append("")
        lines += [f"[{r.severity.value}] {r.code}: {r.message}" for r in summary.risks]
    return "\n".join(lines)
