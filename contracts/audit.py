"""`state/audit.jsonl`: one line per change, append-only."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from contracts.common import Contract, KstDatetime, now_kst


class AuditAction(StrEnum):
    INIT = "INIT"
    PUSH = "PUSH"
    TICKET_TRANSITION = "TICKET_TRANSITION"
    FILLS_RECORDED = "FILLS_RECORDED"
    MODE_CHANGE = "MODE_CHANGE"
    EMERGENCY_STOP = "EMERGENCY_STOP"
    DAILY_RUN = "DAILY_RUN"
    INCIDENT = "INCIDENT"


class FieldChange(Contract):
    path: str = Field(description="dotted path, e.g. 'strategy.rsi_buy_threshold'")
    before: Any = None
    after: Any = None


class AuditEntry(Contract):
    at: KstDatetime = Field(default_factory=now_kst)
    actor: str
    action: AuditAction
    target: str = Field(description="what changed: 'portfolio', 'settings', a ticket id, ...")
    reason: str = ""
    changes: list[FieldChange] = Field(default_factory=list)
    revision_before: int | None = None
    revision_after: int | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    seq: int | None = Field(
        default=None, ge=1,
        description="monotonic sequence number in the log (order survives clock steps; "
                    "None on lines written before it existed)")
