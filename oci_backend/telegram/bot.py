"""python-telegram-bot around the command center: long polling (`getUpdates`, no inbound port),
one handler for every update, the command list (`setMyCommands`) at start.

PTB's polling loop keeps the offset (an update is confirmed by the next getUpdates and never
handed out twice) and retries a dropped Bot API with backoff by itself. Updates are handled
one at a time; the service-layer calls run in a worker thread so the loop keeps polling.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from oci_backend.telegram.commands import CommandCenter, Reply
from oci_backend.telegram_config import TelegramConfig

log = logging.getLogger("krx.telegram")

COMMANDS = [("status", "오늘 상태 / status"), ("plan", "주문 계획 / plan"),
            ("portfolio", "포트폴리오 / portfolio"), ("draft", "주문표 작성 / draft"),
            ("approve", "주문표 제출 / approve"), ("fills", "체결 / fills"),
            ("fill", "체결 기록 (MANUAL) / record a fill"), ("stop", "비상정지 / stop"),
            ("resume", "재개 / resume"), ("audit", "감사 로그 / audit"),
            ("help", "도움말 / help")]


def _markup(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.data)
                                  for b in reply.buttons]])


def build_application(config: TelegramConfig, center: CommandCenter, *,
                      poll_timeout: int = 30) -> Application[Any, Any, Any, Any, Any, Any]:
    async def on_update(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not isinstance(update, Update):
            return
        chat = update.effective_chat
        user = update.effective_user
        chat_id = chat.id if chat is not None else None
        user_id = user.id if user is not None else None
        query = update.callback_query
        if query is not None:
            reply = await asyncio.to_thread(center.on_button, chat_id, user_id,
                                            query.data or "")
            if reply is None:
                return  # not allowlisted: no answer at all
            await query.answer()
            if query.message is not None and chat_id is not None:
                await context.bot.edit_message_text(reply.text, chat_id=chat_id,
                                                    message_id=query.message.message_id,
                                                    reply_markup=_markup(reply))
            return
        message = update.message
        if message is None or message.text is None:
            return
        replies = await asyncio.to_thread(center.on_message, chat_id, user_id, message.text)
        for r in replies or []:
            await context.bot.send_message(chat_id=message.chat_id, text=r.text[:4000],
                                           reply_markup=_markup(r))

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("handling an update failed: %s", context.error,
                  exc_info=context.error)

    async def post_init(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        await app.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])
        log.info("Telegram bot polling %s (timeout %ss)", config.api_root, poll_timeout)

    app = (ApplicationBuilder().token(config.token).base_url(config.base_url)
           .base_file_url(f"{config.api_root}/file/bot")
           .get_updates_read_timeout(poll_timeout + 10)
           .post_init(post_init).build())
    app.add_handler(TypeHandler(Update, on_update))
    app.add_error_handler(on_error)
    return app


def run(config: TelegramConfig, center: CommandCenter, *, poll_timeout: int = 30) -> None:
    """Poll until SIGINT/SIGTERM."""
    app = build_application(config, center, poll_timeout=poll_timeout)
    app.run_polling(poll_interval=0.0, timeout=poll_timeout, bootstrap_retries=-1,
                    allowed_updates=["message", "callback_query"])
