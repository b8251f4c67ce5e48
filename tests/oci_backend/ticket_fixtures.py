"""Factories for ticket tests: a seeded store with a hand-built current plan, drafted tickets."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import httpx

from contracts.common import now_kst
from contracts.plan import OrderPlan, PlanDecision, PlannedOrder, Side
from contracts.portfolio import Holding, Portfolio
from contracts.settings import ExecutionMode, Settings
from contracts.signals import ReasonCode
from contracts.summary import OpsSummary, OverallStatus, Stage
from contracts.sync import SyncSnapshot
from contracts.ticket import Ticket
from krx_common.defaults import KST
from oci_backend.paths import data_paths
from oci_backend.pipeline import plan_summary
from oci_backend.store import Store
from strategy.ticketing import draft_ticket

ASOF = date(2025, 6, 13)
NOW = datetime(2025, 6, 16, 9, 0, tzinfo=KST)  # the session after ASOF, at the open
# The open of the session after ASOF used for paper fills (= the standard limits, so a paper
# fill is the limit ± slippage).
OPENS_0616 = {"005930": 55_000.0, "305720": 10_080.0, "069500": 35_015.0}
NAMES = {"005930": ("삼성전자", "stock"), "305720": ("KODEX 2차전지산업", "etf"),
         "069500": ("KODEX 200", "etf")}


def make_store(root: Path, *, mode: ExecutionMode = ExecutionMode.DRY_RUN,
               cash: float = 10_000_000.0,
               holdings: tuple[tuple[str, int, float], ...] = (("005930", 10, 60_000.0),)
               ) -> Store:
    """A store whose portfolio and settings are pushed once (revision 2)."""
    store = Store(data_paths(root))
    store.initialize(actor="test")
    portfolio = Portfolio(cash=cash, holdings=[
        Holding(ticker=t, qty=q, avg_price=p, entry_date="2025-01-02") for t, q, p in holdings])
    store.push(store.revision(), portfolio=portfolio, settings=Settings(execution_mode=mode),
               reason="test seed", actor="test")
    return store


def planned(side: Side, ticker: str, qty: int, ref: float, rank: int | None = None
            ) -> PlannedOrder:
    name, kind = NAMES[ticker]
    est = ref * (1.0005 if side is Side.BUY else 0.9995)
    return PlannedOrder(
        side=side, ticker=ticker, name=name, kind=kind, qty=qty, ref_price=ref, est_price=est,
        est_notional=qty * est, est_commission=0.0, est_tax=0.0, est_slippage=0.0,
        reason=ReasonCode.RSI_DIP_ENTRY if side is Side.BUY else ReasonCode.STOP_LOSS,
        rank=rank)


def standard_orders() -> list[PlannedOrder]:
    return [planned(Side.SELL, "005930", 10, 55_000.0),
            planned(Side.BUY, "305720", 198, 10_075.0, rank=0),
            planned(Side.BUY, "069500", 50, 35_000.0, rank=1)]


def install_plan(store: Store, orders: list[PlannedOrder] | None = None, *,
                 plan_id: str = "20250613-aaaaaaaaaaaa", asof: date = ASOF) -> OrderPlan:
    """Write a READY plan for the store's current revisions and make it the summary's plan."""
    p, s = store.portfolio(), store.settings()
    equity = p.cash + sum(h.qty * h.avg_price for h in p.holdings)
    plan = OrderPlan(
        plan_id=plan_id, asof=asof, created_at=NOW, portfolio_revision=p.revision,
        settings_revision=s.revision, decision=PlanDecision.READY,
        orders=orders if orders is not None else standard_orders(), equity=equity,
        cash=p.cash, reserve=0.01 * equity, est_cash_after=0.0)
    store.write_plan(plan)
    store.write_summary(OpsSummary(
        run_at=NOW, asof=asof, is_session_today=True, execution_mode=s.execution_mode,
        plan=plan_summary(plan), stage=Stage.PLAN_READY, status=OverallStatus.OK,
        portfolio_revision=p.revision, settings_revision=s.revision, message="plan ready"))
    return plan


def drafted(store: Store, plan: OrderPlan | None = None, *, confirmed: bool = True) -> Ticket:
    plan = plan or store.current_plan()
    assert plan is not None
    t = draft_ticket(plan, store.settings(), cash=store.portfolio().cash, created_at=NOW)
    return t.model_copy(update={"confirmed": confirmed})


def fixed_opens(prices: dict[str, float] | None = None, session: date = date(2025, 6, 16)):
    """An `OpenSource` that knows one session's opens (None for any other session)."""
    known = dict(OPENS_0616 if prices is None else prices)

    def opens(tickers, day):
        return {t: known.get(t, 0.0) for t in tickers} if day == session else None

    return opens


OPENS = fixed_opens()


def snapshot_of(c: httpx.Client) -> SyncSnapshot:
    """OCI's PULL snapshot through a real server's client."""
    r = c.get("/api/v1/sync/snapshot")
    assert r.status_code == 200, r.text
    return SyncSnapshot.model_validate_json(r.content)


def ready_ticket(c: httpx.Client) -> Ticket:
    """Run the cycle and draft a confirmed ticket from its READY plan, as the cockpit does."""
    r = c.post("/api/v1/ops/cycle")
    assert r.status_code == 200, r.text
    plan = OrderPlan.model_validate_json(c.get("/api/v1/plans/current").content)
    assert plan.decision.value == "READY", plan.reasons
    snap = snapshot_of(c)
    ticket = draft_ticket(plan, Settings.model_validate(snap.settings.model_dump()),
                          cash=snap.portfolio.cash, created_at=now_kst())
    return ticket.model_copy(update={"confirmed": True})


def switch_to_manual(c: httpx.Client) -> httpx.Response:
    """PUSH `execution_mode: MANUAL` on the pulled settings (If-Match on their ETag); the
    PUSH's answer, for the caller to check."""
    r = c.get("/api/v1/sync/snapshot")
    settings = r.json()["settings"]
    settings["execution_mode"] = "MANUAL"
    return c.post("/api/v1/sync/push", json={"settings": settings, "reason": "manual"},
                  headers={"If-Match": r.headers["etag"]})
