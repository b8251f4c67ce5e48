"""`GET /audit`: the append-only audit log, filtered."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from contracts.audit import AuditAction, AuditEntry
from contracts.common import KstDatetime
from oci_backend.deps import StoreDep

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[AuditEntry])
def audit(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: AuditAction | None = None,
    target: Annotated[str | None, Query(max_length=200,
                                        description="substring of the entry's target")] = None,
    since: Annotated[KstDatetime | None,
                     Query(description="ISO-8601 with offset, e.g. 2025-12-29T09:00:00+09:00")
                     ] = None,
) -> list[AuditEntry]:
    """The newest `limit` matching entries, oldest first."""
    return store.audit_log.read(limit=limit, action=action, target=target, since=since)
