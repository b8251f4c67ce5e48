"""The one write-ahead path of a ticket's portfolio change (paper, manual and broker fills):
the record with its fills and `portfolio_revision_after = N` is held in processing/ first,
then the portfolio is written at revision N with its audit line (`recovery.recover` decides
after a crash whether it happened)."""

from __future__ import annotations

from contracts.audit import AuditAction
from contracts.ticket import Fill, TicketRecord
from oci_backend.store import Store
from oci_backend.tickets import boxes
from oci_backend.tickets.boxes import TicketFiles
from strategy.fills import apply_fills


def fills_details(fills: list[Fill]) -> list[dict[str, object]]:
    return [f.model_dump(mode="json") for f in fills]


def apply_with_intent(
    store: Store, rec: TicketRecord, fills: list[Fill], *, reason: str, actor: str,
    crash_prefix: str, details: dict[str, object] | None = None,
) -> tuple[TicketRecord, int]:
    """Write-ahead `rec` (with `fills`) to processing/, then change the portfolio; lock held.
    Returns the intent record (portfolio_revision_after set) and the new revision."""
    target = store.revision() + 1
    intent = rec.model_copy(update={"portfolio_revision_after": target})
    TicketFiles(store).hold(intent)
    boxes.crash_point(f"{crash_prefix}after_intent")
    new = store.update_portfolio(
        lambda p: apply_fills(p, fills), reason=reason, actor=actor,
        action=AuditAction.FILLS_RECORDED,
        details={"ticket_id": rec.ticket.ticket_id, "plan_id": rec.ticket.plan_id,
                 "mode": rec.ticket.mode.value, "fills": fills_details(fills),
                 **({"replay": True} if rec.replay else {}), **(details or {})},
    )
    if new.revision != target:  # the lock makes this impossible; refuse to guess if it happens
        raise RuntimeError(f"portfolio revision {new.revision}, expected {target}")
    boxes.crash_point(f"{crash_prefix}after_portfolio_write")
    return intent, target
