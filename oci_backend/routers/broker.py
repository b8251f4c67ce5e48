"""`/broker/*`: the broker's status and balance, reconciliation with the book and its
resolution. No credential is ever part of an answer."""

from __future__ import annotations

from fastapi import APIRouter

from contracts.broker import (
    BrokerBalance,
    BrokerHoldingView,
    BrokerStatus,
    ReconcileResolveRequest,
    Reconciliation,
)
from oci_backend import reconcile as recon
from oci_backend.deps import BrokerLinkDep, NotifierDep, StoreDep

router = APIRouter(prefix="/broker", tags=["broker"])

ACTOR = "api"


@router.get("/status", response_model=BrokerStatus)
def status(store: StoreDep, link: BrokerLinkDep) -> BrokerStatus:
    """Whether broker credentials are configured, their kind, the mode, the last
    reconciliation."""
    return BrokerStatus(configured=link.configured,
                        kind=link.kind.value if link.kind else None,
                        execution_mode=store.settings().execution_mode.value,
                        last_reconciliation=recon.last(store))


@router.get("/balance", response_model=BrokerBalance,
            responses={409: {"description": "no broker configured"},
                       502: {"description": "the broker refused"},
                       503: {"description": "the broker did not answer"}})
def balance(link: BrokerLinkDep) -> BrokerBalance:
    if link.broker is None or link.kind is None:
        raise recon.BrokerNotConfigured("no broker credentials on OCI "
                                        "(KRX_KIS_CREDENTIALS_FILE)")
    b = link.broker.balance()
    return BrokerBalance(broker_kind=link.kind.value, cash=b.cash,
                         holdings=[BrokerHoldingView(ticker=h.ticker, qty=h.qty,
                                                     avg_price=h.avg_price)
                                   for h in b.holdings if h.qty > 0])


@router.post("/reconcile", response_model=Reconciliation,
             responses={409: {"description": "no broker configured"},
                        502: {"description": "the broker refused"},
                        503: {"description": "the broker did not answer"}})
def reconcile(store: StoreDep, link: BrokerLinkDep, notifier: NotifierDep) -> Reconciliation:
    """Compare the broker's balance with the book now; a difference is a CRITICAL risk, an
    audit line and an incident notification."""
    return recon.reconcile(store, link, actor=ACTOR, on_drift=recon.drift_notice(notifier))


@router.post("/reconcile/resolve", response_model=Reconciliation,
             responses={409: {"description": "nothing to resolve / no broker"}})
def resolve(body: ReconcileResolveRequest, store: StoreDep,
            link: BrokerLinkDep) -> Reconciliation:
    """`take_broker`: the broker's balance becomes the portfolio (a PUSH with the reason);
    `keep_book`: the decision is audited with the reason."""
    return recon.resolve(store, link, body)
