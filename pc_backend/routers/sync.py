"""Status, PULL, snapshot, diff, PUSH and conflict resolution."""

from __future__ import annotations

from fastapi import APIRouter, Response

from contracts.pc import Diff, PcPushRequest, PcPushResponse, PcStatus, PullResult, ResolveRequest
from contracts.sync import SyncSnapshot
from pc_backend.deps import ServiceDep

router = APIRouter(tags=["sync"])


@router.get("/status", response_model=PcStatus)
def status(service: ServiceDep) -> PcStatus:
    """Tunnel state, OCI reachability and latency, last pull, unpushed edits, conflicts."""
    return service.status()


@router.post("/pull", response_model=PullResult)
def pull(service: ServiceDep) -> PullResult:
    """Fetch OCI's snapshot; local edits are rebased onto it (conflicts reported)."""
    return service.pull()


@router.get("/snapshot", response_model=SyncSnapshot,
            responses={409: {"description": "nothing pulled yet"}})
def snapshot(service: ServiceDep) -> Response:
    """The last pulled `SyncSnapshot`, as OCI sent it."""
    raw = service.snapshot_bytes()
    return Response(raw, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get("/diff", response_model=Diff)
def diff(service: ServiceDep) -> Diff:
    return service.diff()


@router.post("/push", response_model=PcPushResponse,
             responses={409: {"description": "CONFLICT: pick a side, nothing was pushed"}})
def push(body: PcPushRequest, service: ServiceDep) -> PcPushResponse:
    return service.push(body)


@router.post("/conflicts/resolve", response_model=Diff)
def resolve(body: ResolveRequest, service: ServiceDep) -> Diff:
    return service.resolve(body.choices)
