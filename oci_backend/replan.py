"""Cycles the API starts: an operator's "run now" (with optional replay) and the re-plan
after a change of inputs (PUSH, emergency stop switched off).

Both call `pipeline.run_cycle` directly — never the server's own HTTP port (PITFALLS #1).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date

from krx_common.atomic import StoreError
from oci_backend.config import OciConfig
from oci_backend.notify import Notifier
from oci_backend.pipeline import CycleBusy, CycleResult, run_cycle
from oci_backend.store import Store

log = logging.getLogger("krx.oci")


@dataclass(frozen=True)
class Replan:
    replanned: bool
    plan_id: str | None
    note: str


def run_requested_cycle(
    store: Store, config: OciConfig, notifier: Notifier, *, asof: date | None, actor: str,
) -> CycleResult:
    """Run the daily cycle now; an `asof` must pass the cycle's asof rule
    (`pipeline.check_asof`: `AsofRefused` → 409/422), `CycleBusy` propagates (→ 409)."""
    return run_cycle(store, data_spec=config.data_spec, asof=asof, now=config.now, actor=actor,
                     notifier=notifier.on_cycle, requested=True)


def replan_after_change(store: Store, config: OciConfig, notifier: Notifier, *,
                        actor: str, wait_lock: bool = False) -> Replan:
    """Re-run the cycle for the current summary's session after its inputs changed.

    Never raises for a busy lock or unreadable state: the change itself has been stored, so
    the caller reports `replanned=False` with the note instead.
    """
    # A replay root re-plans the session it is at, read under the cycle lock (a cycle that
    # finished while this one waited must not be planned over with its older day); a live
    # root the last completed one.
    try:
        result = run_cycle(store, data_spec=config.data_spec, now=config.now, actor=actor,
                           notifier=notifier.on_cycle, wait_lock=wait_lock,
                           current_session=True)
    except StoreError as exc:
        return Replan(False, None, f"not re-planned: {exc}")
    except CycleBusy:
        return Replan(False, None, "not re-planned: a daily cycle is running; run "
                                   "POST /api/v1/ops/cycle when it has finished")
    plan_id = result.plan.plan_id if result.plan is not None else None
    return Replan(True, plan_id, result.summary.message)


class Replanner:
    """Re-plans in the background after inputs changed (PUSH, emergency stop off).

    `request()` returns at once, so a PUSH answers in milliseconds even when the market-data
    provider is slow. One worker thread runs the cycle, waiting for the cycle lock when the
    cron cycle holds it, and repeats while new requests arrived meanwhile: bursts coalesce
    and the last change is always planned. Clients see the result in the snapshot (the
    summary's revisions reach the pushed revision).
    """

    def __init__(self, store: Store, config: OciConfig, notifier: Notifier) -> None:
        self._store, self._config, self._notifier = store, config, notifier
        self._cond = threading.Condition()
        self._pending: str | None = None
        self._busy = False
        self._closed = False
        self.last: Replan | None = None
        self._thread = threading.Thread(target=self._loop, name="replanner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request(self, actor: str) -> None:
        with self._cond:
            self._pending = actor
            self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """True once nothing is pending or running (False on timeout)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy,
                                       timeout)

    def close(self, timeout: float = 60.0) -> None:
        """Finish what is pending, then stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closed)
                if self._pending is None:
                    return
                actor, self._pending, self._busy = self._pending, None, True
            try:
                self.last = replan_after_change(self._store, self._config, self._notifier,
                                                actor=actor, wait_lock=True)
                log.info("re-planned after a change by %s: %s", actor, self.last.note)
            except Exception:  # the worker must survive anything a cycle throws
                log.exception("re-plan after a change by %s failed", actor)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
