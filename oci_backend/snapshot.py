"""The PULL bundle: everything the cockpit shows, read consistently from the store."""

from __future__ import annotations

from contracts.sync import SyncSnapshot
from oci_backend.store import Store

TICKETS_IN_SNAPSHOT = 20
AUDIT_IN_SNAPSHOT = 20


def build_snapshot(store: Store, *, tickets: int = TICKETS_IN_SNAPSHOT,
                   audit: int = AUDIT_IN_SNAPSHOT) -> SyncSnapshot:
    """A `SyncSnapshot` whose revision matches the portfolio and settings it carries.

    The two files are read under the store's write lock: a PUSH writes them one after the
    other, and a snapshot taken in between would pair the new revision with old content
    (the client would then PUSH over changes it never saw).
    """
    from oci_backend.tickets import list_tickets

    with store.lock():
        portfolio = store.portfolio()
        settings = store.settings()
    summary = store.summary()
    plan = store.plan(summary.plan.plan_id) if summary and summary.plan else None
    return SyncSnapshot(
        revision=max(portfolio.revision, settings.revision),
        portfolio=portfolio, settings=settings, summary=summary, plan=plan,
        tickets=list_tickets(store, limit=tickets), emergency_stop=store.emergency_stop(),
        audit_tail=store.audit_tail(audit),
    )
