"""The bot's configuration: the token file, the Bot API root, and the mask that keeps the token
out of every log line (the Bot API URL carries it: `{root}/bot{token}/{method}`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from krx_common.tokens import SecretFileError, read_secret_file

TOKEN_FILE_ENV = "KRX_TELEGRAM_TOKEN_FILE"
API_URL_ENV = "KRX_TELEGRAM_API_URL"
LANG_ENV = "KRX_TELEGRAM_LANG"
DEFAULT_API_URL = "https://api.telegram.org"
MASK = "<telegram-token>"


class TelegramConfigError(ValueError):
    """A configuration the bot refuses to start with (the message names what to do)."""


@dataclass(frozen=True)
class TelegramConfig:
    token: str
    api_root: str
    lang: str = "ko"

    @property
    def base_url(self) -> str:
        """python-telegram-bot's `base_url`: it appends `{token}/{method}`."""
        return f"{self.api_root}/bot"

    def __repr__(self) -> str:  # never the token
        return f"TelegramConfig(api_root={self.api_root!r}, lang={self.lang!r})"


def load_config(env: Mapping[str, str] | None = None) -> TelegramConfig:
    """From `KRX_TELEGRAM_TOKEN_FILE` (mode 0600), `KRX_TELEGRAM_API_URL`, `KRX_TELEGRAM_LANG`."""
    env = os.environ if env is None else env
    path = env.get(TOKEN_FILE_ENV, "").strip()
    if not path:
        raise TelegramConfigError(
            f"no bot token: set {TOKEN_FILE_ENV} to a file (mode 0600) holding the token "
            f"BotFather gave you")
    try:
        token = read_secret_file(Path(path), "Telegram token file")
    except SecretFileError as exc:
        raise TelegramConfigError(str(exc)) from None
    if not token or any(c.isspace() for c in token) or "/" in token:
        raise TelegramConfigError(
            f"the Telegram token file {path} must hold one token (no spaces or slashes)")
    root = env.get(API_URL_ENV, "").strip().rstrip("/") or DEFAULT_API_URL
    if not root.startswith(("https://", "http://")):
        raise TelegramConfigError(f"{API_URL_ENV} must be an http(s) URL, got {root!r}")
    lang = env.get(LANG_ENV, "ko").strip().lower() or "ko"
    if lang not in ("ko", "en"):
        raise TelegramConfigError(f"{LANG_ENV} must be ko or en, got {lang!r}")
    return TelegramConfig(token=token, api_root=root, lang=lang)


def mask_token(text: str, token: str) -> str:
    if not token:
        return text
    for form in {token, quote(token, safe=""), quote(token)}:
        text = text.replace(form, MASK)
    return text


class MaskingFormatter(logging.Formatter):
    """Formats as usual, then replaces the token (plain and URL-encoded) in the whole line,
    traceback included."""

    def __init__(self, token: str, fmt: str | None = None) -> None:
        super().__init__(fmt)
        self._token = token

    def format(self, record: logging.LogRecord) -> str:
        return mask_token(super().format(record), self._token)


def configure_logging(token: str, level: str) -> None:
    """One stderr handler on the root logger whose every line is masked. httpx logs each
    request URL (with the token) at INFO: kept only at DEBUG, masked there too."""
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter(
        token, "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    quiet = logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    for name in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(name).setLevel(quiet)
    # python-telegram-bot's DEBUG lines carry whole updates (message texts, also of senders
    # not on the allowlist): never below INFO.
    logging.getLogger("telegram").setLevel(max(logging.INFO, root.level))


def configured(env: Mapping[str, str] | None = None) -> TelegramConfig | None:
    """The bot's configuration when `KRX_TELEGRAM_TOKEN_FILE` is set (None when it is not);
    an unusable one is logged (masked) and treated as absent."""
    env = os.environ if env is None else env
    if not env.get(TOKEN_FILE_ENV, "").strip():
        return None
    try:
        return load_config(env)
    except TelegramConfigError as exc:
        logging.getLogger("krx.telegram").error("Telegram notifications off: %s", exc)
        return None


def send_message(config: TelegramConfig, chat_id: int, text: str, *, silent: bool,
                 timeout: float = 15.0) -> bool:
    """One `sendMessage` (the notifier's channel; the bot itself uses python-telegram-bot).
    True when the Bot API answered ok; never raises, never logs the URL."""
    import httpx  # here: the server starts without it (it sends only when something happens)

    url = f"{config.api_root}/bot{config.token}/sendMessage"
    try:
        resp = httpx.post(url, json={"chat_id": chat_id, "text": text[:4000],
                                     "disable_notification": silent},
                          timeout=timeout, trust_env=False)
        answer = resp.json()
        ok = resp.is_success and bool(answer.get("ok"))
        if not ok:
            logging.getLogger("krx.telegram").warning(
                "Telegram sendMessage to chat %s refused: %s", chat_id,
                mask_token(str(answer.get("description", ""))[:200], config.token))
        return ok
    except (httpx.HTTPError, ValueError) as exc:
        logging.getLogger("krx.telegram").warning(
            "Telegram sendMessage to chat %s failed: %s", chat_id,
            mask_token(type(exc).__name__ + ": " + str(exc), config.token))
        return False
