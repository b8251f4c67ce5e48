"""PULL/PUSH bodies between the PC and OCI, and the emergency-stop state."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StrictBool, model_validator

from contracts.audit import AuditEntry
from contracts.common import Contract, KstDatetime, Reason, now_kst
from contracts.plan import OrderPlan
from contracts.portfolio import Portfolio
from contracts.settings import Settings
from contracts.summary import OpsSummary
from contracts.ticket import TicketRecord


class EmergencyStop(Contract):
    """`state/emergency_stop.json`."""

    on: StrictBool = False
    reason: str = ""
    by: str = ""
    at: KstDatetime = Field(default_factory=now_kst)


class EmergencyStopRequest(Contract):
    on: StrictBool = Field(description="JSON true or false; \"true\" and 1 are refused")
    reason: Reason
    by: Annotated[str, Field(min_length=1, max_length=100)] = "operator"


class SyncSnapshot(Contract):
    revision: int = Field(ge=0)
    server_time: KstDatetime = Field(default_factory=now_kst)
    portfolio: Portfolio
    settings: Settings
    summary: OpsSummary | None = None
    plan: OrderPlan | None = None
    tickets: list[TicketRecord] = Field(default_factory=list)
    emergency_stop: EmergencyStop = Field(default_factory=EmergencyStop)
    audit_tail: list[AuditEntry] = Field(default_factory=list)


class PushRequest(Contract):
    model_config = ConfigDict(json_schema_extra={
        "anyOf": [{"required": ["portfolio"]}, {"required": ["settings"]}]})

    portfolio: Portfolio | None = None
    settings: Settings | None = None
    reason: Reason
    actor: Annotated[str, Field(min_length=1, max_length=100)] = "operator"

    @model_validator(mode="after")
    def _something_to_push(self) -> PushRequest:
        if self.portfolio is None and self.settings is None:
            raise ValueError("push needs 'portfolio' and/or 'settings'")
        return self


class PushResponse(Contract):
    revision: int
    changed: list[str] = Field(default_factory=list)
    replan: Literal["scheduled", "none"] = Field(
        default="none",
        description="'scheduled': OCI re-plans in the background; the new plan is current "
                    "once the snapshot's summary carries this revision",
    )
