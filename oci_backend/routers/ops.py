"""`POST /ops/cycle`: run the daily cycle now (optionally replaying a session on a replay root)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from contracts.ops import CycleRequest, CycleResponse
from oci_backend.deps import ConfigDep, NotifierDep, StoreDep
from oci_backend.replan import run_requested_cycle

router = APIRouter(prefix="/ops", tags=["ops"])


@router.post("/cycle", response_model=CycleResponse,
             responses={409: {"description": "a cycle is running, or asof on a live data root"}})
def run_cycle_now(
    store: StoreDep, config: ConfigDep, notifier: NotifierDep,
    body: Annotated[CycleRequest | None, Body()] = None,
) -> CycleResponse:
    """Run the cycle synchronously and return its summary. A BLOCKED or FAILED cycle is still
    200 (the cycle ran; `exit_code` and `summary.status` say how it went)."""
    asof = body.asof if body is not None else None
    result = run_requested_cycle(store, config, notifier, asof=asof, actor="api")
    return CycleResponse(exit_code=result.exit_code, summary=result.summary,
                         plan_id=result.plan.plan_id if result.plan else None)
