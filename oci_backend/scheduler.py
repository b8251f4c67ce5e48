"""In-process jobs of the OCI backend.

- `ticket-processor`: `tickets.process_pending` every `ticket_interval_s` seconds of the
  MONOTONIC clock (`MonotonicLoop`, unless disabled with `KRX_OCI_TICKET_PROCESSOR=false`): a
  wall clock stepped back (NTP, a VM resumed) never stalls it, as APScheduler's wall-clock
  interval trigger did for as long as the step.
- On the wall clock (APScheduler 3 `BackgroundScheduler`, Asia/Seoul), where the time of day
  is the point:
  - `daily-cycle`: only with `KRX_OCI_SCHEDULER=internal`, Mon–Fri 09:05. XKRX holidays are
    not filtered here: the cycle itself writes a holiday summary. The cycle lock makes a
    double trigger (this job and the cron/systemd timer) harmless.
  - `morning-watch`: always, Mon–Fri 09:30 and once at start-up: a session day without a
    completed cycle raises MISSED_MORNING (`oci_backend.morning`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from contracts.common import now_kst
from contracts.settings import ExecutionMode
from contracts.ticket import TicketState
from krx_common.atomic import StoreError
from krx_common.defaults import (
    DAILY_RUN_AT,
    DAILY_RUN_WEEKDAYS,
    KST,
    MORNING_DEADLINE,
    TZ_NAME,
)
from oci_backend import reconcile as recon
from oci_backend.broker_link import BrokerLink
from oci_backend.config import OciConfig
from oci_backend.morning import morning_watch_job
from oci_backend.notify import NotificationKind, Notifier
from oci_backend.pipeline import CycleBusy, run_cycle
from oci_backend.store import Store
from oci_backend.tickets import opens_from_spec, process_pending
from oci_backend.tickets.hts_import import import_manual_fills

log = logging.getLogger("krx.oci.scheduler")

TICKET_JOB_ID = "ticket-processor"
RECONCILE_EVERY_S = 300.0
DAILY_JOB_ID = "daily-cycle"
MORNING_JOB_ID = "morning-watch"


class MonotonicLoop:
    """Calls `fn()` every `interval` seconds of the monotonic clock in one daemon thread.

    The next pass is due `interval` after the previous one STARTED (a slow pass is followed
    at once by the next, never by a burst). `stop()` wakes the thread and, with `wait`,
    joins it after the pass in progress."""

    def __init__(self, job_id: str, interval: float, fn: Callable[[], None]) -> None:
        self.id = job_id
        self.interval = interval
        self._fn = fn
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=job_id, daemon=True)
        self.passes = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self._fn()
            self.passes += 1
            # Event.wait measures its timeout on the monotonic clock.
            self._stop.wait(max(0.0, started + self.interval - time.monotonic()))

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        if wait and self._thread.is_alive():
            self._thread.join()


def daily_cycle_trigger() -> CronTrigger:
    """09:05 KST, Monday to Friday (SPEC.md §1)."""
    return CronTrigger(day_of_week=DAILY_RUN_WEEKDAYS, hour=DAILY_RUN_AT.hour,
                       minute=DAILY_RUN_AT.minute, timezone=TZ_NAME)


def process_tickets_job(store: Store, data_spec: str | None = None,
                        link: BrokerLink | None = None, notifier: Notifier | None = None,
                        reconcile_every_s: float = RECONCILE_EVERY_S) -> None:
    opens = opens_from_spec(data_spec, store.paths.cache_dir) if data_spec else None
    try:
        done = process_pending(store, opens=opens, link=link or BrokerLink())
        if link is not None and link.configured:
            done += import_manual_fills(store, link)
    except Exception:  # the job must keep running on the next tick
        log.exception("ticket processor pass failed")
        return
    if done:
        log.info("ticket processor: %d ticket(s) processed", len(done))
    if link is None or not link.configured:
        return
    closed = [r for r in done if r.state is TicketState.CANCELLED and "the close" in r.message]
    if closed and notifier is not None:
        notifier.send_once(NotificationKind.BROKER_CLOSE,
                           "KRX Alertor: unfilled orders cancelled at the close",
                           "\n".join(f"{r.ticket.ticket_id}: {r.message}" for r in closed))
    try:
        reconcile_when_due(store, link, notifier, changed=bool(done),
                           every_s=reconcile_every_s)
    except Exception:
        log.exception("reconciliation failed")


def reconcile_when_due(store: Store, link: BrokerLink, notifier: Notifier | None, *,
                       changed: bool, every_s: float) -> bool:
    """Reconcile in a broker mode (and MANUAL with credentials) after a pass that changed a
    ticket, else every `every_s`; never while a broker order may still fill (SENDING, SENT,
    partially filled: the book lags the broker by one poll). True when it ran."""
    mode = store.settings().execution_mode
    if not (mode.is_broker or mode is ExecutionMode.MANUAL):
        return False
    if recon.open_at_broker(store):
        return False
    last = recon.last(store)
    if not changed and last is not None and (
            now_kst() - last.at).total_seconds() < every_s:
        return False
    recon.reconcile(store, link, actor="processor", on_drift=recon.drift_notice(notifier))
    return True


def daily_cycle_job(store: Store, config: OciConfig, notifier: Notifier) -> None:
    try:
        result = run_cycle(store, data_spec=config.data_spec, now=config.now,
                           actor="scheduler", notifier=notifier.on_cycle)
    except CycleBusy:
        log.info("daily cycle already running elsewhere (cron or API); skipped this trigger")
        return
    except StoreError as exc:  # a read-only or full data root: its message names it
        log.error("daily cycle could not run: %s", exc)
        return
    except Exception:
        log.exception("daily cycle crashed")
        return
    log.info("daily cycle: %s", result.summary.message)


def morning_watch_trigger() -> CronTrigger:
    """09:30 KST, Monday to Friday: the deadline of the day's cycle."""
    return CronTrigger(day_of_week=DAILY_RUN_WEEKDAYS, hour=MORNING_DEADLINE.hour,
                       minute=MORNING_DEADLINE.minute, timezone=TZ_NAME)


def morning_job(store: Store, config: OciConfig, notifier: Notifier) -> None:
    try:
        morning_watch_job(store, notifier, clock=lambda: config.now or now_kst())
    except Exception:  # the watch must keep running on the next trigger
        log.exception("morning watch failed")


def build_ticket_loop(config: OciConfig, store: Store, link: BrokerLink | None = None,
                      notifier: Notifier | None = None) -> MonotonicLoop | None:
    """The ticket processor's loop (not started), or None when it is disabled. With a broker
    (`link`) it also sends broker-mode tickets and follows their orders, every
    `broker_poll_s` at most `ticket_interval_s` apart."""
    if not config.ticket_processor:
        return None
    interval = min(config.ticket_interval_s, config.broker_poll_s) if (
        link is not None and link.configured) else config.ticket_interval_s
    return MonotonicLoop(TICKET_JOB_ID, interval,
                         lambda: process_tickets_job(store, config.data_spec, link, notifier,
                                                     config.reconcile_every_s))


def build_scheduler(config: OciConfig, store: Store, notifier: Notifier) -> BackgroundScheduler:
    """The wall-clock scheduler with its jobs registered, not started."""
    scheduler = BackgroundScheduler(
        timezone=TZ_NAME,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    if config.morning_watch:
        # Also once at start-up: a VM that was down at 09:30 hears of the missed morning on boot.
        scheduler.add_job(morning_job, morning_watch_trigger(), id=MORNING_JOB_ID,
                          args=[store, config, notifier], name="morning watch",
                          next_run_time=datetime.now(KST))
    if config.scheduler == "internal":
        # A late start (VM reboot at 09:20) should still run the day's cycle.
        scheduler.add_job(daily_cycle_job, daily_cycle_trigger(), id=DAILY_JOB_ID,
                          args=[store, config, notifier], name="daily cycle",
                          misfire_grace_time=3 * 3600)
    return scheduler
