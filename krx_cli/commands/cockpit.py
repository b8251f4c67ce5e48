"""`krx cockpit`: the Streamlit cockpit on 127.0.0.1:8501, talking only to the PC backend.

The command line of that process is `pc_cockpit.server.cockpit_command`, its environment
`krx_common.procs.cockpit_env`; `krx demo` and `krx pc start` use them too.
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from pathlib import Path

from krx_common.defaults import COCKPIT_PORT, COCKPIT_URL_ENV, PC_TOKEN_NAME, PC_URL
from krx_common.procs import cockpit_env, spawn, stop_all, wait_http
from pc_cockpit.server import cockpit_command

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cockpit", help=f"run the cockpit (Streamlit, 127.0.0.1:{COCKPIT_PORT})")
    p.add_argument("--port", type=int, default=COCKPIT_PORT,
                   help=f"cockpit port on 127.0.0.1 (default {COCKPIT_PORT})")
    p.add_argument("--pc-url", default=None,
                   help=f"PC backend URL (default ${COCKPIT_URL_ENV} or {PC_URL})")
    p.add_argument("--workspace", type=Path, default=None,
                   help=f"PC workspace holding {PC_TOKEN_NAME} (default: the PC backend's)")
    p.add_argument("--token-file", type=Path, default=None,
                   help=f"the PC backend's token file (default <workspace>/{PC_TOKEN_NAME})")
    p.add_argument("--no-browser", dest="browser", action="store_false",
                   help="do not open a browser tab")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    token_file = args.token_file
    if token_file is None and args.workspace is not None:
        token_file = args.workspace / PC_TOKEN_NAME
    url = f"http://127.0.0.1:{args.port}"
    proc = spawn(cockpit_command(args.port), cockpit_env(args.pc_url, token_file),
                 own_session=False)
    print(f"cockpit: {url} (Ctrl-C stops it)", file=sys.stderr)
    if args.browser and wait_http(f"{url}/_stcore/health", proc, timeout=60.0):
        webbrowser.open(url)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        stop_all([proc])
        return 0
