"""Plain-text rendering of a cycle's summary and plan for terminals and logs."""

from __future__ import annotations

import unicodedata

from contracts.plan import OrderPlan
from contracts.summary import OpsSummary


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
    return "-" if x is None else fmt.format(x)


def render_cycle(summary: OpsSummary, plan: OrderPlan | None) -> str:
    """A readable report: status, regime, per-ticker RSI/action, orders, risks."""
    lines = [
        f"KRX Alertor daily cycle — run {summary.run_at:%Y-%m-%d %H:%M %Z}",
        f"status {summary.status.value} · stage {summary.stage.value} · "
        f"mode {summary.execution_mode.value} · as-of {summary.asof or '-'}",
        summary.message,
    ]
    if summary.freshness and summary.freshness.synthetic:
        lines.append("*** SYNTHETIC MARKET DATA (demo) — not real prices ***")
    sig = summary.signals
    if sig is not None:
        r = sig.regime
        chop = "unknown" if r.chop is None else ("yes" if r.chop else "no")
        lines += [
            "",
            f"regime {r.regime.value} (candidate {r.candidate.value}, bear days {r.bear_days}) · "
            f"{sig.benchmark} close {_num(r.close, '{:,.0f}')} · SMA long "
            f"{_num(r.sma_long)} · SMA short {_num(r.sma_short)} · ADX {_num(r.adx, '{:.2f}')} "
            f"· chop {chop}",
            "",
            f"{'ticker':<8}{'name':<26}{'close':>10}{'RSI':>8}{'held':>7}  {'action':<7}reason",
        ]
        for t in sig.tickers:
            lines.append(
                f"{t.ticker:<8}{_pad(t.name, 26)}{_num(t.close, '{:,.0f}'):>10}"
                f"{_num(t.rsi, '{:.2f}'):>8}{t.held_qty:>7}  {t.action.value:<7}"
                f"{t.reason.value if t.reason else ''}"
                + (f" qty {t.qty}" if t.qty else "")
            )
    if plan is not None:
        lines += ["", f"plan {plan.plan_id}: {plan.decision.value}"
                      f" · equity {plan.equity:,.0f} · cash {plan.cash:,.0f}"
                      f" · est. cash after {plan.est_cash_after:,.0f}"]
        for o in plan.orders:
            lines.append(
                f"  {o.side.value:<4} {o.ticker} {o.name} x{o.qty} @ ~{o.est_price:,.0f}"
                f" = {o.est_notional:,.0f} (fees {o.est_commission + o.est_tax:,.0f})"
                f" [{o.reason.value}]"
            )
        for reason in plan.reasons:
            lines.append(f"  · {reason}")
    if summary.risks:
        lines.append("")
        lines += [f"[{r.severity.value}] {r.code}: {r.message}" for r in summary.risks]
    return "\n".join(lines)
