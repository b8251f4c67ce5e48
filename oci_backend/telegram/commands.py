"""The command center: what the bot does with one update, with no Telegram transport in it.

Calls OCI's service layer in-process (the store, `tickets.submit_ticket`/`record_fills`,
`emergency.switch_emergency_stop`, `strategy.ticketing.draft_ticket`); it writes no file by
itself. Drafts and pending confirmations live in memory only: a restart forgets them, and a
button from before the restart is refused as unknown.

- An update is answered only when its chat is in `settings.telegram.allowed_chat_ids` AND its
  sender in `allowed_user_ids` (read per update: a PUSH takes effect at once). Anything else
  gets no answer and has no effect; it is logged at most once a minute per sender, without
  the text.
- Each chat may send `RATE_MAX` commands per `RATE_WINDOW_S`; beyond, one "too many" reply.
- State changes (/approve, /fill, /stop, /resume) need a button press: the button is bound to
  what it confirms (for /approve the ticket id, the plan id and OCI's revision), valid
  `CONFIRM_TTL`, usable once, only by the user who asked. They are audited by OCI with actor
  `telegram:<user id>` and the reason.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from contracts.common import now_kst
from contracts.settings import ExecutionMode
from contracts.summary import Severity
from contracts.ticket import TERMINAL_STATES, Fill, FillsRequest, Ticket, TicketRecord
from krx_common import words
from krx_common.atomic import StoreError
from oci_backend.emergency import switch_emergency_stop
from oci_backend.notify import NotificationKind, Notifier
from oci_backend.render import order_line
from oci_backend.store import Store
from oci_backend.telegram.texts import LANGS, pct, shares, t, won
from oci_backend.tickets import TicketError, list_tickets, record_fills, submit_ticket
from strategy import ticketing

R = TypeVar("R")
log = logging.getLogger("krx.telegram")

CONFIRM_TTL = timedelta(minutes=10)
RATE_MAX = 20
RATE_WINDOW_S = 60.0
UNAUTHORISED_LOG_EVERY_S = 60.0
MAX_AUDIT = 50


@dataclass(frozen=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()


@dataclass
class Draft:
    ticket: Ticket
    key: str  # the idempotency key: made once per draft, reused by every submit of it
    revision: int


@dataclass
class Pending:
    kind: Literal["approve", "fill", "stop", "resume"]
    chat_id: int
    user_id: int
    created: datetime
    reason: str = ""
    draft: Draft | None = None
    fill: tuple[str, Fill] | None = None  # (ticket id, fill)
    used: bool = False


@dataclass
class _Chat:
    lang: str
    draft: Draft | None = None
    times: deque[float] = field(default_factory=deque)
    warned: bool = False


def actor_of(user_id: int) -> str:
    return f"telegram:{user_id}"


class CommandCenter:
    """One per bot process; thread-safe (one lock: updates are handled one at a time)."""

    def __init__(self, store: Store, notifier: Notifier, *,
                 request_replan: Callable[[str], object], lang: str = "ko",
                 clock: Callable[[], datetime] = now_kst,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.notifier = notifier
        self.request_replan = request_replan
        self.lang = lang
        self.clock = clock
        self.monotonic = monotonic
        self._chats: dict[int, _Chat] = {}
        self._pending: dict[str, Pending] = {}
        self._unauth_logged: dict[tuple[int | None, int | None], float] = {}
        self._lock = threading.RLock()

    # -- the gate ----------------------------------------------------------------------------
    def allowed(self, chat_id: int | None, user_id: int | None) -> bool:
        if chat_id is None or user_id is None:
            return False
        try:
            prefs = self.store.settings().telegram
        except StoreError as exc:
            log.error("settings unreadable, every update refused: %s", exc)
            return False
        return chat_id in prefs.allowed_chat_ids and user_id in prefs.allowed_user_ids

    def _refuse(self, chat_id: int | None, user_id: int | None) -> None:
        now = self.monotonic()
        key = (chat_id, user_id)
        last = self._unauth_logged.get(key)
        if last is None or now - last >= UNAUTHORISED_LOG_EVERY_S:
            self._unauth_logged[key] = now
            log.warning("ignored an update from chat %s user %s: not on the allowlist "
                        "(settings.telegram)", chat_id, user_id)

    def _serve(self, chat_id: int | None, user_id: int | None,
               limited: Callable[[_Chat], R], handle: Callable[[int, int, _Chat], R]) -> R | None:
        """`handle(chat id, user id, chat)` for an allowed sender within its rate, `limited(chat)`
        over it, under the one lock; None (no answer at all) for anyone else, logged by
        `_refuse`."""
        with self._lock:
            if chat_id is None or user_id is None or not self.allowed(chat_id, user_id):
                self._refuse(chat_id, user_id)
                return None
            chat = self._chat(chat_id)
            if self._limited(chat):
                return limited(chat)
            return handle(chat_id, user_id, chat)

    def _chat(self, chat_id: int) -> _Chat:
        return self._chats.setdefault(chat_id, _Chat(lang=self.lang))

    def _limited(self, chat: _Chat) -> bool:
        now = self.monotonic()
        while chat.times and now - chat.times[0] > RATE_WINDOW_S:
            chat.times.popleft()
        if len(chat.times) >= RATE_MAX:
            return True
        chat.times.append(now)
        chat.warned = False
        return False

    # -- entry points ------------------------------------------------------------------------
    def on_message(self, chat_id: int | None, user_id: int | None,
                   text: str) -> list[Reply] | None:
        """The replies to a text message; None = no answer at all."""

        def limited(chat: _Chat) -> list[Reply] | None:
            if chat.warned:
                return None
            chat.warned = True
            return [Reply(t("rate", chat.lang))]

        return self._serve(chat_id, user_id, limited,
                           lambda c, u, chat: self._on_text(c, u, chat, text))

    def _on_text(self, chat_id: int, user_id: int, chat: _Chat, text: str) -> list[Reply]:
        words = text.strip().split()
        if not words or not words[0].startswith("/"):
            return [Reply(t("unknown", chat.lang))]
        cmd = words[0][1:].split("@", 1)[0].lower()
        args = words[1:]
        try:
            return [self._dispatch(cmd, args, chat_id, user_id, chat)]
        except StoreError as exc:
            return [Reply(f"{t('error', chat.lang)}\n{exc}")]

    def on_button(self, chat_id: int | None, user_id: int | None,
                  data: str) -> Reply | None:
        """The answer to a button press; None = no answer at all."""
        return self._serve(chat_id, user_id, lambda chat: Reply(t("rate", chat.lang)),
                           lambda c, u, chat: self._on_press(c, u, chat, data))

    def _on_press(self, chat_id: int, user_id: int, chat: _Chat, data: str) -> Reply | None:
        action, _, nonce = data.partition(":")
        p = self._pending.get(nonce)
        lang = chat.lang
        if p is None or p.chat_id != chat_id or action not in ("ok", "no"):
            return Reply(t("unknown_btn", lang))
        if p.user_id != user_id:
            return Reply(t("not_yours", lang))
        if p.used:
            return Reply(t("used", lang))
        if self.clock() - p.created > CONFIRM_TTL:
            p.used = True
            return Reply(t("expired", lang))
        p.used = True
        if action == "no":
            return Reply(t("cancelled", lang))
        try:
            return self._confirmed(p, lang)
        except StoreError as exc:
            return Reply(f"{t('error', lang)}\n{exc}")

    # -- commands ----------------------------------------------------------------------------
    def _dispatch(self, cmd: str, args: list[str], chat_id: int, user_id: int,
                  chat: _Chat) -> Reply:
        lang = chat.lang
        if cmd in ("help", "start"):
            return Reply(t("help", lang))
        if cmd == "lang":
            if args and args[0].lower() in LANGS:
                chat.lang = args[0].lower()
            return Reply(t("lang_set", chat.lang))
        if cmd == "status":
            return Reply(self.status(lang))
        if cmd == "plan":
            return Reply(self.plan(lang))
        if cmd == "portfolio":
            return Reply(self.portfolio(lang))
        if cmd == "draft":
            return self.draft(chat, lang)
        if cmd == "approve":
            return self._ask_approve(chat, chat_id, user_id, lang)
        if cmd == "fills":
            return Reply(self.fills(lang))
        if cmd == "fill":
            return self._ask_fill(args, chat_id, user_id, lang)
        if cmd in ("stop", "resume"):
            reason = " ".join(args).strip()
            if not reason:
                return Reply(t("need_reason" if cmd == "stop" else "need_reason_resume", lang))
            return self._ask(Pending(kind=cmd, chat_id=chat_id, user_id=user_id,  # type: ignore[arg-type]
                                     created=self.clock(), reason=reason[:500]),
                             f"{t('stop_q' if cmd == 'stop' else 'resume_q', lang)}\n{reason}",
                             lang)
        if cmd == "audit":
            return Reply(self.audit(args, lang))
        return Reply(t("unknown", lang))

    def status(self, lang: str) -> str:
        summary = self.store.summary()
        stop = self.store.emergency_stop()
        settings = self.store.settings()
        lines = [f"{t('mode', lang)}: {settings.execution_mode.value}",
                 f"{t('stop_on', lang)} ({stop.by}: {stop.reason})" if stop.on
                 else t("stop_off", lang)]
        if summary is None:
            return "\n".join([t("no_summary", lang), *lines])
        lines = [f"{t('stage', lang)}: {summary.stage.value}",
                 f"{t('last_cycle', lang)}: asof {summary.asof or '-'} · "
                 f"{summary.status.value} · {summary.run_at:%Y-%m-%d %H:%M}",
                 summary.message, *lines]
        fr = summary.freshness
        if fr is not None:
            lines.append(f"{t('fresh', lang)}: {t('data_stale' if fr.stale else 'ok', lang)} "
                         f"({fr.provider}, {fr.expected_session or '-'}) {fr.message}".rstrip())
        order = {Severity.CRITICAL: 0, Severity.WARN: 1, Severity.INFO: 2}
        risks = sorted(summary.risks, key=lambda r: order.get(r.severity, 9))
        lines.append(f"{t('risks', lang)}: " + (t("none", lang) if not risks else ""))
        lines += [f"[{r.severity.value}] {r.code}: "
                  + (r.message if lang == "en" else words.risk_text(r.code, r.params, r.message,
                                                                     lang)) for r in risks]
        return "\n".join(line for line in lines if line)

    def plan(self, lang: str) -> str:
        plan = self.store.current_plan()
        if plan is None:
            return t("no_plan", lang)
        settings = self.store.settings()
        lines = [f"{t('plan', lang)} {plan.plan_id} · asof {plan.asof} · {plan.decision.value}",
                 *(r if lang == "en" else "{} ({})".format(*words.plan_reason_text(r, lang))
                   for r in plan.reasons)]
        lines += [order_line(o, plan.asof, settings) for o in plan.orders] or [
            t("no_orders", lang)]
        lines.append(f"{t('guardrails', lang)}:")
        lines += [f"{'✓' if c.ok else '✗'} {c.code} "
                  f"{words.guard_text(c.code, c.value, c.limit, lang)}" for c in plan.checks]
        lines.append(f"{t('cash', lang)} {won(plan.cash, lang)} → {won(plan.est_cash_after, lang)} "
                     f"(reserve {won(plan.reserve, lang)})")
        return "\n".join(lines)

    def portfolio(self, lang: str) -> str:
        p = self.store.portfolio()
        s = self.store.settings()
        summary = self.store.summary()
        closes = {}
        if summary is not None and summary.signals is not None:
            closes = {x.ticker: x.close for x in summary.signals.tickers}
        lines = [f"{t('cash', lang)}: {won(p.cash, lang)} (rev {p.revision})",
                 f"{t('holdings', lang)}: {len(p.holdings) or t('none', lang)}"]
        equity = p.cash
        for h in p.holdings:
            close = closes.get(h.ticker)
            value = h.qty * (close if close is not None else h.avg_price)
            equity += value
            stop_price = h.avg_price * (1 - s.strategy.stop_loss_pct)
            pnl = (close - h.avg_price) * h.qty if close is not None else None
            dist = (close / stop_price - 1) if close else None
            gain = (close / h.avg_price - 1) if close else None
            lines.append(f"{h.ticker} {shares(h.qty, lang)} @ {won(h.avg_price, lang)} · "
                         f"{t('pnl', lang)} {won(pnl, lang)} ({pct(gain)}) · "
                         f"{t('stop_dist', lang)} {pct(dist)} (stop {won(stop_price, lang)})")
        lines.append(f"{t('equity', lang)}: {won(equity, lang)}")
        return "\n".join(lines)

    def draft(self, chat: _Chat, lang: str) -> Reply:
        plan = self.store.current_plan()
        if plan is None:
            return Reply(t("no_plan", lang))
        settings, portfolio = self.store.settings(), self.store.portfolio()
        try:
            ticket = ticketing.draft_ticket(plan, settings, cash=portfolio.cash,
                                            created_at=self.clock())
        except ticketing.TicketDraftError as exc:
            return Reply(f"{t('refused', lang)}: {exc}")
        old = chat.draft
        if old is None or old.ticket.ticket_id != ticket.ticket_id:
            # as the cockpit: a new key per new draft, the same key for the same content
            chat.draft = Draft(ticket=ticket, key=str(uuid.uuid4()),
                               revision=self.store.revision())
        lines = [f"{t('draft', lang)} {ticket.ticket_id} · plan {ticket.plan_id} · "
                 f"{ticket.mode.value}"]
        lines += [f"{o.side.value} {o.ticker} {o.name} {shares(o.qty, lang)} @ "
                  f"{won(o.limit_price, lang)} (≈{won(o.est_notional, lang)})"
                  for o in ticket.orders]
        lines.append(t("draft_next", lang))
        return Reply("\n".join(lines))

    def _ask(self, p: Pending, text: str, lang: str, ok_label: str = "confirm_btn") -> Reply:
        nonce = secrets.token_urlsafe(12)
        self._pending[nonce] = p
        self._expire_old()
        return Reply(text, (Button(t(ok_label, lang), f"ok:{nonce}"),
                            Button(t("cancel_btn", lang), f"no:{nonce}")))

    def _expire_old(self) -> None:
        cutoff = self.clock() - 3 * CONFIRM_TTL
        for k in [k for k, v in self._pending.items() if v.created < cutoff]:
            del self._pending[k]

    def _ask_approve(self, chat: _Chat, chat_id: int, user_id: int, lang: str) -> Reply:
        d = chat.draft
        if d is None:
            return Reply(t("no_draft", lang))
        text = (f"{t('approve_q', lang)}\n{d.ticket.ticket_id} · plan {d.ticket.plan_id} · "
                f"rev {d.revision} · {len(d.ticket.orders)} orders")
        return self._ask(Pending(kind="approve", chat_id=chat_id, user_id=user_id,
                                 created=self.clock(), draft=d), text, lang, "approve_btn")

    def _ask_fill(self, args: list[str], chat_id: int, user_id: int, lang: str) -> Reply:
        if len(args) != 3:
            return Reply(t("fill_usage", lang))
        if self.store.settings().execution_mode is not ExecutionMode.MANUAL:
            return Reply(t("fill_manual", lang))
        ticker = args[0]
        try:
            qty, price = int(args[1]), float(args[2].replace(",", ""))
        except ValueError:
            return Reply(t("fill_usage", lang))
        for rec in list_tickets(self.store, limit=20):
            if rec.state in TERMINAL_STATES:
                continue
            order = next((o for o in rec.ticket.orders if o.ticker == ticker), None)
            if order is None:
                continue
            try:
                fill = Fill(ticker=ticker, side=order.side, qty=qty, price=price,
                            filled_at=self.clock())
            except ValueError as exc:
                return Reply(f"{t('refused', lang)}: {exc}")
            text = (f"{t('fill_q', lang)}\n{rec.ticket.ticket_id}: {order.side.value} {ticker} "
                    f"{shares(qty, lang)} @ {won(price, lang)}")
            return self._ask(Pending(kind="fill", chat_id=chat_id, user_id=user_id,
                                     created=self.clock(), fill=(rec.ticket.ticket_id, fill),
                                     reason=f"/fill {ticker} {qty} {price:g}"), text, lang)
        return Reply(t("fill_no_ticket", lang))

    def fills(self, lang: str) -> str:
        plan = self.store.current_plan()
        recs = list_tickets(self.store, limit=20)
        if plan is not None:
            recs = [r for r in recs if r.ticket.asof == plan.asof] or recs[:3]
        if not recs:
            return t("no_tickets", lang)
        return "\n\n".join(self._ticket_text(r, lang) for r in recs[:5])

    def _ticket_text(self, r: TicketRecord, lang: str) -> str:
        lines = [f"{r.ticket.ticket_id} · {r.state.value} · {r.ticket.mode.value} · "
                 f"asof {r.ticket.asof}", _last_event(r, lang)]
        lines += [f"{t('fills', lang)}: {f.side.value} {f.ticker} {shares(f.qty, lang)} @ "
                  f"{won(f.price, lang)} ({f.filled_at:%m-%d %H:%M})" for f in r.fills]
        return "\n".join(line for line in lines if line)

    def audit(self, args: list[str], lang: str) -> str:
        try:
            n = int(args[0]) if args else 10
        except ValueError:
            return t("audit_usage", lang)
        if not 1 <= n <= MAX_AUDIT:
            return t("audit_usage", lang)
        return "\n".join(f"{e.at:%m-%d %H:%M} {e.actor} {e.action.value} {e.target} {e.reason}"
                         for e in self.store.audit_log.tail(n)) or t("none", lang)

    # -- confirmed actions -------------------------------------------------------------------
    def _confirmed(self, p: Pending, lang: str) -> Reply:
        actor = actor_of(p.user_id)
        if p.kind == "approve":
            assert p.draft is not None
            return self._submit(p.draft, actor, lang)
        if p.kind == "fill":
            assert p.fill is not None
            tid, fill = p.fill

            def incident(record: TicketRecord, message: str) -> None:
                self.notifier.send_once(
                    NotificationKind.GUARDRAIL_INCIDENT,
                    f"KRX Alertor: guardrail incident, ticket {record.ticket.ticket_id}",
                    message)

            try:
                rec = record_fills(self.store, tid, FillsRequest(fills=[fill], note=p.reason),
                                   actor=actor, on_incident=incident)
            except TicketError as exc:
                return Reply(f"{t('refused', lang)}: {exc}")
            return Reply(f"{t('fill_done', lang)}\n{self._ticket_text(rec, lang)}")
        on = p.kind == "stop"
        stop = switch_emergency_stop(self.store, on, p.reason, actor, notifier=self.notifier,
                                     request_replan=self.request_replan)
        return Reply(f"{t('stopped' if stop.on else 'resumed', lang)} ({stop.reason})")

    def _submit(self, d: Draft, actor: str, lang: str) -> Reply:
        plan = self.store.current_plan()
        if plan is None or plan.plan_id != d.ticket.plan_id or \
                self.store.revision() != d.revision:
            now_id = plan.plan_id if plan is not None else "-"
            return Reply(f"{t('refused', lang)}: {t('plan_stale', lang)} "
                         f"(plan {d.ticket.plan_id} rev {d.revision} → {now_id} "
                         f"rev {self.store.revision()})")
        # exactly the cockpit's submit: confirmed, the draft's key, `submit_ticket`'s checks
        ticket = d.ticket.model_copy(update={"confirmed": True})
        try:
            rec, created = submit_ticket(self.store, ticket, d.key, actor=actor)
        except TicketError as exc:
            return Reply(f"{t('refused', lang)}: {exc}")
        head = t("submitted", lang) if created else t("already", lang)
        return Reply(f"{head}: {rec.ticket.ticket_id} · {rec.state.value}\n"
                     f"{_last_event(rec, lang)}")


def _last_event(rec: TicketRecord, lang: str) -> str:
    """The ticket's last event in `lang`, from its code + params; OCI's English message for
    an older record (or in English)."""
    last = rec.events[-1] if rec.events else None
    said = words.ticket_event_text(last.code, last.params, lang) if last is not None else None
    return said if said and lang != "en" else rec.message
