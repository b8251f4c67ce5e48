"""Order plan → manual execution ticket, KRX tick sizes, and the checks OCI runs on submit.

Pure: no files, no network, no clock (`created_at` is an argument). The PC drafts a ticket
with `draft_ticket`; OCI re-checks every submitted ticket with `verify_ticket` against the
plan it holds as current, so a hand-edited or stale ticket never reaches the processor.

Tick sizes (KRX, since 2023-01-25): stocks by price band, ETF/ETN 5 KRW at every level.
Limit prices are rounded *toward the reference*: a buy limit is rounded down and a sell limit
up, so a ticket never pays more (or accepts less) than the plan's price ± slippage estimate.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from contracts.plan import OrderPlan, PlanDecision, PlannedOrder, Side
from contracts.settings import ExecutionMode, Settings
from contracts.ticket import ProblemCode, Ticket, TicketOrder
from krx_common import fmt
from krx_common.i18n import text
from strategy import calendar, rules
from strategy.fills import fees_of

# (upper bound exclusive, tick) per price band for stocks; at or above the last bound: 1,000.
_STOCK_BANDS: tuple[tuple[int, int], ...] = (
    (2_000, 1),
    (5_000, 5),
    (20_000, 10),
    (50_000, 50),
    (200_000, 100),
    (500_000, 500),
)
_STOCK_TOP_TICK = 1_000
_FUND_TICK = 5
_FUND_KINDS = frozenset({"etf", "etn"})
_STOCK_KINDS = frozenset({"stock"})

# A submitted limit may sit this far (fraction of the plan's price ± slippage) from the plan's
# price, or one tick if that is wider; farther means a hand-edited price → rejected.
LIMIT_TOLERANCE = 0.005

# Relative slack when deciding that a float price already sits on a tick (e.g. 50,025.0000001).
_EPS = 1e-9

class TicketDraftError(ValueError):
    """The plan cannot become a ticket (not READY, nothing affordable, ...)."""


@dataclass(frozen=True)
class TicketProblem:
    """One reason a ticket does not match its plan. `code` is stable, `field` names the part of
    the ticket (e.g. ``orders[1].qty``) or None for the ticket as a whole."""

    code: ProblemCode
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f" {self.field}" if self.field else ""
        return f"{self.code.value}{where}: {self.message}"


# -- ticks -------------------------------------------------------------------------------------
def _check_price(price: float) -> None:
    if not math.isfinite(price) or price <= 0:
        raise ValueError(f"price must be a positive finite number, got {price!r}")


def krx_tick(price: float, kind: str) -> int:
    """The KRX tick size in KRW for an order at `price` of an instrument of `kind`
    ('stock', 'etf' or 'etn'); the band is decided by the price itself."""
    _check_price(price)
    k = kind.lower()
    if k in _FUND_KINDS:
        return _FUND_TICK
    if k not in _STOCK_KINDS:
        raise ValueError(f"unknown instrument kind {kind!r}; expected stock, etf or etn")
    for bound, tick in _STOCK_BANDS:
        if price < bound:
            return tick
    return _STOCK_TOP_TICK


def krx_ticks(prices: np.ndarray, kind: str) -> np.ndarray:
    """`krx_tick` for an array of prices (float64 ticks), e.g. to put synthetic bars on ticks."""
    k = kind.lower()
    if k in _FUND_KINDS:
        return np.full(np.shape(prices), float(_FUND_TICK))
    if k not in _STOCK_KINDS:
        raise ValueError(f"unknown instrument kind {kind!r}; expected stock, etf or etn")
    bounds = np.array([b for b, _ in _STOCK_BANDS], dtype=np.float64)
    ticks = np.array([t for _, t in _STOCK_BANDS] + [_STOCK_TOP_TICK], dtype=np.float64)
    return ticks[np.searchsorted(bounds, prices, side="right")]


def _snap(q: float) -> float:
    """`q` (price / tick) as an exact integer when float noise is all that separates them."""
    n = round(q)
    return float(n) if abs(q - n) <= _EPS * max(1.0, abs(q)) else q


def is_on_tick(price: float, kind: str) -> bool:
    """True when `price` is an integer number of won on a valid tick for its band."""
    _check_price(price)
    p = _snap(price)
    return p.is_integer() and int(p) % krx_tick(p, kind) == 0


def round_limit(price: float, kind: str, side: Side | str) -> int:
    """`price` rounded to a valid tick: DOWN for a buy, UP for a sell.

    Rounding up can cross into a coarser band (4,996 → 5,000); the result is re-checked
    against the band of the rounded price so it is always a valid order price.
    """
    _check_price(price)
    s = Side(side)
    if s is Side.BUY:
        out = price
        while True:
            t = krx_tick(out, kind)
            down = math.floor(_snap(out / t)) * t
            if down <= 0:
                raise ValueError(f"price {price!r} is below the smallest tick ({t} KRW)")
            if down % krx_tick(down, kind) == 0:
                return int(down)
            out = float(down)
    out = price
    while True:
        t = krx_tick(out, kind)
        up = math.ceil(_snap(out / t)) * t
        if up % krx_tick(up, kind) == 0:
            return int(up)
        out = float(up)


# -- costs -------------------------------------------------------------------------------------
def fill_year(asof: date, cal: calendar.SessionCalendar = calendar.XKRX) -> int:
    """Year of the session that executes a plan made at the close of `asof` (tax schedule),
    on `cal` (the settings' calendar: `calendar.for_settings`)."""
    return cal.next_session(asof).year


def order_fees(
    side: Side, kind: str, notional: float, commission: float, year: int
) -> tuple[float, float]:
    """(commission, tax) of one fill: commission per side, dated sell tax for stocks only
    (`rules.fill_terms`, the one fee rule)."""
    return fees_of(side, kind, notional, commission, year)


# -- drafting ----------------------------------------------------------------------------------
def ticket_id_for(
    plan_id: str, asof: date, mode: ExecutionMode, orders: list[tuple[str, str, int, int]]
) -> str:
    """Content address of a ticket: the plan, the mode and (side, ticker, qty, limit) of every
    order. Re-drafting the same plan in the same mode gives the same id."""
    payload = {"plan_id": plan_id, "mode": mode.value, "orders": [list(o) for o in orders]}
    digest = hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")
    ).hexdigest()
    return f"{asof:%Y%m%d}-tk{digest[:12]}"


def ticket_id_of(ticket: Ticket) -> str:
    """The id `ticket` must carry given its content (see `ticket_id_for`)."""
    return ticket_id_for(
        ticket.plan_id, ticket.asof, ticket.mode,
        [(o.side.value, o.ticker, o.qty, o.limit_price) for o in ticket.orders],
    )


def hts_line(side: Side, ticker: str, name: str, qty: int, limit: int, fees: float,
             lang: str = "ko") -> str:
    """THE one line to type into the broker's order screen, wherever it is shown (cockpit,
    `krx daily`, the ticket's copy text, the Telegram bot): quantity, limit, this order's
    amount (qty × limit, exactly) and its fees (commission + tax on that amount).
    `[매수] KODEX 200 (069500) 83주 지정가 29,855원 = 2,477,965원 (수수료·세금 약 372원)`."""
    return text("hts.line", lang, side=text("hts.side." + side.value, lang), name=name,
                ticker=ticker, qty=f"{qty:,}", limit=f"{limit:,}",
                amount=fmt.won_number(qty * limit), fees=fmt.won_number(fees))


@dataclass(frozen=True)
class OrderTerms:
    """A planned order as it is typed: the limit on its tick, the amount qty × limit and the
    fees of that amount (the one fee rule, dated by the fill year)."""

    side: Side
    ticker: str
    name: str
    qty: int
    limit: int
    commission: float
    tax: float

    @property
    def amount(self) -> int:
        return self.qty * self.limit

    @property
    def fees(self) -> float:
        return self.commission + self.tax

    def line(self, lang: str = "ko") -> str:
        return hts_line(self.side, self.ticker, self.name, self.qty, self.limit, self.fees, lang)


def cash_after(cash: float, terms: list[OrderTerms]) -> float:
    """`cash` once every line fills as typed: sells bring amount − fees, buys cost amount +
    fees (what the lines add up to, before any cash cut)."""
    for x in terms:
        cash += x.amount - x.fees if x.side is Side.SELL else -(x.amount + x.fees)
    return cash


def order_terms(order: PlannedOrder, asof: date, settings: Settings) -> OrderTerms:
    """`order` at the limit its ticket will carry (`plan_limit`), with that amount's fees."""
    limit = plan_limit(order, settings.strategy.slippage)
    year = fill_year(asof, calendar.for_settings(settings))
    commission, tax = order_fees(order.side, order.kind, float(order.qty * limit),
                                 settings.strategy.commission, year)
    return OrderTerms(order.side, order.ticker, order.name, order.qty, limit, commission, tax)


def _limit_from_plan(order: PlannedOrder, slippage: float) -> int:
    if order.side is Side.BUY:
        return round_limit(order.ref_price * (1.0 + slippage), order.kind, Side.BUY)
    return round_limit(order.ref_price * (1.0 - slippage), order.kind, Side.SELL)


def plan_limit(order: PlannedOrder, slippage: float) -> int:
    """The limit a planned order is typed with: ref × (1 ± slippage) on a valid KRX tick
    (buys rounded down, sells up) — the same price a drafted ticket carries."""
    return _limit_from_plan(order, slippage)


def draft_ticket(
    plan: OrderPlan, settings: Settings, *, cash: float, created_at: datetime
) -> Ticket:
    """The manual execution ticket for a READY plan.

    Sells come first (limit = ref × (1 − slippage) rounded up to a tick), then buys in rank
    order (limit = ref × (1 + slippage) rounded down). A buy keeps the plan's sized quantity
    as its cap and carries a `cash_budget`: what `cash` plus the sells' estimated net proceeds,
    less the buys ranked before it, leaves above the plan's reserve (the cut itself is made at
    the fill price, as in the backtest). Fees are commission plus the stock sell tax of the fill
    year, all from `rules.fill_terms`. Raises `TicketDraftError` when the plan is not READY.
    """
    if plan.decision is not PlanDecision.READY:
        why = f" ({', '.join(plan.reasons[:3])})" if plan.reasons else ""
        raise TicketDraftError(
            f"plan {plan.plan_id} is {plan.decision.value}{why}: only a READY plan can be "
            f"drafted into a ticket"
        )
    if created_at.tzinfo is None:
        raise TicketDraftError("created_at must be timezone-aware")
    sp = settings.strategy
    mode = settings.execution_mode
    year = fill_year(plan.asof, calendar.for_settings(settings))
    avail = cash
    orders: list[TicketOrder] = []
    terms: list[OrderTerms] = []
    sells = [o for o in plan.orders if o.side is Side.SELL]
    buys = sorted(
        (o for o in plan.orders if o.side is Side.BUY),
        key=lambda o: o.rank if o.rank is not None else math.inf,
    )
    for po in sells + buys:
        limit = _limit_from_plan(po, sp.slippage)
        buy = po.side is Side.BUY
        budget = max(avail - plan.reserve, 0.0) if buy else None
        _, _, notional, commission, tax, avail = rules.fill_terms(
            rules.SIDE_BUY if buy else rules.SIDE_SELL, float(limit), po.qty, 0.0,
            sp.commission, year, po.kind == "stock", buy, avail, plan.reserve)
        line = OrderTerms(po.side, po.ticker, po.name, po.qty, limit, *order_fees(
            po.side, po.kind, float(po.qty * limit), sp.commission, year))
        terms.append(line)
        orders.append(TicketOrder(
            side=po.side, ticker=po.ticker, name=po.name, kind=po.kind, qty=po.qty,
            limit_price=limit, est_notional=notional, est_fees=commission + tax,
            cash_budget=budget, reason=po.reason,
            hts_text=line.line(),
        ))
    if not orders:
        raise TicketDraftError(f"plan {plan.plan_id} has no orders")
    ticket_id = ticket_id_for(
        plan.plan_id, plan.asof, mode,
        [(o.side.value, o.ticker, o.qty, o.limit_price) for o in orders],
    )
    return Ticket(
        ticket_id=ticket_id, plan_id=plan.plan_id, asof=plan.asof, mode=mode,
        created_at=created_at, orders=orders, confirmed=False,
        copy_text=copy_block(ticket_id, plan.plan_id, plan.asof, mode, orders, terms),
    )


def copy_block(
    ticket_id: str, plan_id: str, asof: date, mode: ExecutionMode, orders: list[TicketOrder],
    terms: list[OrderTerms], lang: str = "ko",
) -> str:
    """The whole ticket as a text block to paste into a note or a chat with oneself: the HTS
    lines, the cash cap of the buys once (the first buy's budget: what the sells leave above
    the reserve; later buys get what the earlier ones leave), and the totals of the lines
    (`terms`, one per order: the sums of what the lines say)."""
    sell = sum(x.amount for x in terms if x.side is Side.SELL)
    buy = sum(x.amount for x in terms if x.side is Side.BUY)
    budgets = [o.cash_budget for o in orders if o.side is Side.BUY and o.cash_budget is not None]
    lines = [
        text("ticket.copy_head", lang, ticket_id=ticket_id),
        text("ticket.copy_plan", lang, plan_id=plan_id, asof=f"{asof:%Y-%m-%d}",
             mode=mode.value),
        *(f"{i}. {o.hts_text}" for i, o in enumerate(orders, 1)),
    ]
    if budgets:
        lines.append(text("ticket.cash_cap", lang, cap=fmt.won(budgets[0], lang)))
    lines.append(text("ticket.copy_totals", lang, sell=fmt.won(sell, lang),
                      buy=fmt.won(buy, lang),
                      fees=fmt.won(sum(x.fees for x in terms), lang)))
    return "\n".join(lines)


# -- verification ------------------------------------------------------------------------------
def ticket_problems(ticket: Ticket, plan: OrderPlan, settings: Settings) -> list[TicketProblem]:
    """Every way `ticket` departs from `plan` under `settings` (empty = acceptable).

    Codes: STALE (other plan or as-of), PLAN_NOT_READY, MODE_MISMATCH, TICKET_ID (id does not
    match the content), NOT_IN_PLAN, WRONG_SIDE, QTY_ABOVE_PLAN, KIND_MISMATCH, OFF_TICK,
    LIMIT_AWAY, OUTSIDE_UNIVERSE and the GUARDRAIL_* codes of the plan's guardrails.
    """
    out: list[TicketProblem] = []
    if ticket.plan_id != plan.plan_id or ticket.asof != plan.asof:
        out.append(TicketProblem(
            ProblemCode.STALE, "plan_id",
            f"ticket is for plan {ticket.plan_id} (as-of {ticket.asof}) but the current plan is "
            f"{plan.plan_id} (as-of {plan.asof}): re-draft the ticket from the current plan",
        ))
        return out
    if plan.decision is not PlanDecision.READY:
        out.append(TicketProblem(ProblemCode.PLAN_NOT_READY, "plan_id",
                                 f"plan {plan.plan_id} is {plan.decision.value}, not READY"))
    if ticket.mode is not settings.execution_mode:
        out.append(TicketProblem(
            ProblemCode.MODE_MISMATCH, "mode",
            f"ticket was drafted for {ticket.mode.value} but OCI runs in "
            f"{settings.execution_mode.value}: re-draft it",
        ))
    if ticket.ticket_id != ticket_id_of(ticket):
        out.append(TicketProblem(
            ProblemCode.TICKET_ID, "ticket_id",
            f"ticket_id {ticket.ticket_id!r} does not match the ticket's content "
            f"(expected {ticket_id_of(ticket)!r}); re-draft instead of editing ids",
        ))
    sp, g = settings.strategy, settings.guardrails
    planned = {(o.side, o.ticker): o for o in plan.orders}
    planned_side = {o.ticker: o.side for o in plan.orders}
    universe = set(settings.universe)
    year = fill_year(plan.asof, calendar.for_settings(settings))
    # Budgets are checked against the plan's cash plus every planned sell at its limit (a
    # ticket that sells less still may not budget into the reserve by more than that).
    budget_cash = plan.cash
    for ps in plan.orders:
        if ps.side is Side.SELL:
            budget_cash = rules.fill_terms(
                rules.SIDE_SELL, float(_limit_from_plan(ps, sp.slippage)), ps.qty, 0.0,
                sp.commission, year, ps.kind == "stock", False, budget_cash, 0.0)[5]
    buy_total = 0.0
    for i, o in enumerate(ticket.orders):
        f = f"orders[{i}]"
        po = planned.get((o.side, o.ticker))
        if po is None:
            if o.ticker in planned_side:
                out.append(TicketProblem(
                    ProblemCode.WRONG_SIDE, f"{f}.side",
                    f"{o.ticker}: the plan has a {planned_side[o.ticker].value}, not a "
                    f"{o.side.value}",
                ))
            else:
                out.append(TicketProblem(ProblemCode.NOT_IN_PLAN, f"{f}.ticker",
                                         f"{o.ticker} has no order in plan {plan.plan_id}"))
            continue
        if o.side is Side.BUY and o.ticker not in universe:
            out.append(TicketProblem(ProblemCode.OUTSIDE_UNIVERSE, f"{f}.ticker",
                                     f"{o.ticker} is not in the universe (allow-list)"))
        if o.qty > po.qty:
            out.append(TicketProblem(ProblemCode.QTY_ABOVE_PLAN, f"{f}.qty",
                                     f"{o.ticker}: {o.qty} shares above the planned {po.qty}"))
        if o.kind != po.kind:
            out.append(TicketProblem(ProblemCode.KIND_MISMATCH, f"{f}.kind",
                                     f"{o.ticker} is a {po.kind}, not a {o.kind}"))
        if not is_on_tick(o.limit_price, po.kind):
            out.append(TicketProblem(
                ProblemCode.OFF_TICK, f"{f}.limit_price",
                f"{o.ticker}: {o.limit_price:,} KRW is not on a KRX tick "
                f"({krx_tick(o.limit_price, po.kind)} KRW at that price)",
            ))
        tol = max(LIMIT_TOLERANCE * po.est_price, float(krx_tick(po.est_price, po.kind)))
        if abs(o.limit_price - po.est_price) > tol:
            out.append(TicketProblem(
                ProblemCode.LIMIT_AWAY, f"{f}.limit_price",
                f"{o.ticker}: limit {o.limit_price:,} KRW is more than {tol:,.0f} KRW away from "
                f"the plan's {po.est_price:,.1f} KRW",
            ))
        buy = o.side is Side.BUY
        budget = max(budget_cash - plan.reserve, 0.0)
        if buy and o.cash_budget is not None and o.cash_budget > budget + 1.0:
            out.append(TicketProblem(
                ProblemCode.GUARDRAIL_MIN_CASH, f"{f}.cash_budget",
                f"{o.ticker}: a budget of {o.cash_budget:,.0f} KRW would spend into the "
                f"reserve {plan.reserve:,.0f} KRW (at most {budget:,.0f} KRW is above it)",
            ))
        if buy:
            budget_cash = rules.fill_terms(
                rules.SIDE_BUY, float(o.limit_price), o.qty, 0.0, sp.commission, year,
                po.kind == "stock", True, budget_cash, plan.reserve)[5]
            # A buy's qty is its cap: sized at the close, as the plan's guardrails measure it
            # (the cash check above uses the cut estimated at the limit).
            notional = float(o.qty * po.ref_price)
            buy_total += notional
            if notional > g.max_single_order_pct * plan.equity + 1e-6:
                out.append(TicketProblem(
                    ProblemCode.GUARDRAIL_MAX_SINGLE_ORDER, f"{f}.qty",
                    f"{o.ticker}: {notional:,.0f} KRW is above {g.max_single_order_pct:.0%} of "
                    f"equity ({plan.equity:,.0f} KRW)",
                ))
    # Guardrails hold back buys, never sells (SPEC §3): a ticket of sells only is never over
    # the order limit, one with buys counts every line (as `rules.decide_session` does).
    has_buys = any(o.side is Side.BUY for o in ticket.orders)
    if has_buys and len(ticket.orders) > g.max_orders:
        out.append(TicketProblem(ProblemCode.GUARDRAIL_MAX_ORDERS, "orders",
                                 f"{len(ticket.orders)} orders (limit {g.max_orders})"))
    if buy_total > g.max_buy_turnover_pct * plan.equity + 1e-6:
        out.append(TicketProblem(
            ProblemCode.GUARDRAIL_MAX_BUY_TURNOVER, "orders",
            f"buys total {buy_total:,.0f} KRW, above {g.max_buy_turnover_pct:.0%} of equity",
        ))
    return out


def verify_ticket(ticket: Ticket, plan: OrderPlan, settings: Settings) -> list[str]:
    """Problems of `ticket` against `plan` as readable lines ``CODE field: message``;
    an empty list means OCI may accept it. See `ticket_problems` for the codes."""
    return [str(p) for p in ticket_problems(ticket, plan, settings)]
