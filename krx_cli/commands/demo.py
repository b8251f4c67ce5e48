"""`krx demo`: the loop on the embedded synthetic market, nothing external needed.

Runs the daily cycle for the last completed session on the demo market (labelled synthetic
everywhere), prints it, then — unless `--no-serve` — serves the OCI backend on loopback with
a fresh demo token kept in a 0600 file of the demo data root, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
from pathlib import Path

DEFAULT_DEMO_DIR = Path(__file__).resolve().parents[2] / "state" / "demo"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the system on the synthetic demo market")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DEMO_DIR,
                   help=f"demo data root (default {DEFAULT_DEMO_DIR})")
    p.add_argument("--port", type=int, default=8000,
                   help="OCI backend port on 127.0.0.1 (default 8000; a free one if taken)")
    p.add_argument("--no-serve", dest="serve", action="store_false",
                   help="run the cycle and exit instead of serving the OCI backend")
    p.add_argument("--json", action="store_true", help="print the summary JSON instead")
    p.set_defaults(handler=run)


def _port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])


def _demo_token(path: Path) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    return path


def run(args: argparse.Namespace) -> int:
    from contracts.common import now_kst
    from oci_backend.paths import data_paths
    from oci_backend.pipeline import run_cycle
    from oci_backend.render import render_cycle
    from oci_backend.store import Store
    from strategy.calendar import last_completed_session

    store = Store(data_paths(args.data_dir))
    # The demo always shows the last completed session, weekends and holidays included.
    asof = last_completed_session(now_kst())
    result = run_cycle(store, data_spec="demo", asof=asof, actor="demo", wait_lock=True)
    if args.json:
        print(result.summary.model_dump_json(indent=2))
    else:
        print(render_cycle(result.summary, result.plan))
    if not args.serve:
        return result.exit_code

    import uvicorn

    from oci_backend.app import create_app
    from oci_backend.config import OciConfig

    token_file = _demo_token(store.paths.state_dir / "demo_token")
    port = _port(args.port)
    config = OciConfig(host="127.0.0.1", port=port, data_dir=store.paths.root,
                       data_spec="demo", token_file=token_file, token=None)
    print(f"\nOCI backend (demo): http://127.0.0.1:{port}/docs — the API token is in "
          f"{token_file}; Ctrl-C stops it", file=sys.stderr)
    uvicorn.run(create_app(config), host="127.0.0.1", port=port, log_level="warning",
                server_header=False)
    return 0
