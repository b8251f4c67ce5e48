"""Signals + portfolio + settings → `OrderPlan` (sells first, buys by rank, costs, guardrails).

Quantities come from `rules.decide_session` (the sizing the backtest uses). A buy's `qty` is
the sized quantity — its cap; the cut to the cash above the reserve is made at the fill (the
next open), as in the backtest. The `est_*` money of a buy is that cut estimated at the close
± slippage, in rank order after the sells (`rules.fill_terms`, the rule every fill uses).

A violated guardrail holds back the buys and keeps the sells (`rules.buys_held_back`, the rule
the backtest kernel applies too): the plan stays READY with its sells (EMPTY without any) and
lists the violation in its reasons and checks. Only `extra_block_reasons` (emergency stop,
stale or missing data, no portfolio) make a BLOCKED plan.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime

from contracts.instruments import instrument
from contracts.plan import GuardrailCheck, OrderPlan, PlanDecision, PlannedOrder, Side
from contracts.portfolio import Portfolio
from contracts.settings import Settings
from contracts.signals import ReasonCode
from strategy import rules
from strategy.signals import SessionDecision


def plan_id_for(
    asof: date, portfolio: Portfolio, settings: Settings, closes: dict[str, float],
    block_reasons: list[str],
) -> str:
    """Content address: same as-of, input revisions, parameters and prices → same id."""
    payload = {
        "asof": asof.isoformat(),
        "portfolio_revision": portfolio.revision,
        "settings_revision": settings.revision,
        "portfolio": portfolio.model_dump(mode="json", exclude={"asof", "revision"}),
        "settings": settings.model_dump(
            mode="json", include={"benchmark", "universe", "strategy", "guardrails"}
        ),
        "closes": {k: closes[k] for k in sorted(closes)},
        "blocked": sorted(block_reasons),
    }
    digest = hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")
    ).hexdigest()
    return f"{asof:%Y%m%d}-{digest[:12]}"


def _equity(portfolio: Portfolio, closes: dict[str, float]) -> float:
    held = sum(h.qty * closes.get(h.ticker, h.avg_price) for h in portfolio.holdings)
    return portfolio.cash + held


def blocked_plan(
    asof: date, portfolio: Portfolio, settings: Settings, reasons: list[str],
    closes: dict[str, float] | None = None, *, synthetic: bool = False,
    created_at: datetime | None = None,
) -> OrderPlan:
    """A plan that orders nothing because something upstream failed closed (stale data, ...)."""
    closes = closes or {}
    equity = _equity(portfolio, closes)
    extra = {"created_at": created_at} if created_at else {}
    return OrderPlan(
        plan_id=plan_id_for(asof, portfolio, settings, closes, reasons), asof=asof,
        portfolio_revision=portfolio.revision, settings_revision=settings.revision,
        decision=PlanDecision.BLOCKED, reasons=reasons, orders=[], checks=[],
        equity=equity, cash=portfolio.cash,
        reserve=settings.strategy.min_cash_pct * equity, est_cash_after=portfolio.cash,
        synthetic_data=synthetic, **extra,
    )


def plan_orders(
    d: SessionDecision, portfolio: Portfolio, settings: Settings, *, fill_year: int,
    extra_block_reasons: list[str] | None = None, synthetic: bool = False,
    created_at: datetime | None = None,
) -> OrderPlan:
    """The order plan for decision `d`; `fill_year` is the year of the next session (tax)."""
    sp = settings.strategy
    s, c = sp.slippage, sp.commission
    closes = {t: float(d.close[i]) for i, t in enumerate(d.tickers)}
    orders: list[PlannedOrder] = []
    cash = d.cash
    for i, t in enumerate(d.tickers):
        code = int(d.exit_code[i])
        if d.held_qty[i] <= 0 or code == rules.EXIT_NONE:
            continue
        inst = instrument(t)
        qty, price, notional, commission, tax, cash = rules.fill_terms(
            rules.SIDE_SELL, float(d.close[i]), int(d.held_qty[i]), s, c, fill_year,
            inst.kind == "stock", False, cash, 0.0)
        orders.append(PlannedOrder(
            side=Side.SELL, ticker=t, name=inst.name_ko, kind=inst.kind, qty=qty,
            ref_price=d.close[i], est_price=price, est_notional=notional,
            est_commission=commission, est_tax=tax, est_slippage=qty * d.close[i] * s,
            reason=ReasonCode(rules.EXIT_NAMES[code]),
        ))
    sells_cash = cash
    reasons: list[str] = []
    buys: list[PlannedOrder] = []
    buy_reasons: list[str] = []
    buy_idx = sorted((i for i in range(len(d.tickers)) if d.buy_qty[i] > 0),
                     key=lambda i: d.rank[i])
    for i in buy_idx:
        t = d.tickers[i]
        inst = instrument(t)
        sized = int(d.buy_qty[i])
        # The sized quantity is the order (its cap); the cut to the cash above the reserve
        # happens at the fill, at the next open. Estimated here at the close ± slippage.
        est_qty, price, notional, commission, _, after = rules.fill_terms(
            rules.SIDE_BUY, float(d.close[i]), sized, s, c, fill_year, inst.kind == "stock",
            True, cash, d.reserve)
        if est_qty <= 0:
            buy_reasons.append(f"CASH_LIMIT: {t} may not fill, cash above the reserve does not "
                               f"cover one share at the close ± slippage")
        else:
            cash = after
            if est_qty < sized:
                buy_reasons.append(f"CASH_LIMIT: {t} estimated cut from {sized} to {est_qty} "
                                   f"shares (the cut is made at the fill price)")
        buys.append(PlannedOrder(
            side=Side.BUY, ticker=t, name=inst.name_ko, kind=inst.kind, qty=sized,
            ref_price=d.close[i], est_price=price, est_notional=notional,
            est_commission=commission, est_tax=0.0,
            est_slippage=max(est_qty, 0) * d.close[i] * s,
            reason=ReasonCode.RSI_DIP_ENTRY, score=sp.rsi_buy_threshold - float(d.rsi[i]),
            rank=int(d.rank[i]),
        ))
    checks = _guardrail_checks(d, orders + buys, settings)
    violated = [ch.code for ch in checks if not ch.ok]
    if buys and (rules.buys_held_back(d.guard) or violated):
        # SPEC §3: a guardrail holds back the buys, never the sells (the backtest's rule).
        reasons += [f"{code}: {len(buys)} buys held back, sells kept" for code in violated]
        cash = sells_cash
    else:
        orders += buys
        reasons += buy_reasons
    # Only what fails closed upstream (emergency stop, stale or missing data) blocks everything.
    block_reasons = list(extra_block_reasons or [])
    if block_reasons:
        decision = PlanDecision.BLOCKED
    elif orders:
        decision = PlanDecision.READY
    else:
        decision = PlanDecision.EMPTY
    if d.block and not block_reasons:
        reasons.insert(0, f"no entries: {rules.BLOCK_NAMES[d.block]}")
    extra = {"created_at": created_at} if created_at else {}
    return OrderPlan(
        plan_id=plan_id_for(d.asof, portfolio, settings, closes, block_reasons), asof=d.asof,
        portfolio_revision=portfolio.revision, settings_revision=settings.revision,
        decision=decision, reasons=block_reasons + reasons, orders=orders, checks=checks,
        equity=d.equity, cash=d.cash, reserve=d.reserve, est_cash_after=cash,
        synthetic_data=synthetic, **extra,
    )


def _guardrail_checks(
    d: SessionDecision, orders: list[PlannedOrder], settings: Settings
) -> list[GuardrailCheck]:
    g = settings.guardrails
    buys = [o for o in orders if o.side is Side.BUY]
    sized = [float(d.buy_qty[i] * d.close[i]) for i in range(len(d.tickers)) if d.buy_qty[i] > 0]
    n_sized = len(sized) + sum(1 for o in orders if o.side is Side.SELL)
    universe = set(settings.universe)
    outside = [o.ticker for o in buys if o.ticker not in universe]
    eq = d.equity or 1.0
    return [
        GuardrailCheck(code="GUARDRAIL_MAX_ORDERS", ok=d.guard != rules.GUARD_MAX_ORDERS,
                       value=n_sized, limit=g.max_orders,
                       message=f"{n_sized} orders (limit {g.max_orders})"),
        GuardrailCheck(code="GUARDRAIL_MAX_SINGLE_ORDER",
                       ok=d.guard != rules.GUARD_MAX_SINGLE_ORDER,
                       value=max(sized, default=0.0) / eq, limit=g.max_single_order_pct,
                       message="largest buy as a share of equity"),
        GuardrailCheck(code="GUARDRAIL_MAX_BUY_TURNOVER",
                       ok=d.guard != rules.GUARD_MAX_BUY_TURNOVER,
                       value=sum(sized) / eq, limit=g.max_buy_turnover_pct,
                       message="all buys as a share of equity"),
        GuardrailCheck(code="GUARDRAIL_ALLOW_LIST", ok=not outside, value=len(outside), limit=0,
                       message="buys outside the universe: " + (", ".join(outside) or "none")),
        GuardrailCheck(code="GUARDRAIL_MIN_CASH",
                       ok=not buys or _cash_after(orders, d.cash) >= d.reserve - 1e-6,
                       value=_cash_after(orders, d.cash), limit=d.reserve,
                       message="estimated cash after all orders vs the reserve"),
    ]


def _cash_after(orders: list[PlannedOrder], cash: float) -> float:
    for o in orders:
        fees = o.est_commission + o.est_tax
        cash += o.est_notional - fees if o.side is Side.SELL else -(o.est_notional + fees)
    return cash
