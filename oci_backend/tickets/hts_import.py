"""MANUAL with broker credentials: the operator's HTS orders, read back from the broker's
day orders, become the ticket's fills (matched by ticker, side, quantity and session) instead
of being typed; typing stays possible."""

from __future__ import annotations

import logging

from broker.protocol import BrokerError
from contracts.ticket import Fill, FillsRequest, TicketRecord
from krx_common.atomic import CorruptFile
from krx_common.defaults import KST
from oci_backend.broker_link import BrokerLink
from oci_backend.store import Store
from oci_backend.tickets.boxes import TicketFiles
from oci_backend.tickets.broker_exec import session_of
from oci_backend.tickets.manual import AWAITING, record_fills

log = logging.getLogger(__name__)


def import_manual_fills(store: Store, link: BrokerLink) -> list[TicketRecord]:
    """MANUAL with credentials: the fills of orders the operator placed at the HTS, read from
    the broker's day orders and recorded through the manual fill path (`record_fills`, the
    same checks as typed fills). An order matches a ticket line by ticker and side, placed in
    the ticket's session, at most the line's quantity; what the broker filled beyond what is
    recorded for the line (typed or imported) is recorded, at the broker's average price of
    that increment. Typing stays possible: a typed fill counts as recorded."""
    if link.broker is None or store.stop_in_force().on:
        return []
    files = TicketFiles(store)
    out: list[TicketRecord] = []
    for tid in files.ids_in("results"):
        try:
            rec = files.read("results", tid)
        except CorruptFile:
            continue
        if rec is None or rec.state not in AWAITING or rec.ticket.mode.is_broker:
            continue
        session = session_of(store, rec)
        try:
            orders = link.broker.day_orders(session)
        except BrokerError as exc:
            log.warning("ticket %s: day orders unreadable (%s)", tid, exc.code)
            continue
        fills: list[Fill] = []
        for o in rec.ticket.orders:
            mine = [b for b in orders if b.ticker == o.ticker and b.side is o.side
                    and b.qty <= o.qty and b.filled_qty > 0
                    and b.placed_at.astimezone(KST).date() == session]
            done_qty = sum(f.qty for f in rec.fills if (f.side, f.ticker) == (o.side, o.ticker))
            done_value = sum(f.qty * f.price for f in rec.fills
                             if (f.side, f.ticker) == (o.side, o.ticker))
            broker_qty = min(o.qty, sum(b.filled_qty for b in mine))
            delta = broker_qty - done_qty
            if delta <= 0:
                continue
            value = sum(b.avg_fill_price * b.filled_qty for b in mine)
            price = (value - done_value) / delta if value > done_value else (
                value / max(1, sum(b.filled_qty for b in mine)))
            fills.append(Fill(ticker=o.ticker, side=o.side, qty=delta, price=price,
                              filled_at=max(b.placed_at for b in mine)))
        if fills:
            out.append(record_fills(store, tid, FillsRequest(
                fills=fills, note="imported from the broker's day orders (HTS)"),
                actor="broker-import"))
    return out
