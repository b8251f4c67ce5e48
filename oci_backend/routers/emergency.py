"""`GET|POST /emergency-stop`: the switch that refuses tickets and blocks plans."""

from __future__ import annotations

from fastapi import APIRouter, Response

from contracts.summary import Stage
from contracts.sync import EmergencyStop, EmergencyStopRequest
from oci_backend.deps import ConfigDep, NotifierDep, StoreDep
from oci_backend.pipeline import set_stage
from oci_backend.replan import replan_after_change

router = APIRouter(prefix="/emergency-stop", tags=["emergency"])


@router.get("", response_model=EmergencyStop)
def get_stop(store: StoreDep) -> EmergencyStop:
    return store.emergency_stop()


@router.post("", response_model=EmergencyStop)
def set_stop(body: EmergencyStopRequest, response: Response, store: StoreDep,
             config: ConfigDep, notifier: NotifierDep) -> EmergencyStop:
    """Switch on (effective at once: the summary stage becomes STOPPED, the operator is
    notified) or off (the cycle re-plans the current session so the stage reflects it)."""
    stop = store.set_emergency_stop(body.on, body.reason, body.by)
    if stop.on:
        # No market data involved: a stop must work even when the data feed is the problem.
        set_stage(store, Stage.STOPPED, f"emergency stop by {stop.by}: {stop.reason}")
        notifier.on_emergency_stop(stop)
    else:
        summary = store.summary()
        if summary is not None and summary.stage is Stage.STOPPED:
            replan = replan_after_change(store, config, notifier, actor=f"stop-off:{stop.by}")
            if not replan.replanned:
                response.headers["X-KRX-Replan"] = replan.note.encode("ascii", "replace").decode()
    return stop
