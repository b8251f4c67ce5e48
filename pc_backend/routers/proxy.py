"""Proxied OCI routes: plan, emergency stop, audit, cycle, broker status and reconciliation
(bodies validated here first). The PC holds no broker credential: OCI does the broker calls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from contracts.audit import AuditAction, AuditEntry
from contracts.broker import BrokerStatus, ReconcileResolveRequest, Reconciliation
from contracts.common import KstDatetime
from contracts.ops import CycleRequest, CycleResponse
from contracts.plan import OrderPlan
from contracts.sync import EmergencyStop, EmergencyStopRequest
from pc_backend.deps import ServiceDep

router = APIRouter(tags=["oci"])


@router.get("/plan", response_model=OrderPlan)
def plan(service: ServiceDep) -> OrderPlan:
    return service.current_plan()


@router.get("/emergency-stop", response_model=EmergencyStop)
def get_stop(service: ServiceDep) -> EmergencyStop:
    return service.emergency_stop()


@router.post("/emergency-stop", response_model=EmergencyStop)
def set_stop(body: EmergencyStopRequest, service: ServiceDep) -> EmergencyStop:
    return service.set_emergency_stop(body)


@router.get("/audit", response_model=list[AuditEntry])
def audit(
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: AuditAction | None = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[KstDatetime | None,
                     Query(description="ISO-8601 with offset, e.g. 2025-12-29T09:00:00+09:00")
                     ] = None,
) -> list[AuditEntry]:
    params: dict[str, str | int] = {"limit": limit}
    if action is not None:
        params["action"] = action.value
    if target is not None:
        params["target"] = target
    if since is not None:
        params["since"] = since.isoformat()
    return service.audit(params)


@router.post("/ops/cycle", response_model=CycleResponse)
def run_cycle(service: ServiceDep, body: Annotated[CycleRequest | None, Body()] = None
              ) -> CycleResponse:
    return service.run_cycle(body)


@router.get("/broker/status", response_model=BrokerStatus)
def broker_status(service: ServiceDep) -> BrokerStatus:
    return service.broker_status()


@router.post("/broker/reconcile", response_model=Reconciliation)
def reconcile(service: ServiceDep) -> Reconciliation:
    return service.reconcile()


@router.post("/broker/reconcile/resolve", response_model=Reconciliation)
def resolve(body: ReconcileResolveRequest, service: ServiceDep) -> Reconciliation:
    return service.resolve_reconciliation(body)
