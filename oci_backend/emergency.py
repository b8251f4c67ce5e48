"""The emergency stop switch, as every caller (API, Telegram bot) applies it."""

from __future__ import annotations

import logging
from collections.abc import Callable

from contracts.summary import Stage
from contracts.sync import EmergencyStop
from oci_backend.broker_link import BrokerLink
from oci_backend.notify import Notifier
from oci_backend.store import Store
from oci_backend.tickets.broker_exec import cancel_all

log = logging.getLogger("krx.oci.emergency")


def switch_emergency_stop(store: Store, on: bool, reason: str, by: str, *, notifier: Notifier,
                          request_replan: Callable[[str], object],
                          link: BrokerLink | None = None) -> EmergencyStop:
    """Switch on (effective at once: the summary stage becomes STOPPED, the operator is
    notified) or off (`request_replan(actor)` re-plans the current session so the stage
    reflects it). Audited by the store with actor `by` and `reason`."""
    stop = store.set_emergency_stop(on, reason, by)
    if stop.on:
        # No market data involved: a stop must work even when the data feed is the problem.
        store.set_stage(Stage.STOPPED, f"emergency stop by {stop.by}: {stop.reason}")
        if link is not None and link.configured:
            for line in cancel_all(store, link):
                log.warning("emergency stop: %s", line)
        notifier.on_emergency_stop(stop)
    else:
        summary = store.summary()
        if summary is not None and summary.stage is Stage.STOPPED:
            request_replan(f"stop-off:{stop.by}")
    return stop
