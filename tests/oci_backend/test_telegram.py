"""The Telegram command channel end to end: `krx telegram serve` as a real process polling the
fake Bot API (`fake_telegram`, uvicorn on loopback) over a real replay data root."""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fake_telegram import FakeTelegram
from oci_server import REPO, REPO_DAILY

from contracts.audit import AuditAction
from contracts.settings import ExecutionMode, Settings, TelegramPrefs
from contracts.ticket import TicketState
from krx_common.procs import spawn, stop_all
from oci_backend.notify import Notifier
from oci_backend.paths import data_paths
from oci_backend.pipeline import run_cycle
from oci_backend.replay_root import create_replay_root
from oci_backend.store import Store
from oci_backend.telegram.commands import CommandCenter
from oci_backend.tickets import list_tickets, opens_from_bars, process_pending
from strategy.marketdata import make_provider

DATA = f"csv:{REPO_DAILY}"
FOUR = {"rsi_period": 14, "rsi_buy_threshold": 45.0, "rsi_sell_threshold": 60.0,
        "adx_threshold": 10.0}
SESSION = date(2024, 7, 2)  # READY, two buys, on a fresh root with the four-parameter set
CHAT, USER = 5550001, 4440001
STRANGER_CHAT, STRANGER = 9990001, 8880001

pytestmark = pytest.mark.integration


def _settings(mode: ExecutionMode) -> Settings:
    s = Settings(execution_mode=mode,
                 telegram=TelegramPrefs(allowed_chat_ids=[CHAT], allowed_user_ids=[USER]))
    return s.model_copy(update={"strategy": s.strategy.model_copy(update=FOUR)})


def make_root(root: Path, mode: ExecutionMode = ExecutionMode.DRY_RUN) -> Store:
    store = create_replay_root(data_paths(root), label="telegram test", data_spec=DATA,
                               settings=_settings(mode))
    result = run_cycle(store, data_spec=DATA, asof=SESSION, actor="test", requested=True)
    assert result.plan is not None and result.plan.orders
    return store


@dataclass
class Bot:
    fake: FakeTelegram
    store: Store
    token: str
    log_path: Path
    proc: Any

    def ask(self, text: str, chat: int = CHAT, user: int = USER,
            timeout: float = 60) -> list[dict[str, Any]]:
        n = len(self.fake.sent())
        self.fake.send(chat, user, text)
        return self._wait(n, timeout)

    def press(self, data: str, chat: int = CHAT, user: int = USER,
              timeout: float = 60) -> list[dict[str, Any]]:
        n = len(self.fake.sent())
        self.fake.press(chat, user, data)
        return self._wait(n, timeout, want=2)

    def _wait(self, n: int, timeout: float, want: int = 1) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sent = self.fake.sent()
            if len(sent) >= n + want:
                time.sleep(0.2)
                return self.fake.sent()[n:]
            assert self.proc.poll() is None, self.log()
            time.sleep(0.05)
        raise AssertionError(f"no reply within {timeout}s\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def text_of(sent: list[dict[str, Any]]) -> str:
    return "\n".join(str(s.get("text", "")) for s in sent)


def button(sent: list[dict[str, Any]], index: int = 0) -> str:
    for s in sent:
        markup = s.get("reply_markup")
        if markup:
            return str(markup["inline_keyboard"][0][index]["callback_data"])
    raise AssertionError(f"no button in {sent}")


@pytest.fixture
def bot_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[tuple[FakeTelegram, Any]] = []

    def start(mode: ExecutionMode = ExecutionMode.DRY_RUN) -> Bot:
        root = tmp_path / "root"
        store = make_root(root, mode)
        token = f"{secrets.randbelow(10**9)}:AA{secrets.token_urlsafe(24)}"
        fake = FakeTelegram(token).start()
        token_file = tmp_path / "telegram.token"
        token_file.write_text(token + "\n", encoding="utf-8")
        token_file.chmod(0o600)
        env = {**os.environ, "PYTHONPATH": str(REPO), "KRX_TELEGRAM_TOKEN_FILE": str(token_file),
               "KRX_TELEGRAM_API_URL": fake.root, "KRX_OCI_DATA_SPEC": DATA}
        env.pop("KRX_TELEGRAM_LANG", None)
        log_path = tmp_path / "bot.log"
        proc = spawn([sys.executable, "-m", "krx_cli.main", "telegram", "serve", "--data-dir",
                      str(root), "--poll-timeout", "1", "--log-level", "debug"], env,
                     log_path=log_path)
        started.append((fake, proc))
        bot = Bot(fake, store, token, log_path, proc)
        deadline = time.monotonic() + 60
        while "setMyCommands" not in fake.state.calls:
            assert proc.poll() is None and time.monotonic() < deadline, bot.log()
            time.sleep(0.05)
        return bot

    yield start
    for fake, proc in started:
        stop_all([proc])
        fake.stop()


def _paper_fill(store: Store) -> None:
    """What OCI's ticket processor does after the next open (the test plays the scheduler)."""
    s = store.settings()
    bars = make_provider(DATA).load(list(dict.fromkeys([s.benchmark, *s.universe])),
                                    end=SESSION + timedelta(days=10))
    process_pending(store, opens=opens_from_bars(bars))


def test_the_whole_morning_over_telegram(bot_factory: Any) -> None:
    bot = bot_factory()
    status = text_of(bot.ask("/status"))
    assert "READY" in status and "DRY_RUN" in status and "asof 2024-07-02" in status
    plan = bot.store.current_plan()
    assert plan is not None
    plan_text = text_of(bot.ask("/plan"))
    assert plan.plan_id in plan_text and "매수" in plan_text and "가드레일" in plan_text
    draft = text_of(bot.ask("/draft"))
    assert "주문표 초안" in draft and "/approve" in draft
    asked = bot.ask("/approve")
    assert "제출할까요" in text_of(asked)
    answer = bot.press(button(asked))
    assert [s["method"] for s in answer] == ["answerCallbackQuery", "editMessageText"]
    assert "제출됨" in text_of(answer)
    assert f"제출됨 (제출자 telegram:{USER})" in text_of(answer)  # the event, in words
    assert "submitted by" not in text_of(answer)
    [rec] = list_tickets(bot.store)
    assert rec.state is TicketState.SUBMITTED
    entry = [e for e in bot.store.audit_log.tail(10) if e.target == rec.ticket.ticket_id][-1]
    assert entry.actor == f"telegram:{USER}"
    _paper_fill(bot.store)
    fills = text_of(bot.ask("/fills"))
    assert "DRY_RUN_FILLED" in fills and "체결" in fills
    assert "모의 체결" in fills and "paper-filled" not in fills, fills
    assert len(list_tickets(bot.store)[0].fills) == len(plan.orders)
    portfolio = text_of(bot.ask("/portfolio"))
    assert "보유: 2" in portfolio
    english = text_of(bot.ask("/lang en")) + text_of(bot.ask("/help"))
    assert "Language: English" in english and "/approve submit" in english
    assert "Unknown command" in text_of(bot.ask("/nonsense"))


def test_the_same_button_twice_gives_one_ticket(bot_factory: Any) -> None:
    bot = bot_factory()
    bot.ask("/draft")
    data = button(bot.ask("/approve"))
    first = bot.press(data)
    second = bot.press(data)
    assert "제출됨" in text_of(first)
    assert "이미 처리된 버튼" in text_of(second)
    # a second /approve of the same draft reuses the draft's idempotency key: the same ticket
    again = bot.press(button(bot.ask("/approve")))
    assert "이미 제출된 주문표" in text_of(again)
    assert len(list_tickets(bot.store)) == 1


def test_approve_after_the_plan_changed_is_refused_as_stale(bot_factory: Any) -> None:
    bot = bot_factory()
    bot.ask("/draft")
    data = button(bot.ask("/approve"))
    s = bot.store.settings()
    bot.store.push(bot.store.revision(), portfolio=None, settings=s.model_copy(
        update={"guardrails": s.guardrails.model_copy(update={"max_orders": 19})}),
        reason="test: a change after the draft", actor="test")
    answer = text_of(bot.press(data))
    assert "거부" in answer and "계획이 바뀌었습니다" in answer
    assert list_tickets(bot.store) == []


def test_approve_under_the_emergency_stop_is_refused_and_stop_resume_are_audited(
        bot_factory: Any) -> None:
    bot = bot_factory()
    bot.ask("/draft")
    approve = button(bot.ask("/approve"))
    assert "사유" in text_of(bot.ask("/stop"))  # a reason is required
    stop = bot.ask("/stop 시장 급변")
    assert not bot.store.emergency_stop().on  # not before the confirmation
    assert "비상정지를 켰습니다" in text_of(bot.press(button(stop)))
    assert bot.store.emergency_stop().on
    entry = bot.store.audit_log.read(limit=1, action=AuditAction.EMERGENCY_STOP)[-1]
    assert (entry.actor, entry.reason) == (f"telegram:{USER}", "시장 급변")
    refused = text_of(bot.press(approve))
    assert "거부" in refused and "emergency stop is on" in refused
    assert list_tickets(bot.store) == []
    assert "켜짐" in text_of(bot.ask("/status"))
    cancel = bot.ask("/resume 확인 완료")
    assert "취소" in text_of(bot.press(button(cancel, 1)))
    assert bot.store.emergency_stop().on
    assert "껐습니다" in text_of(bot.press(button(bot.ask("/resume 확인 완료"))))
    assert not bot.store.emergency_stop().on
    audit = text_of(bot.ask("/audit 3"))
    assert f"telegram:{USER} EMERGENCY_STOP" in audit and "확인 완료" in audit


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "lock" not in p.name}


def test_an_unauthorised_chat_changes_nothing_and_gets_no_reply(bot_factory: Any) -> None:
    bot = bot_factory()
    root = bot.store.paths.root
    before = _hashes(root)
    ids = [bot.fake.send(STRANGER_CHAT, STRANGER, cmd)
           for cmd in ("/status", "/draft", "/approve", "/stop 해킹", "/audit")]
    ids.append(bot.fake.send(CHAT, STRANGER, "/stop 다른 사람"))  # allowed chat, other user
    ids.append(bot.fake.send(STRANGER_CHAT, USER, "/stop 다른 방"))  # allowed user, other chat
    ids.append(bot.fake.press(STRANGER_CHAT, STRANGER, "ok:guess"))
    deadline = time.monotonic() + 30
    while not set(ids) <= set(bot.fake.delivered()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # the operator's next command is answered: everything before it was handled
    assert "READY" in text_of(bot.ask("/status"))
    assert [s for s in bot.fake.sent() if s.get("chat_id") in (STRANGER_CHAT, str(
        STRANGER_CHAT))] == []
    assert len(bot.fake.sent()) == 1
    assert _hashes(root) == before
    warnings = [line for line in bot.log().splitlines() if "not on the allowlist" in line]
    assert len(warnings) == 3  # once per sender within the minute
    assert "해킹" not in bot.log() and "다른" not in bot.log()


def test_the_api_dropped_mid_poll_the_bot_recovers_and_handles_each_update_once(
        bot_factory: Any) -> None:
    bot = bot_factory()
    assert "READY" in text_of(bot.ask("/status"))
    time.sleep(0.3)  # a getUpdates is in flight
    bot.fake.stop()
    time.sleep(3)  # the bot's polls fail meanwhile
    bot.fake.send(CHAT, USER, "/audit 1")  # queued while the API is down
    bot.fake.start()
    deadline = time.monotonic() + 60
    while len(bot.fake.sent()) < 2:
        assert bot.proc.poll() is None and time.monotonic() < deadline, bot.log()
        time.sleep(0.05)
    assert "READY" in text_of(bot.ask("/status"))
    time.sleep(2)  # a few more polls: nothing is handed out or answered again
    delivered = bot.fake.delivered()
    assert len(delivered) == len(set(delivered)) == 3
    assert len(bot.fake.sent()) == 3
    assert bot.proc.poll() is None


def test_the_token_is_masked_in_every_log_line(bot_factory: Any) -> None:
    bot = bot_factory()
    bot.ask("/status")
    bot.fake.stop()  # errors with the URL in them
    time.sleep(2.5)
    bot.fake.start()
    bot.ask("/help")
    log = bot.log()
    assert "getUpdates" in log and "<telegram-token>" in log  # httpx's URL lines, masked
    assert bot.token not in log
    assert bot.token.split(":", 1)[1] not in log


def test_the_token_file_must_be_0600(tmp_path: Path) -> None:
    import subprocess

    token_file = tmp_path / "telegram.token"
    token_file.write_text("123:abcdef\n", encoding="utf-8")
    token_file.chmod(0o644)
    env = {**os.environ, "PYTHONPATH": str(REPO), "KRX_TELEGRAM_TOKEN_FILE": str(token_file)}
    out = subprocess.run([sys.executable, "-m", "krx_cli.main", "telegram", "serve",
                          "--data-dir", str(tmp_path / "root")], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "chmod 600" in out.stderr and "abcdef" not in out.stderr


def test_buttons_expire_after_ten_minutes_and_belong_to_their_user(tmp_path: Path) -> None:
    store = make_root(tmp_path / "root")
    s = store.settings()
    store.push(store.revision(), portfolio=None, settings=s.model_copy(update={
        "telegram": TelegramPrefs(allowed_chat_ids=[CHAT], allowed_user_ids=[USER, USER + 1])}),
        reason="test: a second operator", actor="test")
    now = [store.current_plan().created_at]  # type: ignore[union-attr]
    center = CommandCenter(store, Notifier(store), request_replan=lambda actor: None,
                           clock=lambda: now[0])
    center.on_message(CHAT, USER, "/draft")
    [asked] = center.on_message(CHAT, USER, "/approve") or []
    data = asked.buttons[0].data
    assert "다른 사용자" in center.on_button(CHAT, USER + 1, data).text  # type: ignore[union-attr]
    assert center.on_button(CHAT, USER + 2, data) is None  # not allowlisted: no answer
    now[0] += timedelta(minutes=10, seconds=1)
    assert "만료" in center.on_button(CHAT, USER, data).text  # type: ignore[union-attr]
    assert list_tickets(store) == []
    # a flood is rate limited per chat: one warning, then silence
    replies = [center.on_message(CHAT, USER, "/help") for _ in range(25)]
    assert sum(1 for r in replies if r and "너무 많습니다" in r[0].text) == 1
    assert replies[-1] is None


def test_manual_fill_is_recorded_after_confirmation_and_audited(bot_factory: Any) -> None:
    bot = bot_factory(ExecutionMode.MANUAL)
    bot.ask("/draft")
    assert "제출됨" in text_of(bot.press(button(bot.ask("/approve"))))
    [rec] = list_tickets(bot.store)
    order = rec.ticket.orders[0]
    assert "사용법" in text_of(bot.ask("/fill"))
    assert "열린 주문표가 없습니다" in text_of(bot.ask("/fill 999999 1 1000"))
    cash_before = bot.store.portfolio().cash
    asked = bot.ask(f"/fill {order.ticker} {order.qty} {order.limit_price}")
    assert "기록할까요" in text_of(asked)
    assert list_tickets(bot.store)[0].fills == []  # nothing before the press
    done = text_of(bot.press(button(asked)))
    assert "체결을 기록했습니다" in done
    after = list_tickets(bot.store)[0]
    assert [(f.ticker, f.qty, f.price) for f in after.fills] == [
        (order.ticker, order.qty, float(order.limit_price))]
    assert bot.store.portfolio().cash < cash_before
    held = {h.ticker: h.qty for h in bot.store.portfolio().holdings}
    assert held[order.ticker] == order.qty
    entries = [e for e in bot.store.audit_log.tail(20) if e.actor == f"telegram:{USER}"]
    assert any(e.action is AuditAction.FILLS_RECORDED for e in entries), entries
    assert any(f"/fill {order.ticker} {order.qty}" in e.reason for e in entries), entries


def test_fill_is_for_manual_mode_only(bot_factory: Any) -> None:
    bot = bot_factory()
    assert "MANUAL" in text_of(bot.ask("/fill 069500 1 1000"))


def test_notifications_through_the_bot_per_kind_levels_once_a_day(tmp_path: Path) -> None:
    from oci_backend.notify import NotificationKind
    from oci_backend.telegram_config import TelegramConfig

    store = make_root(tmp_path / "root")
    s = store.settings()
    store.push(store.revision(), portfolio=None, settings=s.model_copy(update={
        "telegram": s.telegram.model_copy(update={"notify": {
            "EMERGENCY_STOP": "silent", "DAILY_SUMMARY": "on", "CYCLE_FAILED": "off"}})}),
        reason="test: notify levels", actor="test")
    token = f"42:AA{secrets.token_urlsafe(24)}"
    fake = FakeTelegram(token).start()
    try:
        notifier = Notifier(store, telegram=TelegramConfig(token=token, api_root=fake.root))
        assert notifier.send_once(NotificationKind.EMERGENCY_STOP, "stop", "on")
        assert notifier.send_once(NotificationKind.DAILY_SUMMARY, "daily", "ok")
        assert not notifier.send_once(NotificationKind.CYCLE_FAILED, "failed", "x")  # off
        assert not notifier.send_once(NotificationKind.PLAN_BLOCKED, "blocked", "x")  # unlisted
        assert not notifier.send_once(NotificationKind.EMERGENCY_STOP, "stop", "again")  # today
        sent = [(m["chat_id"], m["text"], m["disable_notification"]) for m in fake.sent()]
        assert sent == [(CHAT, "stop\non", True), (CHAT, "daily\nok", False)]
        fake.stop()  # the Bot API down: not delivered, not marked, retried by the next trigger
        assert not notifier.send_once(NotificationKind.DAILY_SUMMARY, "daily", "x",
                                      day=date(2030, 1, 2))
    finally:
        fake.stop()
