"""Broker modes (BROKER_PAPER / BROKER_LIVE): send an admitted ticket's lines to the broker at
most once, follow their fills until the close, cancel on the emergency stop.

At most once, across crashes. The ticket stays in processing/ as SENDING while its lines go
out, sells first, then buys. Before each HTTP call the line's intent (state SENDING, a client
tag and the intent time) is written durably (`TicketFiles.hold`: temp file, fsync, rename,
directory fsync); the broker's order number (ODNO) is written right after the answer. A
crash between the two leaves a SENDING line: `continue_sending` asks the broker for the day's
orders and matches (ticker, side, quantity, limit, placed at or after the intent) before
anything is sent again. An unmatched intent is taken as not sent only when the day's orders
were read successfully AND the intent is older than the safety window (an order the broker
accepted shows in its day orders well within that; `KRX_OCI_BROKER_SAFETY_WINDOW_S`, 30 s);
until then the ticket waits. A send
whose outcome is unknown (no answer, a 5xx) is never retried blindly: it stays SENDING.

Fills are recorded through `apply_with_intent` (the one write-ahead path of every portfolio
change) at the broker's price; commission and tax by `strategy.fills.fees_of` (the one fee
rule), as the broker charges them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from broker.protocol import (
    Broker,
    BrokerError,
    BrokerOrder,
    OrderRejected,
    OrderRequest,
)
from contracts.common import now_kst
from contracts.plan import Side
from contracts.summary import Stage
from contracts.ticket import (
    LINE_OPEN,
    BrokerLine,
    Fill,
    LineState,
    TicketRecord,
    TicketState,
)
from krx_common.atomic import CorruptFile
from oci_backend.broker_link import BrokerLink
from oci_backend.store import Store
from oci_backend.tickets import boxes
from oci_backend.tickets.admission import refusal
from oci_backend.tickets.apply import apply_with_intent, fills_details
from oci_backend.tickets.boxes import TicketFiles
from strategy import calendar
from strategy.fills import fees_of

log = logging.getLogger(__name__)

WAITING_FILLS = frozenset({TicketState.SENT, TicketState.BROKER_PARTIALLY_FILLED})


def session_of(store: Store, rec: TicketRecord) -> date:
    """The session a ticket's orders go to the broker in: the one after its plan's as-of
    (the operator's closed dates skipped), as DRY_RUN fills it."""
    return calendar.for_settings(store.settings()).next_session(rec.ticket.asof)


def _known_order_nos(store: Store) -> set[str]:
    """Every broker order number a ticket line of this data root holds: an order matched to
    one line is never matched to another."""
    return {ln.order_no for rec in TicketFiles(store).all_records().values()
            for ln in rec.broker_lines if ln.order_no}


def _order_key(order_no: str) -> tuple[int, str]:
    digits = order_no.lstrip("0")
    return (len(digits), digits)


def _lines_of(rec: TicketRecord) -> list[BrokerLine]:
    """The ticket's lines, sells first (they free the cash the buys spend), then buys."""
    ordered = sorted(rec.ticket.orders, key=lambda o: 0 if o.side is Side.SELL else 1)
    return [BrokerLine(side=o.side, ticker=o.ticker, qty=o.qty, limit_price=o.limit_price)
            for o in ordered]


def start_sending(store: Store, rec: TicketRecord, link: BrokerLink, now: datetime
                  ) -> TicketRecord | None:
    """A claimed (PROCESSING) broker-mode ticket, lock held: REJECTED when admission refuses
    it, else SENDING with its lines, then `continue_sending`."""
    denied = refusal(store, rec.ticket, ignore_open=rec.ticket.ticket_id, link=link)
    if denied is not None or link.broker is None:
        message = denied.message if denied is not None else "no broker configured"
        done = TicketFiles(store).move(rec, TicketState.REJECTED, message, now,
                                       code=denied.event_code if denied else "no_broker")
        boxes.stage(store, done, (denied.stage if denied else Stage.BLOCKED,
                                  f"ticket {rec.ticket.ticket_id} rejected: {message}"))
        return done
    sending = boxes.transition(rec, TicketState.SENDING,
                               f"sending {len(rec.ticket.orders)} orders to the broker",
                               now_kst(), code="sending", params={"n": len(rec.ticket.orders)},
                               broker_lines=_lines_of(rec))
    TicketFiles(store).hold(sending)
    boxes.audit(store, sending, rec.state, boxes.PROCESSOR, sending.message)
    return continue_sending(store, sending, link, now)


def _buy_qty(store: Store, rec: TicketRecord, line: BrokerLine, broker: Broker) -> tuple[int, str]:
    """A buy's quantity at send time: at most the ticket's, and at most what its cash budget
    pays at the higher of its limit and the current quote, commission included."""
    order = next(o for o in rec.ticket.orders if (o.side, o.ticker) == (line.side, line.ticker))
    quote = broker.quote(line.ticker)
    if quote.halted:
        return 0, f"{line.ticker} is halted at the broker"
    if order.cash_budget is None:
        return line.qty, ""
    price = max(line.limit_price, quote.price)
    commission = store.settings().strategy.commission
    afford = math.floor(order.cash_budget / (price * (1 + commission)) + 1e-9)
    qty = max(0, min(line.qty, afford))
    note = "" if qty == line.qty else (
        f"re-checked at send: {qty} of {line.qty} fit the cash budget "
        f"{order.cash_budget:,.0f} KRW at {price:,} KRW")
    return qty, note


def _match(line: BrokerLine, orders: list[BrokerOrder], taken: set[str]) -> BrokerOrder | None:
    """The broker's order a SENDING line became: same ticker, side, quantity and limit,
    placed after the intent (its order number above every one this root knew when the intent
    was written: KIS numbers a day's orders in sequence; a wall-clock comparison would not
    hold against a replayed session), and held by no other line."""
    floor = _order_key(line.after_order_no) if line.after_order_no else (0, "")
    for o in sorted(orders, key=lambda o: _order_key(o.order_no)):
        if (o.order_no not in taken and o.ticker == line.ticker and o.side is line.side
                and o.qty == line.qty and o.limit_price == line.limit_price
                and _order_key(o.order_no) > floor):
            return o
    return None


def continue_sending(store: Store, rec: TicketRecord, link: BrokerLink, now: datetime
                     ) -> TicketRecord | None:
    """Send every PENDING line and resolve every SENDING one (lock held; `rec` is SENDING in
    processing/). Returns the committed record once no line is PENDING or SENDING (SENT, or
    BROKER_REJECTED when nothing was placed), None while the ticket must wait (an outcome
    unknown, an intent too young to be resolved, the broker unreachable)."""
    broker = link.broker
    assert broker is not None
    window = timedelta(seconds=link.safety_window_s)
    files = TicketFiles(store)
    lines = list(rec.broker_lines)
    taken = _known_order_nos(store) | {ln.order_no for ln in lines if ln.order_no}
    session = session_of(store, rec)
    day_orders: list[BrokerOrder] | None = None
    for i, line in enumerate(lines):
        if line.state is LineState.SENDING:
            if day_orders is None:
                try:
                    day_orders = broker.day_orders(session)
                except BrokerError as exc:
                    log.warning("ticket %s: day orders unreadable (%s); the sending line "
                                "waits", rec.ticket.ticket_id, exc.code)
                    return None
            found = _match(line, day_orders, taken)
            if found is not None:
                taken.add(found.order_no)
                lines[i] = line.model_copy(update={
                    "state": LineState.SENT, "order_no": found.order_no,
                    "org_no": found.org_no, "placed_at": found.placed_at,
                    "message": "placed (found in the broker's day orders after a restart)"})
            elif line.intent_at is not None and now_kst() - line.intent_at > window:
                lines[i] = line.model_copy(update={
                    "state": LineState.PENDING, "client_tag": "", "intent_at": None,
                    "message": f"the intent of {line.intent_at:%H:%M:%S} is not in the "
                               f"broker's day orders: it was not placed; sending again"})
            else:
                rec = rec.model_copy(update={"broker_lines": lines})
                files.hold(rec)
                return None  # too young to tell: the next pass resolves it
            rec = rec.model_copy(update={"broker_lines": lines})
            files.hold(rec)
        line = lines[i]
        if line.state is not LineState.PENDING:
            continue
        if store.stop_in_force().on:
            lines[i] = line.model_copy(update={"state": LineState.NOT_SENT,
                                               "message": "not sent: emergency stop"})
            continue
        qty, note = line.qty, ""
        if line.side is Side.BUY:
            try:
                qty, note = _buy_qty(store, rec, line, broker)
            except BrokerError as exc:
                log.warning("ticket %s: no quote for %s (%s); waiting",
                            rec.ticket.ticket_id, line.ticker, exc.code)
                files.hold(rec.model_copy(update={"broker_lines": lines}))
                return None
        if qty == 0:
            lines[i] = line.model_copy(update={"state": LineState.NOT_SENT, "qty": 0,
                                               "message": note or "nothing to send"})
            continue
        boxes.crash_point("broker_before_intent", line=i)
        tag = f"{rec.ticket.ticket_id}:{i}:{len(rec.events)}"
        if day_orders is None:  # the session's last order before our first intent
            try:
                day_orders = broker.day_orders(session)
            except BrokerError as exc:
                log.warning("ticket %s: day orders unreadable (%s); not sending yet",
                            rec.ticket.ticket_id, exc.code)
                files.hold(rec.model_copy(update={"broker_lines": lines}))
                return None
        known = max([*(ln.order_no for ln in lines if ln.order_no),
                     *(o.order_no for o in day_orders)], key=_order_key, default=None)
        line = line.model_copy(update={"state": LineState.SENDING, "qty": qty,
                                       "client_tag": tag, "intent_at": now_kst(),
                                       "after_order_no": known, "message": note})
        lines[i] = line
        rec = rec.model_copy(update={"broker_lines": lines})
        files.hold(rec)  # the intent is durable before the HTTP call
        boxes.crash_point("broker_after_intent", line=i)
        try:
            ack = broker.place(OrderRequest(ticker=line.ticker, side=line.side, qty=qty,
                                            limit_price=line.limit_price, client_tag=tag))
        except OrderRejected as exc:
            lines[i] = line.model_copy(update={
                "state": LineState.REJECTED, "message": f"rejected by the broker: {exc.code} "
                                                       f"{exc.message}"})
            rec = rec.model_copy(update={"broker_lines": lines})
            files.hold(rec)
            continue
        except BrokerError as exc:
            # Unknown outcome: the line stays SENDING; the next pass asks the broker.
            log.warning("ticket %s line %d: send outcome unknown (%s)", rec.ticket.ticket_id,
                        i, exc.code)
            return None
        boxes.crash_point("broker_after_send", line=i)
        taken.add(ack.order_no)
        lines[i] = line.model_copy(update={"state": LineState.SENT, "order_no": ack.order_no,
                                           "org_no": ack.org_no, "placed_at": ack.placed_at})
        rec = rec.model_copy(update={"broker_lines": lines})
        files.hold(rec)
        boxes.crash_point("broker_after_odno", line=i)
    rec = rec.model_copy(update={"broker_lines": lines})
    placed = [ln for ln in lines if ln.state is LineState.SENT]
    refused = [f"{ln.side.value} {ln.ticker}: {ln.message}" for ln in lines
               if ln.state in (LineState.REJECTED, LineState.NOT_SENT)]
    tid = rec.ticket.ticket_id
    if placed:
        message = (f"{len(placed)} of {len(lines)} orders placed at the broker (order no "
                   + ", ".join(str(ln.order_no) for ln in placed) + ")"
                   + (f"; not placed: {'; '.join(refused)}" if refused else ""))
        # stamped when the last answer came, not when the pass began (the ack latency)
        done = files.move(rec, TicketState.SENT, message, now_kst(),
                          details={"order_nos": [ln.order_no for ln in placed]},
                          code="placed", params={
                              "placed": len(placed), "total": len(lines),
                              "order_nos": ", ".join(str(ln.order_no) for ln in placed),
                              "note": "; ".join(refused)})
        boxes.stage(store, done, (Stage.SUBMITTED, f"ticket {tid}: {message}"))
    else:
        message = "no order placed: " + "; ".join(refused)
        done = files.move(rec, TicketState.BROKER_REJECTED, message, now_kst(),
                          code="none_placed", params={"note": "; ".join(refused)})
        boxes.stage(store, done, (Stage.STALE_TICKET, f"ticket {tid}: {message}"))
    return done


def resume_sending(store: Store, link: BrokerLink, now: datetime) -> list[TicketRecord]:
    """Every SENDING ticket left in processing/ (a crash, an unknown outcome), lock held."""
    if link.broker is None:
        return []
    files = TicketFiles(store)
    out: list[TicketRecord] = []
    for tid in files.ids_in("processing"):
        try:
            rec = files.held(tid)
        except CorruptFile:
            log.exception("ticket %s is unreadable; left in processing/", tid)
            continue
        if rec is None or rec.state is not TicketState.SENDING:
            continue
        done = continue_sending(store, rec, link, now)
        if done is not None:
            out.append(done)
    return out


@dataclass(frozen=True)
class LineProgress:
    line: BrokerLine
    fill: Fill | None


def _progress(line: BrokerLine, order: BrokerOrder | None, kind: str, commission: float
              ) -> LineProgress:
    """`line` updated from the broker's `order`, with the fill of what filled since, dated
    by the broker's order time (its session: the tax year and the fill's date)."""
    if order is None or line.state not in LINE_OPEN:
        return LineProgress(line, None)
    fill = None
    update: dict[str, object] = {}
    delta = order.filled_qty - line.filled_qty
    if delta > 0:
        total_value = order.avg_fill_price * order.filled_qty
        price = (total_value - line.filled_value) / delta
        at = order.placed_at
        comm, tax = fees_of(line.side, kind, delta * price, commission, at.year)
        fill = Fill(ticker=line.ticker, side=line.side, qty=delta, price=price, filled_at=at,
                    commission=comm, tax=tax)
        update = {"filled_qty": order.filled_qty, "filled_value": total_value}
    filled = order.filled_qty
    if filled >= line.qty:
        update["state"] = LineState.FILLED
    elif not order.is_open:
        update["state"] = (LineState.REJECTED if order.rejected_qty and not order.filled_qty
                           else LineState.CANCELLED)
    elif filled > 0:
        update["state"] = LineState.PARTIALLY_FILLED
    return LineProgress(line.model_copy(update=update), fill)


def _ticket_state(lines: list[BrokerLine]) -> TicketState:
    if any(ln.state in LINE_OPEN for ln in lines):
        return (TicketState.BROKER_PARTIALLY_FILLED
                if any(ln.filled_qty for ln in lines) else TicketState.SENT)
    sent = [ln for ln in lines if ln.order_no]
    if sent and all(ln.state is LineState.FILLED for ln in sent):
        return TicketState.FILLED
    return TicketState.CANCELLED


def follow_ticket(store: Store, rec: TicketRecord, broker: Broker, now: datetime, *,
                  final_note: str = "") -> TicketRecord | None:
    """Read the broker's day orders for `rec` (SENT / BROKER_PARTIALLY_FILLED, lock held),
    record each new fill once at the broker's price, and move the ticket on. None when
    nothing changed."""
    orders = {o.order_no: o for o in broker.day_orders(session_of(store, rec))}
    kinds = {o.ticker: o.kind for o in rec.ticket.orders}
    commission = store.settings().strategy.commission
    lines: list[BrokerLine] = []
    fills: list[Fill] = []
    for ln in rec.broker_lines:
        got = _progress(ln, orders.get(ln.order_no or ""), kinds[ln.ticker], commission)
        lines.append(got.line)
        if got.fill is not None:
            fills.append(got.fill)
    state = _ticket_state(lines)
    if not fills and state is rec.state:
        return None  # nothing to record; line details are re-derived from the broker
    if state is rec.state is TicketState.SENT:
        return None
    tid = rec.ticket.ticket_id
    filled = sum(ln.filled_qty for ln in lines)
    ordered = sum(ln.qty for ln in lines)
    message = (f"{len(fills)} fill(s) from the broker; {filled} of {ordered} shares filled"
               + (f" — {final_note}" if final_note else ""))
    staged = boxes.transition(rec, state, message, now_kst(), broker_lines=lines,
                              fills=[*rec.fills, *fills], code="broker_fills",
                              params={"n": len(fills), "filled": filled, "ordered": ordered,
                                      "note": final_note})
    if fills:
        intent, revision = apply_with_intent(
            store, staged, fills, reason=f"broker fills of ticket {tid}",
            actor=boxes.PROCESSOR, crash_prefix="broker_fills_")
        TicketFiles(store).commit(intent, rec.state, portfolio_revision_after=revision,
                                  fills=fills_details(fills))
        done = intent
    else:
        TicketFiles(store).commit(staged, rec.state)
        done = staged
    if state in (TicketState.FILLED, TicketState.CANCELLED):
        boxes.stage(store, done, (Stage.FILLS_RECORDED, f"ticket {tid}: {message}"),
                    (Stage.DONE_TODAY, f"ticket {tid} done at the broker"))
    return done


def open_broker_tickets(store: Store) -> list[TicketRecord]:
    files = TicketFiles(store)
    out = []
    for tid in files.ids_in("results"):
        try:
            rec = files.read("results", tid)
        except CorruptFile:
            continue
        if rec is not None and rec.state in WAITING_FILLS:
            out.append(rec)
    return out


def follow_open(store: Store, link: BrokerLink, now: datetime) -> list[TicketRecord]:
    """One pass over the broker tickets waiting for fills (lock taken per ticket). With the
    emergency stop on, open orders are cancelled (`cancel_all`) and nothing else recorded.
    At or after the close of the session a line was placed in, the unfilled remainder is
    cancelled unless `settings.keep_unfilled_at_close`."""
    if link.broker is None:
        return []
    if store.stop_in_force().on:
        # A stop switched on elsewhere (the Telegram bot has no broker): cancel here.
        for line in cancel_all(store, link, now):
            log.warning("emergency stop: %s", line)
        return []
    out: list[TicketRecord] = []
    for rec in open_broker_tickets(store):
        with store.lock():
            if store.stop_in_force().on:
                break
            current = TicketFiles(store).read("results", rec.ticket.ticket_id)
            if current is None or current.state not in WAITING_FILLS:
                continue
            try:
                done = follow_ticket(store, current, link.broker, now)
                current = done or current
                if current.state in WAITING_FILLS and _past_close(store, current, now):
                    done = cancel_remaining(store, current, link.broker, now,
                                            why="the close (15:30 KST)") or done
            except BrokerError as exc:
                log.warning("ticket %s: broker unreachable (%s); next pass",
                            rec.ticket.ticket_id, exc.code)
                continue
        if done is not None:
            out.append(done)
    return out


def _past_close(store: Store, rec: TicketRecord, now: datetime) -> bool:
    settings = store.settings()
    if settings.keep_unfilled_at_close:
        return False
    day = session_of(store, rec)
    cal = calendar.for_settings(settings)
    try:
        close = cal.session_close_kst(day)
    except calendar.NotASession:
        return True  # placed outside a session: nothing more will fill today
    return now >= close


def cancel_remaining(store: Store, rec: TicketRecord, broker: Broker, now: datetime, *,
                     why: str) -> TicketRecord | None:
    """Cancel every open order of `rec` at the broker, then record what filled before the
    cancel and close the ticket (CANCELLED, or FILLED when nothing remained). Lock held."""
    mine = {ln.order_no for ln in rec.broker_lines if ln.order_no}
    for o in broker.day_orders(session_of(store, rec)):
        if o.is_open and o.order_no in mine:
            broker.cancel(o)
    done = follow_ticket(store, rec, broker, now,
                         final_note=f"unfilled remainder cancelled at {why}")
    return done


def cancel_all(store: Store, link: BrokerLink, now: datetime | None = None) -> list[str]:
    """The emergency stop: cancel every open broker order of every broker ticket, record what
    filled before the cancel, and leave nothing open. Returns one line per ticket."""
    now = now or now_kst()
    if link.broker is None:
        return []
    out: list[str] = []
    with store.lock():
        for rec in open_broker_tickets(store):
            try:
                done = cancel_remaining(store, rec, link.broker, now, why="the emergency stop")
            except BrokerError as exc:
                out.append(f"{rec.ticket.ticket_id}: cancel failed ({exc.code}); retry")
                continue
            state = (done or rec).state.value
            out.append(f"{rec.ticket.ticket_id}: {state}")
    return out

