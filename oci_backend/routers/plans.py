"""`GET /plans/current` and `GET /plans/{plan_id}`."""

from __future__ import annotations

from fastapi import APIRouter

from contracts.plan import OrderPlan
from oci_backend.deps import StoreDep
from oci_backend.errors import ApiError

router = APIRouter(prefix="/plans", tags=["plans"])

@router.get("/current", response_model=OrderPlan, responses={404: {"description": "no plan"}})
def current_plan(store: StoreDep) -> OrderPlan:
    """The plan named by the latest summary; 404 when the last cycle made none."""
    plan = store.current_plan()
    if plan is None:
        raise ApiError(404, "NO_PLAN",
                       "no current plan: the latest daily cycle produced none (holiday, "
                       "failure, or no cycle yet); POST /api/v1/ops/cycle")
    return plan


@router.get("/{plan_id}", response_model=OrderPlan, responses={404: {"description": "unknown"}})
def plan_by_id(plan_id: str, store: StoreDep) -> OrderPlan:
    plan = store.plan(plan_id)  # an id that cannot be a file name → InvalidId → 422
    if plan is None:
        raise ApiError(404, "NOT_FOUND", f"no plan {plan_id}", field="plan_id")
    return plan
