"""Broker reconciliation: the broker's balance (cash, holdings with quantity and average
price) against the SSOT portfolio. Any difference is a CRITICAL risk on the summary with the
fields named, an INCIDENT audit line and a notification. The operator resolves it: take the
broker's (a PUSH of the portfolio with a reason) or keep the book (recorded with a reason)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from broker.protocol import Balance
from contracts.audit import AuditAction, AuditEntry
from contracts.broker import (
    BrokerHoldingView,
    FieldDiff,
    ReconcileResolveRequest,
    Reconciliation,
    ResolveChoice,
)
from contracts.portfolio import Holding, Portfolio
from contracts.settings import ExecutionMode
from contracts.summary import Risk, Severity
from contracts.ticket import TicketState
from krx_common.atomic import atomic_write_model, read_model
from oci_backend.broker_link import BrokerLink
from oci_backend.notify import NotificationKind, Notifier
from oci_backend.store import Store
from oci_backend.tickets.boxes import TicketFiles

log = logging.getLogger("krx.oci.reconcile")

DRIFT = "BROKER_DRIFT"
# The broker reports whole won of cash and its average price to a few decimals; the book's
# floats carry the same values computed by the one fill rule.
CASH_TOLERANCE = 0.5
PRICE_TOLERANCE = 0.01
# While an order may still fill the book lags the broker by one poll: no reconciliation then.
OPEN_AT_BROKER = frozenset({TicketState.SENDING, TicketState.SENT,
                            TicketState.BROKER_PARTIALLY_FILLED})


class BrokerNotConfigured(RuntimeError):
    """No broker credentials on OCI: nothing to reconcile with."""

    field = "KRX_KIS_CREDENTIALS_FILE"


class NothingToResolve(RuntimeError):
    """No reconciliation with differences to resolve."""

    field = "choice"


def compare(book: Portfolio, balance: Balance) -> list[FieldDiff]:
    """Every field where the book and the broker differ (cash, then each ticker's qty and
    average price, in ticker order)."""
    diffs: list[FieldDiff] = []
    if abs(book.cash - balance.cash) > CASH_TOLERANCE:
        diffs.append(FieldDiff(field="cash", book=book.cash, broker=balance.cash))
    mine = {h.ticker: h for h in book.holdings}
    theirs = {h.ticker: h for h in balance.holdings if h.qty > 0}
    for ticker in sorted(set(mine) | set(theirs)):
        b, k = mine.get(ticker), theirs.get(ticker)
        if (b.qty if b else 0) != (k.qty if k else 0):
            diffs.append(FieldDiff(field=f"holdings[{ticker}].qty",
                                   book=b.qty if b else None, broker=k.qty if k else None))
        if b is not None and k is not None and abs(b.avg_price - k.avg_price) > PRICE_TOLERANCE:
            diffs.append(FieldDiff(field=f"holdings[{ticker}].avg_price", book=b.avg_price,
                                   broker=k.avg_price))
    return diffs


def reconcile(store: Store, link: BrokerLink, *, actor: str,
              on_drift: Callable[[Reconciliation], object] | None = None) -> Reconciliation:
    """Compare now; the result is stored (`reports/broker/reconcile.json`). A new difference
    is raised (risk, audit, `on_drift`); the same one found again is not audited twice.
    `BrokerNotConfigured` without credentials; broker errors propagate (nothing stored)."""
    if link.broker is None or link.kind is None:
        raise BrokerNotConfigured("no broker credentials on OCI (KRX_KIS_CREDENTIALS_FILE): "
                                  "nothing to reconcile with")
    balance = link.broker.balance()
    with store.lock():
        book = store.portfolio()
        diffs = compare(book, balance)
        before = last(store)
        # raised once per difference: a repeated reconciliation of the same drift (the
        # processor's, every few minutes) neither audits nor notifies it again
        new_drift = bool(diffs) and (before is None or before.diffs != diffs
                                     or before.portfolio_revision != book.revision)
        result = Reconciliation(
            clean=not diffs, portfolio_revision=book.revision, broker_kind=link.kind.value,
            book_cash=book.cash, broker_cash=balance.cash,
            book_holdings=[BrokerHoldingView(ticker=h.ticker, qty=h.qty, avg_price=h.avg_price)
                           for h in book.holdings],
            broker_holdings=[BrokerHoldingView(ticker=h.ticker, qty=h.qty,
                                               avg_price=h.avg_price)
                             for h in balance.holdings if h.qty > 0],
            diffs=diffs,
            message="broker and book agree" if not diffs else (
                "broker and book differ: " + "; ".join(
                    f"{d.field} book {_num(d.book)} vs broker {_num(d.broker)}"
                    for d in diffs)),
        )
        store.paths.broker_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_model(store.paths.reconciliation, result)
        if new_drift:
            store.audit_log.append(AuditEntry(
                actor=actor, action=AuditAction.INCIDENT, target="portfolio", reason=DRIFT,
                details={"incident": DRIFT, "portfolio_revision": book.revision,
                         "diffs": [d.model_dump(mode="json") for d in diffs]}))
            _raise_risk(store, result.message, {
                "n": len(diffs), "fields": ", ".join(d.field for d in diffs)})
    if new_drift:
        log.error("reconciliation: %s", result.message)
        if on_drift is not None:
            on_drift(result)
    return result


def drift_notice(notifier: Notifier | None) -> Callable[[Reconciliation], object] | None:
    """The `on_drift` of every caller (API, processor, `krx daily`): one incident
    notification a day."""
    if notifier is None:
        return None
    return lambda r: notifier.send_once(NotificationKind.BROKER_DRIFT,
                                        "KRX Alertor: broker and book differ", r.message)


def open_at_broker(store: Store) -> list[str]:
    """The tickets whose orders may still fill at the broker (SENDING, SENT, partially
    filled), by id."""
    return sorted(tid for tid, (_, state) in TicketFiles(store).states().items()
                  if state in OPEN_AT_BROKER)


def cycle_step(store: Store, link: BrokerLink, notifier: Notifier | None, *,
               actor: str) -> tuple[Reconciliation | None, str]:
    """The daily cycle's reconciliation step (`krx daily`): `reconcile` in a broker mode and
    in MANUAL when credentials exist. (result or None, one line saying what happened); a
    skipped step changes nothing; broker errors propagate (nothing stored)."""
    if link.broker is None or link.kind is None:
        return None, "broker reconciliation: skipped (no KRX_KIS_CREDENTIALS_FILE)"
    mode = store.settings().execution_mode
    if not (mode.is_broker or mode is ExecutionMode.MANUAL):
        return None, f"broker reconciliation: skipped (execution mode {mode.value})"
    still_open = open_at_broker(store)
    if still_open:
        return None, ("broker reconciliation: skipped (orders may still fill at the broker: "
                      f"ticket {', '.join(still_open)})")
    result = reconcile(store, link, actor=actor, on_drift=drift_notice(notifier))
    if result.clean:
        return result, f"broker reconciliation: clean ({result.message})"
    return result, f"broker reconciliation: CRITICAL {DRIFT}: {result.message}"


def _num(v: float | None) -> str:
    return "none" if v is None else f"{v:,.2f}".rstrip("0").rstrip(".")


def _raise_risk(store: Store, message: str, params: dict[str, str | int | float]) -> None:
    summary = store.summary()
    if summary is None:
        return
    risks = [r for r in summary.risks if r.code != DRIFT]
    risks.append(Risk(code=DRIFT, severity=Severity.CRITICAL, message=message, params=params))
    atomic_write_model(store.paths.summary_latest, summary.model_copy(update={"risks": risks}))


def last(store: Store) -> Reconciliation | None:
    return read_model(store.paths.reconciliation, Reconciliation)


def resolve(store: Store, link: BrokerLink, req: ReconcileResolveRequest) -> Reconciliation:
    """Settle the differences: `take_broker` re-reads the broker and PUSHes its cash and
    holdings as the portfolio (reason given; holdings keep their entry dates); `keep_book`
    records the decision. Returns a fresh reconciliation."""
    previous = last(store)
    if previous is None or previous.clean:
        raise NothingToResolve("the last reconciliation found no difference: nothing to "
                               "resolve (run POST /api/v1/broker/reconcile first)")
    if req.choice is ResolveChoice.KEEP_BOOK:
        store.audit_log.append(AuditEntry(
            actor=req.actor, action=AuditAction.INCIDENT, target="portfolio",
            reason=req.reason,
            details={"incident": DRIFT, "resolution": "keep_book",
                     "diffs": [d.model_dump(mode="json") for d in previous.diffs]}))
        return previous
    if link.broker is None:
        raise BrokerNotConfigured("no broker credentials on OCI: cannot take the broker's")
    balance = link.broker.balance()
    book = store.portfolio()
    entry = {h.ticker: h.entry_date for h in book.holdings}
    taken = book.model_copy(update={
        "cash": balance.cash,
        "holdings": [Holding(ticker=h.ticker, qty=h.qty, avg_price=h.avg_price,
                             entry_date=entry.get(h.ticker))
                     for h in balance.holdings if h.qty > 0]})
    store.push(store.revision(), portfolio=Portfolio.model_validate(taken.model_dump()),
               settings=None, reason=f"take the broker's balance: {req.reason}",
               actor=req.actor)
    return reconcile(store, link, actor=req.actor)
