"""`krx pc ...`: the PC control plane (`serve`, `tunnel`, `start|stop|status`, `pull`, `push`,
`submit`). Configuration: `KRX_PC_*` variables and an optional `--env-file pc.env`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env-file", type=Path, default=None,
                   help="pc.env with KRX_PC_* settings (see deploy/pc.env.example)")
    p.add_argument("--workspace", type=Path, default=None,
                   help="workspace directory (default $KRX_PC_WORKSPACE or "
                        "~/.krx-alertor/workspace)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pc", help="PC control plane: backend, tunnel, launcher, pull/push")
    verbs = p.add_subparsers(dest="pc_command", metavar="VERB")
    verbs.required = True

    serve = verbs.add_parser("serve", help="run the PC backend (FastAPI, 127.0.0.1:8000)")
    _common(serve)
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument("--direct", default=None, metavar="URL",
                       help="reach OCI at URL without SSH (demo, VPN)")
    serve.add_argument("--allow-remote", action="store_true", default=None,
                       help="allow a non-loopback --host (not recommended)")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(handler=run_serve)


def load(args: argparse.Namespace, **extra: Any) -> Any:
    """PcConfig from env, --env-file and flags; prints the problem and returns None if unusable."""
    from pydantic import ValidationError

    from pc_backend.config import ConfigError, load_config

    try:
        return load_config(getattr(args, "env_file", None),
                           workspace=getattr(args, "workspace", None), **extra)
    except ConfigError as exc:
        print(f"krx pc: {exc}", file=sys.stderr)
    except ValidationError as exc:
        err = exc.errors()[0]
        print(f"krx pc: KRX_PC_{str(err['loc'][0]).upper()}: {err['msg']}", file=sys.stderr)
    return None


def run_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted; exit 2 with a clear message when the set-up is unusable."""
    import logging

    import uvicorn

    from pc_backend.app import create_app
    from pc_backend.config import ConfigError
    from pc_backend.workspace import WorkspaceError

    config = load(args, host=args.host, port=args.port, oci_url=args.direct,
                  allow_remote=args.allow_remote)
    if config is None:
        return EXIT_USAGE
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(config)
    except (ConfigError, WorkspaceError) as exc:
        print(f"krx pc serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    uvicorn.run(app, host=config.host, port=config.port, log_level=args.log_level, workers=1,
                server_header=False)
    return EXIT_OK
