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
from krx_common import words
from krx_common.i18n import text
from strategy import calendar
from strategy.ticketing import OrderTerms, order_terms, plan_limit, round_limit

_RED, _BLUE, _BOLD, _RESET = "\x1b[31m", "\x1b[34m", "\x1b[1m", "\x1b[0m"
_SIDE_EN_KO = {Side.BUY: "BUY  매수", Side.SELL: "SELL 매도"}


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(label: str, width: int) -> str:
    """Left-align to a terminal width, counting Korean (wide) characters as two columns."""
    out, used = "", 0
    for ch in label:
        w = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        if used + w > width - 1:
            break
        out, used = out + ch, used + w
    return out + " " * (width - used)


def _rpad(label: str, width: int) -> str:
    """Right-align to a terminal width, counting Korean (wide) characters as two columns."""
    return " " * max(0, width - _width(label)) + label


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


def regime_explanation(r: RegimeState, sp: StrategyParams | None, lang: str = "en") -> str:
    """Why the regime is what it is, in the state machine's terms (STRATEGY.md, Regime)."""
    def w(key: str, **values: object) -> str:
        return text(f"am.{key}", lang, **values)

    long_n = f"SMA{sp.regime_ma_long}" if sp else w("sma_long")
    short_n = f"SMA{sp.ma_short_period}" if sp else w("sma_short")
    override = sp.golden_cross_override if sp else True
    hold = sp.min_regime_hold_days if sp else None
    if r.regime is Regime.UNKNOWN or r.close is None or r.sma_long is None:
        return w("unknown", long=long_n, short=short_n)
    above = r.close >= r.sma_long
    gap = r.close / r.sma_long - 1.0 if r.sma_long else float("nan")
    cmp = w("cmp", close=_won(r.close), op=">=" if above else "<", long=long_n,
            sma=_num(r.sma_long), gap=_pct(gap))
    golden = bool(r.golden)
    cross = w("cross", short=short_n, short_v=_num(r.sma_short), op=">" if golden else "<=",
              long=long_n, long_v=_num(r.sma_long), state=w("on" if golden else "off"))
    if r.regime is Regime.BULL:
        if above:
            return w("bull", cmp=cmp, long=long_n)
        return w("bull_golden", cmp=cmp, cross=cross, short=short_n, long=long_n)
    # BEAR
    days = w("bear_days", n=r.bear_days)
    if r.candidate is Regime.BULL:
        why = "close >= " + long_n if above else w("golden")
        if hold is not None:
            more = max(1, hold - r.bear_days + 1)
            return w("bear_hold", days=days, why=why, hold=hold, more=more, cmp=cmp)
        return w("bear_wait", days=days, why=why, cmp=cmp)
    need = f"close >= {long_n}" + (f" {w('or')} {short_n} > {long_n}" if override else "")
    return w("bear", days=days, cmp=cmp, cross=cross, need=need)


def _regime_block(sig: Signals, sp: StrategyParams | None, paint: _Paint,
                  lang: str = "en") -> list[str]:
    r = sig.regime
    long_n = f"SMA{sp.regime_ma_long}" if sp else text("am.sma_long", lang)
    short_n = f"SMA{sp.ma_short_period}" if sp else text("am.sma_short", lang)
    thr = sp.adx_threshold if sp else None
    adx = _num(r.adx, '{:.1f}')
    if r.chop is None:
        chop = text("am.adx_unknown", lang, adx=adx)
    elif r.chop:
        chop = text("am.adx_chop", lang, adx=adx, thr=_num(thr, '{:g}'))
    else:
        chop = text("am.adx_trend", lang, adx=adx, thr=_num(thr, '{:g}'))
    return [
        paint.bold(text("am.regime", lang, regime=r.regime.value))
        + text("am.regime_line", lang, candidate=r.candidate.value, bench=sig.benchmark,
               close=_won(r.close), long=long_n, long_v=_num(r.sma_long), short=short_n,
               short_v=_num(r.sma_short), chop=chop),
        "  " + regime_explanation(r, sp, lang),
    ]


# --- reasons ----------------------------------------------------------------------------------


def reason_text(
    t: TickerSignal, sig: Signals, sp: StrategyParams | None, held: int | None = None,
    lang: str = "en",
) -> str:
    """The signal's reason with the numbers that made it (thresholds from the settings)."""
    def w(key: str, **values: object) -> str:
        return text(f"am.why.{key}", lang, **values)

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
        return w("RSI_NOT_LOW", rsi=rsi, buy=buy)
    if code is ReasonCode.RSI_DIP_ENTRY:
        rank = w("rank", rank=t.rank) if t.rank else ""
        return w("RSI_DIP_ENTRY", rsi=rsi, buy=buy, score=_num(t.score, "{:.1f}"), rank=rank)
    if code is ReasonCode.RSI_UNKNOWN:
        n = w("needs", n=sp.rsi_period + 1) if sp else ""
        return w("RSI_UNKNOWN", needs=n)
    if code is ReasonCode.CHOP_BLOCK:
        if r.chop is None:
            return w("CHOP_BLOCK_unknown", rsi=rsi)
        return w("CHOP_BLOCK", adx=adx, thr=thr, rsi=rsi)
    if code is ReasonCode.CHOP_EXIT:
        return w("CHOP_EXIT", adx=adx, thr=thr)
    if code is ReasonCode.BEAR_BLOCK:
        return w("BEAR_BLOCK", days=r.bear_days, rsi=rsi)
    if code is ReasonCode.BEAR_EXIT:
        return w("BEAR_EXIT", close=_won(r.close), sma=_num(r.sma_long))
    if code is ReasonCode.REGIME_UNKNOWN:
        return w("REGIME_UNKNOWN")
    if code is ReasonCode.NO_SLOT:
        slots = w("slots", held=held, max=sp.max_positions) if sp and held is not None \
            else w("every_slot")
        return w("NO_SLOT", rsi=rsi, buy=buy, slots=slots)
    if code is ReasonCode.QTY_ZERO:
        return w("QTY_ZERO", rsi=rsi, buy=buy, close=_won(t.close))
    if code is ReasonCode.STOP_LOSS:
        pct = _num(sp.stop_loss_pct * 100 if sp else None, "{:g}")
        return w("STOP_LOSS", close=_won(t.close), stop=_won(t.stop_price),
                 entry=_won(t.entry_price), pct=pct)
    if code is ReasonCode.RSI_TAKE_PROFIT:
        return w("RSI_TAKE_PROFIT", rsi=rsi, sell=sell)
    if code is ReasonCode.HOLDING:
        return w("HOLDING", rsi=rsi, sell=sell, close=_won(t.close), stop=_won(t.stop_price))
    return code.value


# --- sections ---------------------------------------------------------------------------------


def _held_block(
    sig: Signals | None, portfolio: Portfolio | None, sp: StrategyParams | None, paint: _Paint,
    lang: str = "en",
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
        return [text("am.held_none", lang)]

    def col(key: str) -> str:
        return text(f"am.col.{key}", lang)

    lines = [
        text("am.held", lang),
        f"  {_pad(col('code'), 7)}{_pad(col('name'), 22)}{_rpad(col('qty'), 6)}  "
        f"{_pad(col('entry_date'), 11)}{_rpad(col('entry'), 10)}{_rpad(col('close'), 10)}"
        f"{_rpad(col('pnl_krw'), 13)}{_rpad(col('pnl_pct'), 10)}{_rpad(col('stop'), 10)}"
        f"{_rpad(col('to_stop'), 10)}",
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
    lines.append(text("am.unrealised", lang, total=paint.signed(f"{total:+,.0f}", total)))
    return lines


def block_numbers(reason: str, sig: Signals | None, sp: StrategyParams | None,
                  lang: str = "en") -> str:
    """The numbers behind a plan-level entry block ("no entries: CHOP_BLOCK")."""
    if sig is None:
        return ""
    r = sig.regime
    if reason.endswith("CHOP_BLOCK"):
        if r.adx is None:
            return text("am.block.adx_unknown", lang)
        thr = _num(sp.adx_threshold if sp else None, "{:g}")
        return f" (ADX {r.adx:.1f} < {thr})"
    if reason.endswith("BEAR_BLOCK"):
        return text("am.block.bear", lang, n=r.bear_days)
    if reason.endswith("REGIME_UNKNOWN"):
        return text("am.block.unknown", lang)
    return ""


def _plan_reason(reason: str, lang: str) -> str:
    """A plan reason as printed: the code as it stands in English; words, then the code, in
    Korean (never the English sentence)."""
    if lang == "en":
        return reason
    said, code = words.plan_reason_text(reason, lang)
    return f"{said} ({code})"


def _orders_block(
    plan: OrderPlan, settings: Settings | None, paint: _Paint, sig: Signals | None = None,
    lang: str = "en",
) -> list[str]:
    lines = [
        paint.bold(text("am.plan", lang, plan_id=plan.plan_id, decision=plan.decision.value))
        + text("am.plan_cash", lang, equity=_won(plan.equity), cash=_won(plan.cash),
               after=_won(plan.est_cash_after))
    ]
    if plan.orders:
        td = trade_date(plan.asof, settings)
        lines.append(text("am.orders_head", lang, day=f"{td:%Y-%m-%d (%a)}", asof=plan.asof))
        ordered = sorted(plan.orders, key=lambda o: (o.side is not Side.SELL, o.rank or 0))
        for i, o in enumerate(ordered, 1):
            lines.append(f"  {i}. " + paint.side(order_line(o, plan.asof, settings), o.side)
                         + f"  [{o.reason.value}]")
    sp = settings.strategy if settings is not None else None
    for reason in plan.reasons:
        lines.append(f"  . {_plan_reason(reason, lang)}{block_numbers(reason, sig, sp, lang)}")
    return lines


def _message(summary: OpsSummary, lang: str) -> str:
    """The cycle's one-line message: OCI's own in English, the stage's words in Korean."""
    if lang == "en":
        return summary.message
    stage = summary.stage.value
    return f"{text('stage.' + stage, lang)} ({stage}) - {text('next.' + stage, lang)}"


def render_cycle(
    summary: OpsSummary,
    plan: OrderPlan | None,
    *,
    portfolio: Portfolio | None = None,
    settings: Settings | None = None,
    color: bool = False,
    lang: str = "en",
) -> str:
    """The morning report: status, regime and why, orders as HTS lines, held positions,
    per-ticker signals with their reasons and numbers, risks; in `lang` ("en" | "ko", the
    words from the one catalogue, `krx_common.i18n`).

    `portfolio` adds entry dates to the held positions; `settings` adds the thresholds to the
    reasons and the exact limit rule (without them, what the summary carries is shown).
    """
    paint = _Paint(color)
    sp = settings.strategy if settings is not None else None
    lines = [
        text("am.head", lang, at=f"{summary.run_at:%Y-%m-%d %H:%M %Z}"),
        text("am.status", lang, status=summary.status.value, stage=summary.stage.value,
             mode=summary.execution_mode.value, asof=summary.asof or "-"),
        _message(summary, lang),
    ]
    if summary.freshness and summary.freshness.synthetic:
        lines.append(text("am.synthetic", lang))
    sig = summary.signals
    if sig is not None:
        lines += ["", *_regime_block(sig, sp, paint, lang)]
    if plan is not None:
        lines += ["", *_orders_block(plan, settings, paint, sig, lang)]
    if sig is not None or portfolio is not None:
        lines += ["", *_held_block(sig, portfolio, sp, paint, lang)]
    if sig is not None:
        n_held = sum(1 for t in sig.tickers if t.held_qty)

        def h(key: str) -> str:
            return text(f"am.col.{key}", lang)

        lines += [
            "",
            f"{_pad(h('ticker'), 8)}{_pad(h('name'), 26)}{_rpad(h('close'), 10)}"
            f"{_rpad('RSI', 7)}{_rpad(h('held'), 7)}  {_pad(h('action'), 7)}{h('reason')}",
        ]
        for t in sig.tickers:
            lines.append(
                f"{t.ticker:<8}{_pad(t.name, 26)}{_won(t.close):>10}"
                f"{_num(t.rsi, '{:.1f}'):>7}{t.held_qty:>7}  {t.action.value:<7}"
                + reason_text(t, sig, sp, n_held, lang)
                + (text("am.qty", lang, qty=t.qty) if t.qty else "")
            )
    if summary.risks:
        lines.append("")
        lines += [f"[{r.severity.value}] {r.code}: "
                  + (r.message if lang == "en"
                     else words.risk_text(r.code, r.params, r.message, lang))
                  for r in summary.risks]
    return "\n".join(lines)
