"""In-process jobs of the OCI backend (APScheduler 3 `BackgroundScheduler`).

- `ticket-processor`: `tickets.process_pending` every `ticket_interval_s` seconds (unless
  disabled with `KRX_OCI_TICKET_PROCESSOR=false`).
- `daily-cycle`: only with `KRX_OCI_SCHEDULER=internal`, Mon–Fri 09:05 Asia/Seoul. XKRX
  holidays are not filtered here: the cycle itself writes a holiday summary. The cycle lock
  makes a double trigger (this job and the cron/systemd timer) harmless.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from krx_common.defaults import DAILY_RUN_AT, DAILY_RUN_WEEKDAYS, TZ_NAME
from oci_backend.config import OciConfig
from oci_backend.notify import Notifier
from oci_backend.pipeline import CycleBusy, run_cycle
from oci_backend.store import Store
from oci_backend.tickets import opens_from_spec, process_pending

log = logging.getLogger("krx.oci.scheduler")

TICKET_JOB_ID = "ticket-processor"
DAILY_JOB_ID = "daily-cycle"


def daily_cycle_trigger() -> CronTrigger:
    """09:05 KST, Monday to Friday (SPEC.md §1)."""
    return CronTrigger(day_of_week=DAILY_RUN_WEEKDAYS, hour=DAILY_RUN_AT.hour,
                       minute=DAILY_RUN_AT.minute, timezone=TZ_NAME)


def process_tickets_job(store: Store, data_spec: str | None = None) -> None:
    opens = opens_from_spec(data_spec, store.paths.cache_dir) if data_spec else None
    try:
        done = process_pending(store, opens=opens)
    except Exception:  # the job must keep running on the next tick
        log.exception("ticket processor pass failed")
        return
    if done:
        log.info("ticket processor: %d ticket(s) processed", len(done))


def daily_cycle_job(store: Store, config: OciConfig, notifier: Notifier) -> None:
    try:
        result = run_cycle(store, data_spec=config.data_spec, now=config.now,
                           actor="scheduler", notifier=notifier.on_cycle)
    except CycleBusy:
        log.info("daily cycle already running elsewhere (cron or API); skipped this trigger")
        return
    except Exception:
        log.exception("daily cycle crashed")
        return
    log.info("daily cycle: %s", result.summary.message)


def build_scheduler(config: OciConfig, store: Store, notifier: Notifier) -> BackgroundScheduler:
    """The scheduler with its jobs registered, not started."""
    scheduler = BackgroundScheduler(
        timezone=TZ_NAME,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    if config.ticket_processor:
        scheduler.add_job(process_tickets_job, IntervalTrigger(seconds=config.ticket_interval_s),
                          id=TICKET_JOB_ID, args=[store, config.data_spec],
                          name="ticket processor")
    if config.scheduler == "internal":
        # A late start (VM reboot at 09:20) should still run the day's cycle.
        scheduler.add_job(daily_cycle_job, daily_cycle_trigger(), id=DAILY_JOB_ID,
                          args=[store, config, notifier], name="daily cycle",
                          misfire_grace_time=3 * 3600)
    return scheduler
