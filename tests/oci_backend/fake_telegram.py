"""A fake Telegram Bot API: a REAL HTTP server (FastAPI on uvicorn, loopback) for the bot tests.

It answers `{root}/bot{token}/{method}` as the real API does — `{"ok": true, "result": ...}` or
`{"ok": false, "error_code": ..., "description": ...}` — for getMe, getUpdates (long polling with
offset/timeout: an offset confirms every update below it), sendMessage, editMessageText,
answerCallbackQuery, setMyCommands, deleteWebhook and getWebhookInfo. Parameters are accepted as
JSON, form fields (nested values JSON-encoded, as python-telegram-bot sends them) or a query.

Test-only routes (not under /bot...): `POST /_test/message`, `POST /_test/callback` inject an
update; `GET /_test/sent` lists what the bot sent (sendMessage, editMessageText,
answerCallbackQuery); `GET /_test/deliveries` lists every update id each getUpdates returned.

The state (`FakeTelegramState`) lives outside the server, so `stop()` + `start()` on the same
port is "the API dropped and came back" with the queue intact.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from krx_common.procs import free_port

BOT_USER = {"id": 7000001, "is_bot": True, "first_name": "KRX Alertor",
            "username": "krx_alertor_test_bot", "can_join_groups": False,
            "can_read_all_group_messages": False, "supports_inline_queries": False}


@dataclass
class FakeTelegramState:
    token: str
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[list[int]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _update_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def next_message_id(self) -> int:
        return next(self._message_ids)


def _user(uid: int) -> dict[str, Any]:
    return {"id": uid, "is_bot": False, "first_name": f"user{uid}", "language_code": "ko"}


def _chat(cid: int) -> dict[str, Any]:
    return {"id": cid, "type": "private", "first_name": f"chat{cid}"}


def _message(state: FakeTelegramState, chat_id: int, sender: dict[str, Any] | None,
             text: str) -> dict[str, Any]:
    msg: dict[str, Any] = {"message_id": state.next_message_id(), "date": int(time.time()),
                           "chat": _chat(chat_id), "text": text}
    if sender is not None:
        msg["from"] = sender
    if text.startswith("/"):
        msg["entities"] = [{"type": "bot_command", "offset": 0,
                            "length": len(text.split()[0])}]
    return msg


def _error(code: int, description: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error_code": code, "description": description},
                        status_code=code)


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


async def _params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    ctype = request.headers.get("content-type", "")
    if "application/json" in ctype:
        body = await request.body()
        if body:
            params.update(json.loads(body))
    elif "form" in ctype:
        form = await request.form()
        for k, v in form.items():
            params[k] = v
    for k, v in list(params.items()):  # nested values arrive JSON-encoded in form fields
        if isinstance(v, str) and v[:1] in "[{":
            try:
                params[k] = json.loads(v)
            except ValueError:
                pass
    return params


def create_fake_app(state: FakeTelegramState) -> FastAPI:
    app = FastAPI()

    @app.post("/_test/message")
    async def inject_message(body: dict[str, Any]) -> dict[str, Any]:
        with state.lock:
            sender = _user(int(body["user_id"])) if body.get("user_id") is not None else None
            update = {"update_id": state.next_update_id(),
                      "message": _message(state, int(body["chat_id"]), sender, body["text"])}
            state.updates.append(update)
        return update

    @app.post("/_test/callback")
    async def inject_callback(body: dict[str, Any]) -> dict[str, Any]:
        with state.lock:
            msg = _message(state, int(body["chat_id"]), BOT_USER, body.get("text", "button"))
            if body.get("message_id") is not None:
                msg["message_id"] = int(body["message_id"])
            update = {"update_id": state.next_update_id(), "callback_query": {
                "id": f"cq{state.next_update_id()}", "from": _user(int(body["user_id"])),
                "chat_instance": f"ci{body['chat_id']}", "data": body["data"], "message": msg}}
            state.updates.append(update)
        return update

    @app.get("/_test/sent")
    async def sent() -> list[dict[str, Any]]:
        with state.lock:
            return list(state.sent)

    @app.get("/_test/deliveries")
    async def deliveries() -> list[list[int]]:
        with state.lock:
            return list(state.deliveries)

    @app.api_route("/bot{token}/{method}", methods=["GET", "POST"])
    async def bot_api(token: str, method: str, request: Request) -> JSONResponse:
        if token != state.token:
            return _error(401, "Unauthorized")
        params = await _params(request)
        with state.lock:
            state.calls.append(method)
        name = method.lower()
        if name == "getme":
            return _ok(BOT_USER)
        if name in ("deletewebhook", "setmycommands"):
            if name == "setmycommands":
                with state.lock:
                    state.commands = list(params.get("commands") or [])
            return _ok(True)
        if name == "getwebhookinfo":
            return _ok({"url": "", "has_custom_certificate": False, "pending_update_count": 0})
        if name == "getupdates":
            return await _get_updates(state, params)
        if name in ("sendmessage", "editmessagetext"):
            if "chat_id" not in params or not params.get("text"):
                return _error(400, "Bad Request: message text is empty")
            with state.lock:
                mid = (int(params["message_id"]) if name == "editmessagetext"
                       and params.get("message_id") is not None else state.next_message_id())
                state.sent.append({"method": method, **params})
                msg = _message(state, int(params["chat_id"]), BOT_USER, str(params["text"]))
                msg["message_id"] = mid
                if params.get("reply_markup"):
                    msg["reply_markup"] = params["reply_markup"]
            return _ok(msg)
        if name == "answercallbackquery":
            with state.lock:
                state.sent.append({"method": method, **params})
            return _ok(True)
        return _error(404, "Not Found")

    return app


async def _get_updates(state: FakeTelegramState, params: dict[str, Any]) -> JSONResponse:
    offset = int(params.get("offset") or 0)
    timeout = float(params.get("timeout") or 0)
    limit = int(params.get("limit") or 100)
    deadline = time.monotonic() + timeout
    while True:
        with state.lock:
            if offset:
                state.updates = [u for u in state.updates if u["update_id"] >= offset]
            batch = state.updates[:limit]
            if batch or time.monotonic() >= deadline:
                state.deliveries.append([u["update_id"] for u in batch])
                return _ok(batch)
        await asyncio.sleep(0.05)


class FakeTelegram:
    """The fake on a loopback port, in a thread of the test process."""

    def __init__(self, token: str, port: int | None = None) -> None:
        self.state = FakeTelegramState(token=token)
        self.port = port or free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeTelegram:
        config = uvicorn.Config(create_fake_app(self.state), host="127.0.0.1", port=self.port,
                                log_level="warning", timeout_graceful_shutdown=1,
                                lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake Telegram API did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            self._thread.join(15)
        self._server = self._thread = None

    # -- what the tests do -----------------------------------------------------------------
    def send(self, chat_id: int, user_id: int | None, text: str) -> int:
        with self.state.lock:
            sender = _user(user_id) if user_id is not None else None
            update = {"update_id": self.state.next_update_id(),
                      "message": _message(self.state, chat_id, sender, text)}
            self.state.updates.append(update)
        return int(update["update_id"])

    def press(self, chat_id: int, user_id: int, data: str, message_id: int = 1) -> int:
        with self.state.lock:
            msg = _message(self.state, chat_id, BOT_USER, "button")
            msg["message_id"] = message_id
            update = {"update_id": self.state.next_update_id(), "callback_query": {
                "id": f"cq{self.state.next_message_id()}", "from": _user(user_id),
                "chat_instance": f"ci{chat_id}", "data": data, "message": msg}}
            self.state.updates.append(update)
        return int(update["update_id"])

    def sent(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.sent)

    def delivered(self) -> list[int]:
        with self.state.lock:
            return [uid for batch in self.state.deliveries for uid in batch]
