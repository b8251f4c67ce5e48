"""`krx oci ...`: the execution plane's verbs (`serve`, `process-tickets`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from krx_cli.commands._common import add_data_dir, add_data_source
from krx_common.defaults import OCI_PORT


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("oci", help="OCI execution plane: API server, ticket processor")
    verbs = p.add_subparsers(dest="oci_command", metavar="VERB")
    verbs.required = True

    serve = verbs.add_parser(
        "serve", help="run the OCI backend (FastAPI on uvicorn); token from KRX_OCI_TOKEN[_FILE]"
    )
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help=f"port (default {OCI_PORT})")
    add_data_dir(serve)
    add_data_source(serve, default=None, dest="data_spec")
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.set_defaults(handler=run_serve)

    proc = verbs.add_parser("process-tickets", help="one ticket-processor pass, then exit")
    add_data_dir(proc)
    proc.add_argument(
        "--data", default=None,
        help="market data for DRY_RUN paper fills at the next open (csv:DIR | auto | ...); "
             "without it DRY_RUN tickets wait (AWAITING_NEXT_OPEN) for the next cycle",
    )
    proc.set_defaults(handler=run_process_tickets)

    register_install_units(verbs)


def run_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted; exit 2 with a clear message when the configuration is unsafe."""
    import logging

    import uvicorn

    from oci_backend.app import create_app
    from oci_backend.config import ConfigError, OciConfig

    overrides = {
        k: v
        for k, v in {
            "host": args.host,
            "port": args.port,
            "data_dir": args.data_dir,
            "data_spec": args.data_spec,
        }.items()
        if v is not None
    }
    from pydantic import ValidationError

    try:
        config = OciConfig(**overrides)
        app = create_app(config)
    except ConfigError as exc:
        print(f"krx oci serve: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:  # a KRX_OCI_* variable with an unusable value
        err = exc.errors()[0]
        print(f"krx oci serve: KRX_OCI_{str(err['loc'][0]).upper()}: {err['msg']}",
              file=sys.stderr)
        return 2
    # Our own loggers (krx.*); uvicorn configures only its own.
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per job run otherwise
    if not config.is_loopback():
        print(
            f"krx oci serve: WARNING: binding {config.host}, which is not a loopback address. "
            "The OCI backend is meant to be reached only through the SSH tunnel.",
            file=sys.stderr,
        )
    from krx_common.http_limits import ServeLimits, raise_fd_limit, serve_protocol

    raise_fd_limit()  # the unit sets LimitNOFILE=65536; elsewhere lift the soft limit

    # One worker: the store's locks are process-safe, but the scheduler must run exactly once.
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level=args.log_level,
        workers=1,
        server_header=False,
        access_log=config.access_log != "off",
        # Caps the request head's size (431) and time (408) before anything reads it, and the
        # open connections below the fd limit: krx_common.http_limits.
        http=serve_protocol(ServeLimits(
            env_prefix="KRX_OCI", max_header_bytes=config.max_header_bytes,
            head_timeout_s=config.head_timeout_s, max_connections=config.max_connections)),
    )
    return 0


def run_process_tickets(args: argparse.Namespace) -> int:
    """Process every submitted ticket once; exit 1 when the state cannot be read."""
    from krx_common.atomic import StoreError
    from oci_backend.paths import data_paths
    from oci_backend.store import Store
    from oci_backend.tickets import opens_from_spec, process_pending

    try:
        store = Store(data_paths(args.data_dir))
        opens = opens_from_spec(args.data, store.paths.cache_dir) if args.data else None
        done = process_pending(store, opens=opens)
    except StoreError as exc:
        print(f"krx oci process-tickets: {exc}", file=sys.stderr)
        return 1
    for record in done:
        print(f"{record.ticket.ticket_id}: {record.state.value} {record.message}".rstrip())
    print(f"processed {len(done)} ticket(s)")
    return 0


def register_install_units(verbs: argparse._SubParsersAction) -> None:
    """`krx oci install-units`: render the systemd units and the crontab line of one install."""
    p = verbs.add_parser(
        "install-units",
        help="render the systemd units (backend, daily-ops timer, Telegram bot) and crontab "
             "line into --out",
    )
    p.add_argument("--user", default="krx", help="service user (default krx)")
    p.add_argument("--group", default=None, help="service group (default: the user)")
    p.add_argument("--prefix", default="/opt/krx-alertor",
                   help="the checkout the services run from (default /opt/krx-alertor)")
    p.add_argument("--venv", default=None, help="virtualenv holding krx (default PREFIX/.venv)")
    p.add_argument("--data-dir", default="/var/lib/krx-alertor", dest="unit_data_dir",
                   help="data root: state/ and reports/ (default /var/lib/krx-alertor)")
    p.add_argument("--env-file", default="/etc/krx-alertor/oci.env",
                   help="optional EnvironmentFile (default /etc/krx-alertor/oci.env)")
    p.add_argument("--port", type=int, default=OCI_PORT, help="backend port on 127.0.0.1")
    p.add_argument("--out", type=Path, required=True, help="directory to write the files to")
    p.set_defaults(handler=run_install_units)


def run_install_units(args: argparse.Namespace) -> int:
    """Write the rendered files and print how to install them; exit 2 on unsafe parameters."""
    from pathlib import PurePosixPath

    from oci_backend.units import UnitParams, write_units

    try:
        params = UnitParams(
            user=args.user, group=args.group, prefix=PurePosixPath(args.prefix),
            venv=PurePosixPath(args.venv) if args.venv else None,
            data_dir=PurePosixPath(args.unit_data_dir), env_file=PurePosixPath(args.env_file),
            port=args.port,
        )
        written = write_units(params, args.out)
    except ValueError as exc:
        print(f"krx oci install-units: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    out = args.out
    print(
        "\nnext (as root):\n"
        f"  install -m 0644 {out}/krx-oci-backend.service {out}/krx-daily-ops.service "
        f"{out}/krx-daily-ops.timer /etc/systemd/system/\n"
        "  systemctl daemon-reload\n"
        "  systemctl enable --now krx-oci-backend.service krx-daily-ops.timer\n"
        f"optional, the Telegram bot (docs/telegram.md): install -m 0644 "
        f"{out}/krx-telegram.service /etc/systemd/system/ && "
        "systemctl enable --now krx-telegram.service\n"
        f"or, instead of the timer: crontab -u {args.user} {out}/crontab.example"
    )
    return 0

