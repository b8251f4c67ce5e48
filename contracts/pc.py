"""PC-side models: what the PC backend (`krx pc serve`) answers the cockpit and the CLI, and what
it keeps in its workspace on disk (docs/pc-api.md)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool

from contracts.common import Contract, KstDatetime, Reason, now_kst
from contracts.ops import LastCycle
from contracts.sync import PushResponse
from contracts.ticket import Ticket, TicketRecord

Artifact = Literal["portfolio", "settings"]


class TunnelState(StrEnum):
    UP = "UP"                    # the forward answers OCI /health
    DEGRADED = "DEGRADED"        # the forward is open; OCI answered slowly, or not this once
    OCI_DOWN = "OCI_DOWN"        # the SSH session is healthy, the OCI backend does not answer
    RECONNECTING = "RECONNECTING"  # restarting the forwarder (backoff between attempts)
    DOWN = "DOWN"                # not connected and not trying (stopped, or refused for good)
    DIRECT = "DIRECT"            # no SSH: OCI is reached at a direct URL (demo, VPN)


class TunnelStatus(Contract):
    state: TunnelState
    last_error: str | None = None
    last_up_at: KstDatetime | None = None
    local_port: int | None = None
    since: KstDatetime = Field(default_factory=now_kst, description="in this state since")
    restarts: int = Field(default=0, ge=0, description="forwarder restarts since start")
    latency_ms: float | None = Field(
        default=None, ge=0, description="how long OCI /health took through the tunnel at the "
                                        "last probe that answered")


class OciReach(Contract):
    reachable: bool
    latency_ms: float | None = None
    error: str | None = None


class PcStatus(Contract):
    tunnel: TunnelStatus
    oci: OciReach
    oci_url: str
    last_pull_at: KstDatetime | None = None
    pulled_revision: int | None = None
    unpushed_edits: int = Field(ge=0, description="changed fields, local vs pulled")
    conflicts: int = Field(ge=0)
    draft_ticket_id: str | None = None
    workspace_error: str | None = Field(
        default=None, description="a workspace file that cannot be read (path and error)")
    oci_revision: int | None = Field(
        default=None, description="OCI's current revision, from the /health probe of this "
                                  "status (None when OCI was not reached)")
    oci_last_cycle: LastCycle | None = Field(
        default=None, description="OCI's current stage of the day (the latest summary: "
                                  "stage, status, as-of, run time), from the same probe; None "
                                  "when OCI was not reached or has no summary yet")


class DiffEntry(Contract):
    """One field changed locally: `path` as in the audit log (`strategy.rsi_period`,
    `holdings[005930].qty`)."""

    artifact: Artifact
    path: str
    base: Any = None
    mine: Any = None


class Conflict(Contract):
    """A field both the operator and OCI changed, to different values."""

    artifact: Artifact
    path: str
    base: Any = None
    mine: Any = None
    theirs: Any = None


class Diff(Contract):
    base_revision: int | None = None
    changes: list[DiffEntry] = Field(default_factory=list)
    conflicts: list[Conflict] = Field(default_factory=list)


class PullResult(Contract):
    revision: int
    pulled_at: KstDatetime
    rebased: bool = Field(description="local edits were re-applied on the new snapshot")
    conflicts: list[Conflict] = Field(default_factory=list)


class PcPushRequest(Contract):
    reason: Reason
    actor: Annotated[str, Field(min_length=1, max_length=100)] = "operator"


class PcPushResponse(PushResponse):
    visible: bool = Field(description="the pulled snapshot carries the pushed revision")
    rebased: bool = Field(default=False, description="a 409 was merged before pushing")


class ConflictChoice(Contract):
    artifact: Artifact
    path: Annotated[str, Field(min_length=1, max_length=300)]
    pick: Literal["mine", "theirs"]


class ResolveRequest(Contract):
    choices: list[ConflictChoice] = Field(min_length=1)


class DraftRequest(Contract):
    """Body of `POST /tickets/draft` (nothing to choose yet; extra keys are refused)."""


class SubmitRequest(Contract):
    confirm: StrictBool = Field(
        description="must be true (JSON true, not a string): the operator confirms sending "
                    "these orders")


class StoredDraft(Contract):
    """`<workspace>/draft.json`: the draft and its idempotency key, written before the first
    send so a retry resends the same key."""

    ticket: Ticket
    idempotency_key: str
    drafted_at: KstDatetime = Field(default_factory=now_kst)
    pulled_revision: int
    attempts: int = Field(default=0, ge=0)
    last_attempt_at: KstDatetime | None = None
    record: TicketRecord | None = Field(default=None, description="OCI's answer once accepted")


class WorkspaceMeta(Contract):
    """`<workspace>/workspace.json`."""

    pulled_revision: int | None = None
    pulled_at: KstDatetime | None = None
    oci_url: str | None = None
    last_push_at: KstDatetime | None = None
    last_push_revision: int | None = None


class BacktestRequest(Contract):
    start: date
    end: date
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="StrategyParams fields; others as pulled")
    universe: list[str] | None = None


class SweepRequest(Contract):
    start: date
    end: date
    grid: dict[str, list[Any]] = Field(min_length=1)
    objective: str = "sharpe"
    top: Annotated[int, Field(ge=1, le=1000)] = 50


class WalkForwardRequest(Contract):
    start: date
    end: date
    grid: dict[str, list[Any]] = Field(min_length=1)
    objective: str = "sharpe"
    train_months: Annotated[int, Field(ge=1, le=240)] = 24
    test_months: Annotated[int, Field(ge=1, le=120)] = 6
    step_months: Annotated[int, Field(ge=1, le=120)] = 6


class PcHealth(Contract):
    status: Literal["ok"] = "ok"
    version: str
    time: datetime = Field(default_factory=now_kst)


class ShutdownResponse(Contract):
    """`POST /shutdown` accepted: the backend stops after answering."""

    status: Literal["stopping"] = "stopping"
