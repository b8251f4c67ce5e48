"""Notifications through apprise and the Telegram bot: the daily summary and incidents, one
message per kind per day.

Apprise is off unless URLs are configured (`settings.notifications.apprise_urls` and/or
`KRX_OCI_NOTIFY_URLS`). The Telegram bot sends a kind to `settings.telegram.allowed_chat_ids`
when `settings.telegram.notify` gives it `on` (or `silent`: no sound) and the process has the
bot token (`KRX_TELEGRAM_TOKEN_FILE`, `oci_backend.telegram_config`). A kind counts as sent when
one channel delivered it. What was sent is remembered in `state/notify_state.json`; a kind is
marked only after apprise reports success, so a failed send is retried by the next trigger.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from filelock import FileLock
from pydantic import Field

from contracts.common import Contract, now_kst
from contracts.summary import OpsSummary, OverallStatus
from contracts.sync import EmergencyStop
from krx_common.atomic import atomic_write_model, read_model
from krx_common.defaults import KST
from oci_backend.store import Store
from oci_backend.telegram_config import TelegramConfig, configured, send_message

log = logging.getLogger("krx.oci.notify")


class NotificationKind(StrEnum):
    DAILY_SUMMARY = "DAILY_SUMMARY"
    CYCLE_FAILED = "CYCLE_FAILED"
    PLAN_BLOCKED = "PLAN_BLOCKED"
    EMERGENCY_STOP = "EMERGENCY_STOP"
    DAILY_OPS_SKIPPED = "DAILY_OPS_SKIPPED"
    GUARDRAIL_INCIDENT = "GUARDRAIL_INCIDENT"
    MISSED_MORNING = "MISSED_MORNING"
    BROKER_DRIFT = "BROKER_DRIFT"
    BROKER_CLOSE = "BROKER_CLOSE"


INCIDENTS = frozenset({NotificationKind.CYCLE_FAILED, NotificationKind.PLAN_BLOCKED,
                       NotificationKind.EMERGENCY_STOP, NotificationKind.DAILY_OPS_SKIPPED,
                       NotificationKind.GUARDRAIL_INCIDENT, NotificationKind.MISSED_MORNING,
                       NotificationKind.BROKER_DRIFT, NotificationKind.BROKER_CLOSE})


class NotifyState(Contract):
    """`state/notify_state.json`: the KST day each kind was last sent."""

    sent: dict[NotificationKind, date] = Field(default_factory=dict)


Sender = Callable[[list[str], str, str, NotificationKind], bool]
TelegramSender = Callable[[TelegramConfig, int, str], bool]  # (config, chat, text) → delivered


def apprise_send(urls: list[str], title: str, body: str, kind: NotificationKind) -> bool:
    """Send one message to every URL; True when apprise reports success."""
    import apprise  # heavy import, only when something is actually sent

    ap = apprise.Apprise()
    for url in urls:
        if not ap.add(url):
            log.warning("apprise rejected a notification URL (scheme %s)", url.split(":", 1)[0])
    if len(ap) == 0:
        return False
    notify_type = apprise.NotifyType.FAILURE if kind in INCIDENTS else apprise.NotifyType.INFO
    return bool(ap.notify(title=title, body=body, notify_type=notify_type))


class Notifier:
    """Sends each notification kind at most once per KST day."""

    def __init__(
        self, store: Store, env_urls: Sequence[str] = (), *, sender: Sender = apprise_send,
        clock: Callable[[], datetime] = now_kst,
        telegram: TelegramConfig | None | Literal["env"] = "env",
    ) -> None:
        self.store = store
        self.telegram = configured() if telegram == "env" else telegram
        self.env_urls = list(env_urls)
        self._send = sender
        self._clock = clock
        self._thread_lock = threading.Lock()
        self._file_lock = FileLock(str(store.paths.notify_lock), timeout=60)

    def _targets(self, kind: NotificationKind) -> list[str]:
        prefs = self.store.settings().notifications
        wanted = prefs.incidents if kind in INCIDENTS else prefs.daily_summary
        if not wanted:
            return []
        return list(dict.fromkeys([*prefs.apprise_urls, *self.env_urls]))

    def _telegram(self, kind: NotificationKind) -> tuple[list[int], bool]:
        """(chat ids, silent) the bot sends `kind` to; no chats when it is off."""
        if self.telegram is None:
            return [], False
        prefs = self.store.settings().telegram
        level = prefs.notify.get(kind.value, "off")
        if level == "off":
            return [], False
        return list(prefs.allowed_chat_ids), level == "silent"

    def _deliver(self, kind: NotificationKind, urls: list[str], chats: list[int], silent: bool,
                 title: str, body: str) -> bool:
        ok = bool(urls) and self._send(urls, title, body, kind)
        if chats and self.telegram is not None:
            for chat in chats:
                ok = send_message(self.telegram, chat, f"{title}\n{body}", silent=silent) or ok
        return ok

    def send_once(self, kind: NotificationKind, title: str, body: str,
                  day: date | None = None) -> bool:
        """Send unless `kind` was already sent on `day` (KST today by default).

        Returns True when a message went out now. Never raises: a notification outage
        must not fail the cycle or the request that triggered it.
        """
        try:
            urls = self._targets(kind)
            chats, silent = self._telegram(kind)
            if not urls and not chats:
                return False
            day = day or self._clock().astimezone(KST).date()
            # Held across the send so two triggers in the same second send one message.
            with self._thread_lock, self._file_lock:
                state = read_model(self.store.paths.notify_state, NotifyState) or NotifyState()
                if state.sent.get(kind) == day:
                    return False
                if not self._deliver(kind, urls, chats, silent, title, body):
                    log.warning("notification %s was not delivered; will retry on the next "
                                "trigger", kind.value)
                    return False
                state.sent[kind] = day
                atomic_write_model(self.store.paths.notify_state, state)
                return True
        except Exception:
            log.exception("notification %s failed", kind.value)
            return False

    def on_cycle(self, summary: OpsSummary) -> list[NotificationKind]:
        """The `run_cycle` notifier: the daily summary, plus an incident when it failed or
        was blocked. Returns the kinds sent now."""
        day = summary.run_at.astimezone(KST).date()
        sent = []
        if summary.status is OverallStatus.FAILED:
            if self.send_once(NotificationKind.CYCLE_FAILED,
                              "KRX Alertor: daily cycle FAILED", summary.message, day):
                sent.append(NotificationKind.CYCLE_FAILED)
        elif summary.status is OverallStatus.BLOCKED:
            reasons = ", ".join(summary.plan.reasons) if summary.plan else summary.message
            if self.send_once(NotificationKind.PLAN_BLOCKED,
                              f"KRX Alertor: plan BLOCKED for {summary.asof or '-'}",
                              f"{summary.message}\nreasons: {reasons}", day):
                sent.append(NotificationKind.PLAN_BLOCKED)
        if self.send_once(NotificationKind.DAILY_SUMMARY, daily_title(summary),
                          daily_body(summary), day):
            sent.append(NotificationKind.DAILY_SUMMARY)
        return sent

    def on_emergency_stop(self, stop: EmergencyStop) -> bool:
        """Tell the operator an emergency stop was switched on."""
        if not stop.on:
            return False
        return self.send_once(
            NotificationKind.EMERGENCY_STOP, "KRX Alertor: EMERGENCY STOP on",
            f"by {stop.by} at {stop.at:%Y-%m-%d %H:%M %Z}: {stop.reason}\n"
            "Tickets are refused and plans are blocked until it is switched off.",
        )


def daily_title(summary: OpsSummary) -> str:
    return (f"KRX Alertor {summary.asof or summary.run_at.date()}: "
            f"{summary.status.value} · {summary.stage.value}")


def daily_body(summary: OpsSummary) -> str:
    lines = [summary.message, f"mode {summary.execution_mode.value}"]
    if summary.signals is not None:
        regime = summary.signals.regime
        lines.append(f"regime {regime.regime.value}" + (" (chop)" if regime.chop else ""))
    if summary.plan is not None:
        p = summary.plan
        lines.append(f"plan {p.decision.value}: {p.n_sells} sells, {p.n_buys} buys, "
                     f"buy {p.est_buy_notional:,.0f} KRW, sell {p.est_sell_notional:,.0f} KRW")
    for risk in summary.risks:
        lines.append(f"[{risk.severity.value}] {risk.code}: {risk.message}")
    return "\n".join(lines)
