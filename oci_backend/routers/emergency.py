"""`GET|POST /emergency-stop`: the switch that refuses tickets and blocks plans."""

from __future__ import annotations

from fastapi import APIRouter

from contracts.sync import EmergencyStop, EmergencyStopRequest
from oci_backend.deps import BrokerLinkDep, NotifierDep, ReplannerDep, StoreDep
from oci_backend.emergency import switch_emergency_stop

router = APIRouter(prefix="/emergency-stop", tags=["emergency"])


@router.get("", response_model=EmergencyStop)
def get_stop(store: StoreDep) -> EmergencyStop:
    return store.stop_in_force()


@router.post("", response_model=EmergencyStop)
def set_stop(body: EmergencyStopRequest, store: StoreDep, notifier: NotifierDep,
             replanner: ReplannerDep, link: BrokerLinkDep) -> EmergencyStop:
    """Switch on or off: `oci_backend.emergency.switch_emergency_stop`. Switching on with a
    broker cancels every open broker order before it answers (what filled before the cancel
    is recorded; nothing after)."""
    return switch_emergency_stop(store, body.on, body.reason, body.by, notifier=notifier,
                                 request_replan=replanner.request, link=link)
