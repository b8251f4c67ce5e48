"""`krx fake-kis --port P --data csv:DIR`: the local KIS Open API fake on 127.0.0.1
(docs/broker.md): KIS's paths at the root, paper or real domain, a matching engine over the
day's bars, and test-only control routes under /__fake__/."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from krx_cli.commands._common import CommandError, add_data_source, guarded


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fake-kis", help="serve the local KIS Open API fake on 127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    add_data_source(p, default=None)
    p.add_argument("--domain", choices=["paper", "real"], default="paper",
                   help="which KIS domain the fake plays (keys of the other kind get EGW02004)")
    p.add_argument("--session-date", type=date.fromisoformat, default=None,
                   help="session date YYYY-MM-DD (default: the last bar in the data)")
    p.add_argument("--phase", choices=["preopen", "open", "intraday", "close"], default="open")
    p.add_argument("--cash", type=float, default=None, help="initial cash in KRW")
    p.add_argument("--holding", action="append", default=[], metavar="TICKER:QTY:AVG",
                   help="an initial holding, e.g. 069500:100:33000 (repeatable)")
    p.add_argument("--cano", default="50000000", help="the account's CANO (8 digits)")
    p.add_argument("--acnt-prdt-cd", default="01", help="the account's product code")
    p.add_argument("--slippage-bps", type=float, default=None,
                   help="open fills move by this many bps (default: the settings' slippage)")
    p.add_argument("--partial-fraction", type=float, default=None,
                   help="fill this fraction of an order per match step (default: whole)")
    p.add_argument("--fill-mode", choices=["limit", "open"], default="limit",
                   help="limit: honour each order's limit (default); open: every order of the "
                        "session fills at its open ± slippage, as the backtest fills")
    p.add_argument("--page-size", type=int, default=15,
                   help="inquire-daily-ccld rows per page (KIS: paper 15, real 100)")
    p.add_argument("--rate-limit", type=int, default=None,
                   help="requests per second per app key (default: paper 2, real 15)")
    p.add_argument("--state", type=Path, default=None,
                   help="keep the fake's state in this file (it survives a restart)")
    p.add_argument("--log-level", default="warning",
                   choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return guarded("fake-kis", _serve, args, ValueError)


def _serve(args: argparse.Namespace) -> int:
    """Serve until interrupted; a bad option or data spec exits 2 naming it."""
    if not args.data:
        raise CommandError("--data is required (csv:DIR or demo)")
    import uvicorn

    from fake_kis.app import FakeKisOptions, create_app
    from fake_kis.market import Holding, MarketConfig

    holdings = {}
    for spec in args.holding:
        parts = spec.split(":")
        if len(parts) != 3 or not parts[1].isdigit():
            raise CommandError(f"--holding {spec!r}: expected TICKER:QTY:AVG_PRICE")
        holdings[parts[0]] = Holding(int(parts[1]), float(parts[2]))
    market = MarketConfig(cano=args.cano, acnt_prdt_cd=args.acnt_prdt_cd,
                          partial_fraction=args.partial_fraction, fill_mode=args.fill_mode,
                          page_size=args.page_size,
                          initial_holdings=holdings)
    if args.cash is not None:
        market.initial_cash = args.cash
    if args.slippage_bps is not None:
        market.slippage_bps = args.slippage_bps
    app = create_app(FakeKisOptions(
        data=args.data, domain=args.domain, session_date=args.session_date, phase=args.phase,
        state_file=args.state, rate_limit=args.rate_limit, market=market))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level=args.log_level)
    return 0
