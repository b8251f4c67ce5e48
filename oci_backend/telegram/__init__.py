"""The Telegram command channel on OCI (`krx telegram serve`, docs/telegram.md); its configuration
(token file, Bot API root, the log mask) is `oci_backend.telegram_config`, which the notifier
shares.

`texts` (KO/EN labels), `commands` (the
transport-free command center: allowlist, rate limit, confirmations, the commands on OCI's
service layer), `bot` (python-telegram-bot long polling around it)."""
