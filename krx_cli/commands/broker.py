"""`krx broker status|balance|reconcile`: the OCI side of broker execution, on the data root
(credentials from KRX_KIS_CREDENTIALS_FILE, base URL from KRX_KIS_BASE_URL). Exit codes:
0 OK (reconcile: broker and book agree), 2 drift found or no broker configured, 1 failure."""

from __future__ import annotations

import argparse
import json
import sys

from krx_cli.commands._common import add_data_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("broker", help="OCI broker link: status, balance, reconciliation")
    verbs = p.add_subparsers(dest="broker_command", metavar="VERB")
    verbs.required = True
    for name, help_ in (("status", "credentials configured?, kind, mode, last reconciliation"),
                        ("balance", "the broker's cash and holdings"),
                        ("reconcile", "compare the broker's balance with the book now")):
        v = verbs.add_parser(name, help=help_)
        add_data_dir(v)
        v.add_argument("--json", action="store_true", help="print the answer as JSON")
        v.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from broker.protocol import BrokerError
    from contracts.broker import BrokerBalance, BrokerHoldingView, BrokerStatus
    from krx_common.atomic import StoreError
    from oci_backend import reconcile as recon
    from oci_backend.broker_link import open_broker
    from oci_backend.config import ConfigError, OciConfig
    from oci_backend.paths import data_paths
    from oci_backend.store import Store

    verb = args.broker_command
    try:
        # the data root: --data-dir, else KRX_OCI_DATA_DIR / KRX_DATA_DIR as the server
        cfg = OciConfig(**({"data_dir": args.data_dir} if args.data_dir else {}))
        paths = data_paths(cfg.data_dir)
        store = Store(paths)
        link = open_broker(cfg, paths)
        if verb == "status":
            answer: object = BrokerStatus(
                configured=link.configured, kind=link.kind.value if link.kind else None,
                execution_mode=store.settings().execution_mode.value,
                last_reconciliation=recon.last(store))
        elif link.broker is None or link.kind is None:
            print(f"krx broker {verb}: no broker configured: set KRX_KIS_CREDENTIALS_FILE "
                  "(mode 0600)", file=sys.stderr)
            return 2
        elif verb == "balance":
            b = link.broker.balance()
            answer = BrokerBalance(broker_kind=link.kind.value, cash=b.cash, holdings=[
                BrokerHoldingView(ticker=h.ticker, qty=h.qty, avg_price=h.avg_price)
                for h in b.holdings if h.qty > 0])
        else:
            answer = recon.reconcile(store, link, actor="cli")
    except (ConfigError, StoreError) as exc:
        print(f"krx broker {verb}: {exc}", file=sys.stderr)
        return 1
    except BrokerError as exc:
        print(f"krx broker {verb}: broker: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    dump = answer.model_dump(mode="json")  # type: ignore[attr-defined]
    if args.json:
        print(json.dumps(dump, ensure_ascii=False, indent=2))
    else:
        for key, value in dump.items():
            print(f"{key}: {value}")
    clean = getattr(answer, "clean", True)
    return 0 if clean else 2
