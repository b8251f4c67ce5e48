"""`krx schema`: write (or check) the JSON Schema of every contract."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="export JSON Schema of every contract")
    p.add_argument("--out", type=Path, default=None, help="directory (default contracts/schemas)")
    p.add_argument("--check", action="store_true", help="exit 1 if committed schemas are stale")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from contracts.export import SCHEMA_DIR, stale_schemas, write_schemas

    directory = args.out or SCHEMA_DIR
    if args.check:
        stale = stale_schemas(directory)
        for name in stale:
            print(f"stale: {directory / name}")
        return 1 if stale else 0
    for path in write_schemas(directory):
        print(path)
    return 0
