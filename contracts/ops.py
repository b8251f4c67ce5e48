"""HTTP bodies of the OCI backend's operations routes: `/health` and the cycle trigger."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from contracts.common import Contract, KstDatetime, now_kst
from contracts.summary import OpsSummary, OverallStatus, Stage


class LastCycle(Contract):
    """What the latest summary says about the last daily cycle."""

    run_at: KstDatetime
    asof: date | None
    status: OverallStatus
    stage: Stage
    message: str = ""


class DailyOpsStatus(Contract):
    """`state/daily_ops.json`: how the last `scripts/daily_ops.sh` run ended. A day the cycle
    was skipped (another run busy, data missing or stale, plan blocked) is `BUSY`/`BLOCKED`
    with exit 2, which the systemd unit reports as a failure and `/health` shows."""

    finished_at: KstDatetime
    outcome: Literal["OK", "HOLIDAY", "BLOCKED", "BUSY", "FAILED"]
    exit_code: int = Field(ge=0, le=255, description="0 OK or holiday, 2 skipped, 1 failure")
    message: str = ""
    log: str | None = Field(default=None, description="the dated log file of the run")


class Health(Contract):
    """`GET /health`: liveness plus the state a watchdog or operator needs at a glance."""

    status: Literal["ok", "degraded"] = Field(
        description="'degraded' when the state cannot be read (see `error`)"
    )
    server_time: KstDatetime = Field(default_factory=now_kst)
    revision: int | None = None
    last_cycle: LastCycle | None = None
    emergency_stop: bool | None = None
    daily_ops: DailyOpsStatus | None = Field(
        default=None, description="the last scripts/daily_ops.sh run (None before the first)")
    missed_morning: str | None = Field(
        default=None,
        description="MISSED_MORNING: set when no daily cycle completed by 09:30 KST on today's "
                    "XKRX session (live data roots only)")
    error: str | None = None


class CycleRequest(Contract):
    """`POST /api/v1/ops/cycle` body (optional)."""

    asof: date | None = Field(
        default=None,
        description="replay this XKRX session (replay data roots only, any execution mode; a "
                    "live data root answers 409 ASOF_REPLAY_REFUSED)"
    )


class CycleResponse(Contract):
    exit_code: int = Field(description="0 OK, 2 blocked or warning, 1 failure (as `krx daily`)")
    plan_id: str | None = None
    summary: OpsSummary
