"""`krx oci ...`: the execution plane's verbs (`serve`, `process-tickets`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("oci", help="OCI execution plane: API server, ticket processor")
    verbs = p.add_subparsers(dest="oci_command", metavar="VERB")
    verbs.required = True

    serve = verbs.add_parser(
        "serve", help="run the OCI backend (FastAPI on uvicorn); token from KRX_OCI_TOKEN[_FILE]"
    )
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument("--data-dir", type=Path, default=None,
                       help="data root holding state/ and reports/ (default $KRX_DATA_DIR or repo)")
    serve.add_argument("--data", default=None, dest="data_spec",
                       help="market data for cycles: csv:DIR | demo | pykrx | fdr | auto")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(handler=run_serve)

    proc = verbs.add_parser("process-tickets", help="one ticket-processor pass, then exit")
    proc.add_argument("--data-dir", type=Path, default=None,
                      help="data root holding state/ and reports/ (default $KRX_DATA_DIR or repo)")
    proc.set_defaults(handler=run_process_tickets)


def run_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted; exit 2 with a clear message when the configuration is unsafe."""
    import uvicorn

    from oci_backend.app import create_app
    from oci_backend.config import ConfigError, OciConfig

    overrides = {k: v for k, v in {
        "host": args.host, "port": args.port, "data_dir": args.data_dir,
        "data_spec": args.data_spec,
    }.items() if v is not None}
    try:
        config = OciConfig(**overrides)
        app = create_app(config)
    except ConfigError as exc:
        print(f"krx oci serve: {exc}", file=sys.stderr)
        return 2
    if not config.is_loopback():
        print(f"krx oci serve: WARNING: binding {config.host}, which is not a loopback address. "
              "The OCI backend is meant to be reached only through the SSH tunnel.",
              file=sys.stderr)
    # One worker: the store's locks are process-safe, but the scheduler must run exactly once.
    uvicorn.run(app, host=config.host, port=config.port, log_level=args.log_level,
                workers=1, server_header=False)
    return 0


def run_process_tickets(args: argparse.Namespace) -> int:
    """Process every submitted ticket once; exit 1 when the state cannot be read."""
    from oci_backend.paths import data_paths
    from oci_backend.store import Store, StoreError
    from oci_backend.tickets import process_pending

    try:
        done = process_pending(Store(data_paths(args.data_dir)))
    except StoreError as exc:
        print(f"krx oci process-tickets: {exc}", file=sys.stderr)
        return 1
    for record in done:
        print(f"{record.ticket.ticket_id}: {record.state.value} {record.message}".rstrip())
    print(f"processed {len(done)} ticket(s)")
    return 0
