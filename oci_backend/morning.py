"""A missed morning is loud: no daily cycle completed by 09:30 KST on a session day.

Whatever the cause (cron did not fire, the VM was down at 09:05, a lock was held, the cycle
crashed before writing a summary), the operator must hear of it. `missed_morning` is the one
check: `/health` evaluates it on every call (so it holds across restarts without any stored
flag), and the backend's own scheduler runs `morning_watch_job` at 09:30 KST, Monday to Friday,
which raises the incident once per day: an audit line and a MISSED_MORNING notification.
Replay data roots are never checked (their clock is history).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from contracts.audit import AuditAction, AuditEntry
from contracts.common import now_kst
from contracts.summary import OpsSummary
from krx_common.defaults import KST, MORNING_DEADLINE
from oci_backend.notify import NotificationKind, Notifier
from oci_backend.store import Store

if TYPE_CHECKING:
    from strategy.calendar import SessionCalendar

log = logging.getLogger("krx.oci.morning")

MISSED_MORNING = "MISSED_MORNING"


def missed_morning(summary: OpsSummary | None, now: datetime,
                   cal: SessionCalendar | None = None) -> str | None:
    """The incident message when `now` is past 09:30 KST on an XKRX session day and the latest
    summary was not written today (KST); None otherwise. Any completed cycle counts, whatever
    its status: a BLOCKED or FAILED morning is loud on its own."""
    from strategy import calendar

    local = now.astimezone(KST)
    today = local.date()
    if local.time() < MORNING_DEADLINE or not (cal or calendar.XKRX).is_session(today):
        return None
    if summary is not None and summary.run_at.astimezone(KST).date() == today:
        return None
    last = (f"the last one ran {summary.run_at.astimezone(KST):%Y-%m-%d %H:%M} KST"
            if summary is not None else "no cycle has ever run on this data root")
    return (f"{MISSED_MORNING}: no daily cycle completed by {MORNING_DEADLINE:%H:%M} KST on "
            f"session {today} ({last}); check the timer (`systemctl list-timers krx-daily*`), "
            "the cron line and `journalctl -u krx-oci`")


def morning_watch_job(store: Store, notifier: Notifier,
                      clock: Callable[[], datetime] = now_kst) -> str | None:
    """The 09:30 check: on a missed morning, an INCIDENT audit line and a MISSED_MORNING
    notification (at most once per KST day, like every kind). Returns the message, if any."""
    if store.paths.is_replay:
        return None
    now = clock()
    from strategy import calendar

    message = missed_morning(store.summary(), now, calendar.for_settings(store.settings()))
    if message is None:
        return None
    log.error("%s", message)
    day = now.astimezone(KST).date()
    already = any(e.details == {"incident": MISSED_MORNING, "session": day.isoformat()}
                  for e in store.audit_log.read(limit=20, action=AuditAction.INCIDENT))
    if not already:
        store.audit_log.append(AuditEntry(actor="scheduler", action=AuditAction.INCIDENT,
                                      target="daily-cycle", reason=message,
                                      details={"incident": MISSED_MORNING,
                                               "session": day.isoformat()}))
    notifier.send_once(NotificationKind.MISSED_MORNING,
                       f"KRX Alertor: no daily cycle by {MORNING_DEADLINE:%H:%M} KST", message,
                       day)
    return message
