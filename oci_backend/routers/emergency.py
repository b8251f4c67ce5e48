"""`GET|POST /emergency-stop`: the switch that refuses tickets and blocks plans."""

from __future__ import annotations

from fastapi import APIRouter

from contracts.summary import Stage
from contracts.sync import EmergencyStop, EmergencyStopRequest
from oci_backend.deps import NotifierDep, ReplannerDep, StoreDep

router = APIRouter(prefix="/emergency-stop", tags=["emergency"])


@router.get("", response_model=EmergencyStop)
def get_stop(store: StoreDep) -> EmergencyStop:
    return store.stop_in_force()


@router.post("", response_model=EmergencyStop)
def set_stop(body: EmergencyStopRequest, store: StoreDep, notifier: NotifierDep,
             replanner: ReplannerDep) -> EmergencyStop:
    """Switch on (effective at once: the summary stage becomes STOPPED, the operator is
    notified) or off (the current session is re-planned in the background so the stage
    reflects it)."""
    stop = store.set_emergency_stop(body.on, body.reason, body.by)
    if stop.on:
        # No market data involved: a stop must work even when the data feed is the problem.
        store.set_stage(Stage.STOPPED, f"emergency stop by {stop.by}: {stop.reason}")
        notifier.on_emergency_stop(stop)
    else:
        summary = store.summary()
        if summary is not None and summary.stage is Stage.STOPPED:
            replanner.request(f"stop-off:{stop.by}")
    return stop
