"""The Telegram command channel on OCI (`krx telegram serve`, docs/telegram.md).

`config` (token file, Bot API root, the log mask), `texts` (KO/EN labels), `commands` (the
transport-free command center: allowlist, rate limit, confirmations, the commands on OCI's
service layer), `bot` (python-telegram-bot long polling around it)."""
