"""`GET /plans/current` and `GET /plans/{plan_id}`."""

from __future__ import annotations

import re

from fastapi import APIRouter

from contracts.plan import OrderPlan
from oci_backend.deps import StoreDep
from oci_backend.errors import ApiError

router = APIRouter(prefix="/plans", tags=["plans"])

_PLAN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


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
    # The id becomes a file name: no separators, no '..' tricks.
    if not _PLAN_ID.match(plan_id) or plan_id.startswith("."):
        raise ApiError(422, "VALIDATION_ERROR", f"plan_id: {plan_id!r} is not a plan id",
                       field="plan_id")
    plan = store.plan(plan_id)
    if plan is None:
        raise ApiError(404, "NOT_FOUND", f"no plan {plan_id}", field="plan_id")
    return plan
