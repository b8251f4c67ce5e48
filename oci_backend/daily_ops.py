"""How a `scripts/daily_ops.sh` run ended, made visible: `state/daily_ops.json` (shown by
`/health`), an incident notification and an audit line when the day was skipped, and the exit
code the script returns (the systemd unit counts only 0 as success).

    python -m oci_backend.daily_ops --daily-rc 2 --tickets-rc 0 --log FILE [--busy]

prints `exit N` as its last line: 0 OK or holiday, 2 skipped (busy, stale/missing data,
blocked plan), 1 failure.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from contracts.audit import AuditAction, AuditEntry
from contracts.common import now_kst
from contracts.ops import DailyOpsStatus
from krx_common.atomic import atomic_write_model, read_model
from krx_common.defaults import KST
from oci_backend.notify import NotificationKind, Notifier
from oci_backend.paths import data_paths
from oci_backend.store import Store


def classify(store: Store, *, daily_rc: int, tickets_rc: int, busy: bool,
             log: str | None = None) -> DailyOpsStatus:
    """The outcome of one run from the exit codes of its steps and the latest summary."""
    now = now_kst()
    if busy:
        return DailyOpsStatus(
            finished_at=now, outcome="BUSY", exit_code=2, log=log,
            message="skipped: another daily_ops run holds the lock; this run did nothing")
    if daily_rc not in (0, 2):
        return DailyOpsStatus(finished_at=now, outcome="FAILED", exit_code=1, log=log,
                              message=f"krx daily exited {daily_rc}; see the log")
    if tickets_rc != 0:
        return DailyOpsStatus(finished_at=now, outcome="FAILED", exit_code=1, log=log,
                              message=f"krx oci process-tickets exited {tickets_rc}; see the log")
    if daily_rc == 0:
        return DailyOpsStatus(finished_at=now, outcome="OK", exit_code=0, log=log,
                              message="cycle and ticket pass done")
    summary = store.summary()
    today = now.astimezone(KST).date()
    if summary is not None and summary.holiday and summary.run_at.astimezone(KST).date() == today:
        return DailyOpsStatus(finished_at=now, outcome="HOLIDAY", exit_code=0, log=log,
                              message=summary.message)
    message = summary.message if summary is not None else "krx daily exited 2 (no summary)"
    return DailyOpsStatus(finished_at=now, outcome="BLOCKED", exit_code=2, log=log,
                          message=f"skipped: {message}")


def record(store: Store, status: DailyOpsStatus, notifier: Notifier | None = None) -> None:
    """Write the status; for a skipped or failed day also an audit line and an incident."""
    atomic_write_model(store.paths.daily_ops, status)
    if status.outcome in ("OK", "HOLIDAY"):
        return
    if status.outcome == "BUSY":  # the cycle itself did not run, so it left no audit line
        store.audit_log.append(AuditEntry(
            actor="daily_ops", action=AuditAction.DAILY_RUN, target="daily_ops",
            reason=status.message, details={"outcome": status.outcome, "log": status.log}))
    if notifier is not None:
        kind = (NotificationKind.CYCLE_FAILED if status.outcome == "FAILED"
                else NotificationKind.DAILY_OPS_SKIPPED)
        notifier.send_once(kind, f"KRX Alertor: daily ops {status.outcome}",
                           f"{status.message}\nlog: {status.log or '-'}")


def last_status(store: Store) -> DailyOpsStatus | None:
    return read_model(store.paths.daily_ops, DailyOpsStatus)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m oci_backend.daily_ops")
    ap.add_argument("--daily-rc", type=int, default=0)
    ap.add_argument("--tickets-rc", type=int, default=0)
    ap.add_argument("--busy", action="store_true")
    ap.add_argument("--log", default=None)
    ap.add_argument("--data-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    store = Store(data_paths(args.data_dir))
    status = classify(store, daily_rc=args.daily_rc, tickets_rc=args.tickets_rc,
                      busy=args.busy, log=args.log)
    urls = [u for u in os.environ.get("KRX_OCI_NOTIFY_URLS", "").replace(",", " ").split() if u]
    record(store, status, Notifier(store, urls))
    print(f"daily_ops status: {status.outcome}: {status.message}")
    print(f"exit {status.exit_code}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
