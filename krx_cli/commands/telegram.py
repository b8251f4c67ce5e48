"""`krx telegram serve`: the Telegram command channel on OCI (docs/telegram.md)."""

from __future__ import annotations

import argparse
import sys

from krx_cli.commands._common import add_data_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("telegram", help="Telegram command channel on OCI (long polling)")
    verbs = p.add_subparsers(dest="telegram_command", metavar="VERB")
    verbs.required = True
    serve = verbs.add_parser(
        "serve", help="run the bot: token from KRX_TELEGRAM_TOKEN_FILE (0600), Bot API root "
                      "from KRX_TELEGRAM_API_URL (default https://api.telegram.org)")
    add_data_dir(serve)
    serve.add_argument("--poll-timeout", type=int, default=30,
                       help="getUpdates long-poll timeout in seconds (default 30)")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    """Poll until interrupted; exit 2 when the token or the configuration is unusable."""
    from pydantic import ValidationError

    from oci_backend.config import OciConfig
    from oci_backend.telegram_config import (
        TelegramConfigError,
        configure_logging,
        load_config,
    )

    try:
        config = load_config()
    except TelegramConfigError as exc:
        print(f"krx telegram serve: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.token, args.log_level)
    try:
        oci = OciConfig(**({"data_dir": args.data_dir} if args.data_dir else {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        print(f"krx telegram serve: KRX_OCI_{str(err['loc'][0]).upper()}: {err['msg']}",
              file=sys.stderr)
        return 2
    from oci_backend.notify import Notifier
    from oci_backend.paths import data_paths
    from oci_backend.replan import Replanner
    from oci_backend.store import Store
    from oci_backend.telegram.bot import run
    from oci_backend.telegram.commands import CommandCenter

    store = Store(data_paths(oci.data_dir))
    store.initialize()
    notifier = Notifier(store, oci.notify_urls)
    replanner = Replanner(store, oci, notifier)
    replanner.start()
    center = CommandCenter(store, notifier, request_replan=replanner.request, lang=config.lang)
    try:
        run(config, center, poll_timeout=args.poll_timeout)
    finally:
        replanner.close()
    return 0
