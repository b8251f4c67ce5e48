"""The KIS client (`broker.kis.KisBroker`) against the KIS fake run as a real process
(`krx fake-kis` on a loopback port): every error code, tokens, rate limits, paging, orders,
rejections, partial fills, cancel, balance, quote, and no secret in logs or errors."""

from __future__ import annotations

import logging
import os
import stat
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from kis_fixtures import CANO, PAPER_KEY, REAL_KEY, SECRET, SESSION, Clock, write_credentials

from broker.credentials import load_credentials
from broker.kis import BASE_URLS, TR_IDS
from broker.kis_token import CachedToken, parse_kis_time
from broker.protocol import (
    BrokerConfigError,
    BrokerKind,
    BrokerRateLimited,
    BrokerTokenError,
    BrokerUnavailable,
    OrderRejected,
    OrderRequest,
)
from contracts.plan import Side
from krx_common.defaults import KST
from krx_common.procs import free_port
from strategy.marketdata.csv_provider import read_bars_csv

pytestmark = pytest.mark.integration

DAILY = Path(__file__).resolve().parents[2] / "data" / "krx" / "daily"
ETF = "069500"
DAY = date.fromisoformat(SESSION)
FAST = {"rate_limit": 50}  # functional tests: the fake and the client at 50/s


def bar(ticker: str = ETF, day: date = DAY) -> dict[str, float]:
    frame = read_bars_csv(DAILY / f"{ticker}.csv", ticker)
    row = frame.loc[str(day)]
    return {k: float(row[k]) for k in ("open", "high", "low", "close")}


def buy(qty: int, limit: int, ticker: str = ETF, tag: str = "t") -> OrderRequest:
    return OrderRequest(ticker, Side.BUY, qty, limit, tag)


def above_open(ticker: str = ETF) -> int:
    """A marketable buy limit on the ETF tick (5 won)."""
    o = int(bar(ticker)["open"])
    return o - o % 5 + 50


# -- credentials -------------------------------------------------------------------------------
def test_credentials_file_mode_0644_refused(tmp_path: Path) -> None:
    path = write_credentials(tmp_path / "kis.json", mode=0o644)
    with pytest.raises(BrokerConfigError) as err:
        load_credentials(path)
    assert "0644" in err.value.message and "chmod 600" in err.value.message
    assert SECRET not in str(err.value) and PAPER_KEY not in str(err.value)


def test_credentials_repr_and_errors_mask_secrets(tmp_path: Path) -> None:
    creds = load_credentials(write_credentials(tmp_path / "kis.json"))
    for text in (repr(creds), str(creds), f"{creds}"):
        assert PAPER_KEY not in text and SECRET not in text and CANO not in text
    bad = write_credentials(tmp_path / "bad.json", cano="123")
    with pytest.raises(BrokerConfigError) as err:
        load_credentials(bad)
    assert "cano" in err.value.message and SECRET not in str(err.value)
    missing = write_credentials(tmp_path / "missing.json", kind="demo")
    with pytest.raises(BrokerConfigError, match="kind must be paper or real"):
        load_credentials(missing)


def test_tr_ids_paper_and_real_orders() -> None:
    assert (TR_IDS[BrokerKind.PAPER]["buy"], TR_IDS[BrokerKind.PAPER]["sell"]) == (
        "VTTC0802U", "VTTC0801U")
    assert (TR_IDS[BrokerKind.REAL]["buy"], TR_IDS[BrokerKind.REAL]["sell"]) == (
        "TTTC0012U", "TTTC0011U")


# -- domain / kind -----------------------------------------------------------------------------
def test_check_paper_key_on_real_domain_fails_at_startup(fake_kis, make_broker, paper_creds):
    kis = fake_kis(domain="real")
    broker = make_broker(paper_creds, kis.base_url)
    with pytest.raises(BrokerConfigError) as err:
        broker.check()
    assert err.value.code == "EGW02004"
    assert "paper" in err.value.message and "KRX_KIS_BASE_URL" in err.value.message
    assert kis.counters()["paths"].get("/uapi/domestic-stock/v1/trading/order-cash") is None


def test_check_real_key_on_paper_domain_fails_at_startup(fake_kis, make_broker, real_creds):
    kis = fake_kis(domain="paper")
    with pytest.raises(BrokerConfigError) as err:
        make_broker(real_creds, kis.base_url).check()
    assert err.value.code == "EGW02004" and "real" in err.value.message


def test_base_url_of_the_other_kis_domain_refused_before_any_request(make_broker, paper_creds):
    with pytest.raises(BrokerConfigError, match="other domain"):
        make_broker(paper_creds, BASE_URLS[BrokerKind.REAL])


def test_check_passes_with_matching_key_and_returns_the_balance(fake_kis, make_broker,
                                                               paper_creds):
    kis = fake_kis(cash=3_000_000, **FAST)
    balance = make_broker(paper_creds, kis.base_url, **FAST).check()
    assert balance.cash == 3_000_000 and balance.holdings == ()


# -- tokens ------------------------------------------------------------------------------------
def test_token_cache_survives_a_client_restart(fake_kis, make_broker, paper_creds, tmp_path):
    kis = fake_kis(**FAST)
    cache = tmp_path / "tok" / "kis-token.json"
    make_broker(paper_creds, kis.base_url, token_cache=cache, **FAST).check()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    second = make_broker(paper_creds, kis.base_url, token_cache=cache, **FAST)
    second.check()
    second.quote(ETF)
    counters = kis.counters()
    assert counters["token_requests"] == 1 and counters["token_issuances"] == 1
    assert second.tokens.issued_here == 0


def test_token_cache_file_with_wider_mode_refused(fake_kis, make_broker, paper_creds, tmp_path):
    kis = fake_kis(**FAST)
    cache = tmp_path / "kis-token.json"
    make_broker(paper_creds, kis.base_url, token_cache=cache, **FAST).check()
    os.chmod(cache, 0o644)
    with pytest.raises(BrokerConfigError, match="chmod 600"):
        make_broker(paper_creds, kis.base_url, token_cache=cache, **FAST)


def test_at_most_one_token_request_a_minute(fake_kis, make_broker, paper_creds, tmp_path):
    kis = fake_kis(**FAST)
    clock = Clock()
    broker = make_broker(paper_creds, kis.base_url, clock=clock, **FAST)
    broker.check()
    kis.control("tokens/expire")
    clock.advance(30)  # KIS's token is gone but the last request was 30 s ago
    with pytest.raises(BrokerTokenError) as err:
        broker.quote(ETF)
    assert err.value.code == "EGW00133"
    # Without the shared cache a second client asks KIS, which refuses (EGW00133) too.
    other = make_broker(paper_creds, kis.base_url, token_cache=tmp_path / "other.json", **FAST)
    with pytest.raises(BrokerTokenError) as err2:
        other.check()
    assert err2.value.code == "EGW00133"
    assert kis.counters()["token_issuances"] == 1


def test_expired_token_refreshed_once_and_the_call_retried(fake_kis, make_broker, paper_creds):
    kis = fake_kis(**FAST)
    clock = Clock()
    broker = make_broker(paper_creds, kis.base_url, clock=clock, **FAST)
    broker.check()
    kis.control("tokens/expire")
    kis.control("clock", advance_s=61)
    clock.advance(61)
    quote = broker.quote(ETF)  # EGW00123 -> one new token -> the same call again
    assert quote.open == int(bar()["open"])
    counters = kis.counters()
    assert counters["token_issuances"] == 2 and counters["token_requests"] == 2
    assert counters["paths"]["/uapi/domestic-stock/v1/quotations/inquire-price"] == 2


def test_token_expiry_is_kst_wall_clock() -> None:
    expiry = parse_kis_time("2025-03-04 09:00:00")
    assert expiry.tzinfo is KST and expiry.utcoffset().total_seconds() == 9 * 3600
    tok = CachedToken("x", expiry, expiry, "fp")
    # 23:50 UTC on the 3rd is 08:50 KST on the 4th: ten minutes left, usable.
    assert tok.usable(datetime(2025, 3, 3, 23, 50, tzinfo=UTC))
    # 00:01 UTC on the 4th is 09:01 KST: expired (a naive comparison would say 9 h left).
    assert not tok.usable(datetime(2025, 3, 4, 0, 1, tzinfo=UTC))


def test_same_token_within_six_hours_new_after(fake_kis, make_broker, paper_creds):
    kis = fake_kis(**FAST)

    def issue() -> str:
        r = httpx.post(f"{kis.base_url}/oauth2/tokenP", json={
            "grant_type": "client_credentials", "appkey": PAPER_KEY, "appsecret": SECRET})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    first = issue()
    kis.control("clock", advance_s=5 * 3600)
    assert issue() == first
    kis.control("clock", advance_s=2 * 3600)
    assert issue() != first
    assert kis.counters()["token_issuances"] == 2


# -- rate limits -------------------------------------------------------------------------------
def _hammer(broker, calls: int, threads: int) -> list[BaseException]:
    errors: list[BaseException] = []

    def work() -> None:
        for _ in range(calls):
            try:
                broker.quote(ETF)
            except BaseException as exc:  # noqa: BLE001 (collected for the assertion)
                errors.append(exc)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return errors


@pytest.mark.slow
def test_rate_limit_paper_never_exceeded(fake_kis, make_broker, paper_creds):
    kis = fake_kis()  # paper: 2 requests a second
    broker = make_broker(paper_creds, kis.base_url)
    broker.check()
    assert _hammer(broker, 3, 3) == []
    counters = kis.counters()
    assert counters["rate_rejections"] == 0
    assert max(counters["max_per_second"].values()) <= 2


@pytest.mark.slow
def test_rate_limit_real_never_exceeded(fake_kis, make_broker, real_creds):
    kis = fake_kis(domain="real")  # real: 15 requests a second
    broker = make_broker(real_creds, kis.base_url)
    broker.check()
    assert _hammer(broker, 15, 4) == []
    counters = kis.counters()
    assert counters["rate_rejections"] == 0
    assert 10 <= max(counters["max_per_second"].values()) <= 15


def test_rate_exceeded_reads_back_off_and_retry_orders_do_not(fake_kis, make_broker,
                                                               paper_creds):
    kis = fake_kis(rate_limit=1)
    broker = make_broker(paper_creds, kis.base_url, rate_limit=20, read_retries=6)
    broker.check()
    for _ in range(3):
        assert broker.quote(ETF).open == int(bar()["open"])
    assert kis.counters()["rate_rejections"] > 0
    before = kis.counters()["paths"].get("/uapi/domestic-stock/v1/trading/order-cash", 0)
    seen = 0
    for i in range(4):
        broker.quote(ETF)
        try:
            broker.place(buy(1, above_open(), tag=f"r{i}"))
        except BrokerRateLimited as exc:
            assert exc.code == "EGW00201"
            seen += 1
    sent = kis.counters()["paths"]["/uapi/domestic-stock/v1/trading/order-cash"] - before
    assert seen >= 1 and sent == 4  # one request per place(): never resent
    assert len(kis.state()["orders"]) == 4 - seen


# -- orders ------------------------------------------------------------------------------------
def test_place_buy_then_sell_with_paper_tr_ids(fake_kis, make_broker, paper_creds):
    kis = fake_kis(cash=5_000_000, **FAST)
    broker = make_broker(paper_creds, kis.base_url, **FAST)
    ack = broker.place(buy(10, above_open(), tag="line-1"))
    assert ack.order_no and ack.org_no and ack.placed_at.tzinfo is not None
    sell_limit = int(bar()["open"]) - int(bar()["open"]) % 5 - 50
    ack2 = broker.place(OrderRequest(ETF, Side.SELL, 4, sell_limit, "line-2"))
    orders = {o["odno"]: o for o in kis.state()["orders"]}
    assert orders[ack.order_no]["side"] == "BUY" and orders[ack.order_no]["filled"] == 10
    assert orders[ack2.order_no]["side"] == "SELL" and orders[ack2.order_no]["filled"] == 4
    day = {o.order_no: o for o in broker.day_orders(DAY)}
    assert day[ack.order_no].side is Side.BUY and day[ack2.order_no].side is Side.SELL
    assert day[ack.order_no].filled_qty == 10 and not day[ack.order_no].is_open
    slip = 5 / 10_000  # the settings' default slippage, 5 bps
    assert day[ack.order_no].avg_fill_price == pytest.approx(bar()["open"] * (1 + slip))


def test_real_tr_id_on_paper_domain_is_egw02004(fake_kis, make_broker, paper_creds):
    kis = fake_kis(**FAST)
    broker = make_broker(paper_creds, kis.base_url, **FAST)
    token = broker.tokens.token()
    r = httpx.post(f"{kis.base_url}/uapi/domestic-stock/v1/trading/order-cash", headers={
        "authorization": f"Bearer {token}", "appkey": PAPER_KEY, "appsecret": SECRET,
        "tr_id": "TTTC0012U", "custtype": "P"}, json={"CANO": CANO})
    assert r.json()["msg_cd"] == "EGW02004" and r.json()["rt_cd"] == "1"
    assert kis.state()["orders"] == []


@pytest.mark.parametrize("case", ["cash", "tick", "closed", "halted"])
def test_rejections(fake_kis, make_broker, paper_creds, case):
    kis = fake_kis(cash=1_000_000, **FAST)
    broker = make_broker(paper_creds, kis.base_url, **FAST)
    order = buy(1, above_open())
    if case == "cash":
        order = buy(100, above_open())  # ~3.3M won against 1M
    elif case == "tick":
        order = buy(1, above_open() + 1)  # ETF ticks are 5 won
    elif case == "closed":
        kis.control("session", phase="close")
    else:
        kis.control("halt", ticker=ETF)
    with pytest.raises(OrderRejected) as err:
        broker.place(order)
    expected = {"cash": "APBK0952", "tick": "40270000", "closed": "40580000",
                "halted": "40310000"}[case]
    assert err.value.code == expected and err.value.message
    assert kis.state()["orders"] == [] and kis.state()["cash"] == 1_000_000


def test_closed_market_on_a_day_without_bars(fake_kis, make_broker, paper_creds):
    kis = fake_kis(session_date="2025-03-01", **FAST)  # a Saturday: no bar
    with pytest.raises(OrderRejected) as err:
        make_broker(paper_creds, kis.base_url, **FAST).place(buy(1, above_open()))
    assert err.value.code == "40580000"


def test_partial_fills_arrive_per_poll(fake_kis, make_broker, paper_creds):
    kis = fake_kis(partial_fraction=0.3, **FAST)
    broker = make_broker(paper_creds, kis.base_url, **FAST)
    ack = broker.place(buy(10, above_open()))
    seen = []
    for _ in range(4):
        status = broker.order_status(ack.order_no, DAY)
        assert status is not None
        seen.append((status.filled_qty, status.is_open))
    assert seen == [(6, True), (9, True), (10, False), (10, False)]


def test_limit_reached_intraday_fills_at_the_limit_and_unreached_stays_open(
        fake_kis, make_broker, paper_creds):
    b = bar()
    kis = fake_kis(**FAST)
    broker = make_broker(paper_creds, kis.base_url, **FAST)
    low_limit = int(b["low"]) - int(b["low"]) % 5 + 5  # between the low and the open
    assert b["low"] <= low_limit < b["open"]
    never = int(b["low"]) - int(b["low"]) % 5 - 100
    hit = broker.place(buy(2, low_limit, tag="hit"))
    miss = broker.place(buy(2, never, tag="miss"))
    assert broker.order_status(hit.order_no, DAY).filled_qty == 0  # not marketable at open
    kis.control("session", phase="intraday")
    day = {o.order_no: o for o in broker.day_orders(DAY)}
    assert day[hit.order_no].filled_qty == 2 and day[hit.order_no].avg_fill_price == low_limit
    assert day[miss.order_no].filled_qty == 0 and day[miss.order_no].is_open
    kis.control("session", phase="close")
    assert broker.order_status(miss.order_no, DAY).is_open


def test_cancel_the_remainder(fake_kis, make_broker, paper_creds):
    kis = fake_kis(cash=2_000_000, **FAST)
    broker = make_broker(paper_creds, kis.base_url, **FAST)
    never = int(bar()["low"]) - int(bar()["low"]) % 5 - 100
    ack = broker.place(buy(5, never))
    order = broker.order_status(ack.order_no, DAY)
    assert order is not None and order.is_open
    broker.cancel(order)
    after = broker.order_status(ack.order_no, DAY)
    assert after is not None and after.cancelled_qty == 5 and not after.is_open
    assert len(broker.day_orders(DAY)) == 1  # the cancel row is folded into its order
    with pytest.raises(OrderRejected):
        broker.cancel(after)
    # the reserved cash is free again: a buy for (almost) all of it passes
    broker.place(buy(50, above_open() - 50 - (above_open() - 50) % 5))


def test_paging_three_pages_or_more(fake_kis, make_broker, paper_creds):
    kis = fake_kis(page_size=2, cash=50_000_000, **FAST)
    limit = above_open()
    for _ in range(5):  # at the "HTS": outside our client
        assert "odno" in kis.control("hts-order", ticker=ETF, side="BUY", qty=1, limit=limit)
    broker = make_broker(paper_creds, kis.base_url, **FAST)
    before = kis.counters()["paths"].get("/uapi/domestic-stock/v1/trading/inquire-daily-ccld", 0)
    orders = broker.day_orders(DAY)
    pages = kis.counters()["paths"]["/uapi/domestic-stock/v1/trading/inquire-daily-ccld"] - before
    assert len(orders) == 5 and len({o.order_no for o in orders}) == 5
    assert pages == 3


def test_balance_matches_the_fake_to_the_won(fake_kis, make_broker, paper_creds):
    kis = fake_kis(cash=5_000_000, **FAST)
    kis.control("account", holdings={"005930": {"qty": 7, "avg_price": 55000}})
    broker = make_broker(paper_creds, kis.base_url, **FAST)
    broker.place(buy(10, above_open()))
    balance = broker.balance()
    state = kis.state()
    assert balance.cash == round(state["cash"])
    held = {h.ticker: h for h in balance.holdings}
    assert held["005930"].qty == 7 and held["005930"].avg_price == 55000
    assert held[ETF].qty == 10
    assert held[ETF].avg_price == pytest.approx(state["holdings"][ETF]["avg_price"], abs=1e-3)


def test_quote_is_the_bar_of_the_session(fake_kis, make_broker, paper_creds):
    kis = fake_kis(**FAST)
    broker = make_broker(paper_creds, kis.base_url, **FAST)
    q = broker.quote(ETF)
    assert (q.price, q.open, q.halted) == (int(bar()["open"]), int(bar()["open"]), False)
    kis.control("session", phase="intraday")
    kis.control("halt", ticker=ETF)
    q = broker.quote(ETF)
    assert q.price == int(bar()["close"]) and q.halted


# -- unknown outcomes --------------------------------------------------------------------------
def test_no_answer_order_is_unknown_never_resent(make_broker, paper_creds, fake_kis):
    kis = fake_kis(own_process=True, **FAST)  # killed below
    broker = make_broker(paper_creds, kis.base_url, **FAST)
    broker.check()  # token cached
    kis.kill()
    with pytest.raises(BrokerUnavailable, match="outcome is unknown"):
        broker.place(buy(1, above_open()))
    with pytest.raises(BrokerUnavailable):
        broker.quote(ETF)


def test_unreachable_base_url_is_unavailable(make_broker, paper_creds):
    broker = make_broker(paper_creds, f"http://127.0.0.1:{free_port()}", read_retries=1)
    with pytest.raises(BrokerUnavailable):
        broker.check()


# -- secrets -----------------------------------------------------------------------------------
def test_no_secret_in_logs_or_exception_text(fake_kis, make_broker, paper_creds, tmp_path,
                                             caplog):
    caplog.set_level(logging.DEBUG)
    kis = fake_kis(cash=1_000_000, **FAST)
    cache = tmp_path / "kis-token.json"
    broker = make_broker(paper_creds, kis.base_url, token_cache=cache, **FAST)
    texts = [repr(broker), str(broker.check())]
    token = broker.tokens.token()
    broker.place(buy(1, above_open()))
    for bad in (buy(1000, above_open()), buy(1, above_open() + 1)):
        with pytest.raises(OrderRejected) as err:
            broker.place(bad)
        texts += [str(err.value), repr(err.value), err.value.message]
    real = fake_kis(domain="real")
    with pytest.raises(BrokerConfigError) as err2:
        make_broker(paper_creds, real.base_url, token_cache=tmp_path / "t2.json").check()
    texts += [str(err2.value), err2.value.message]
    logged = caplog.text + "\n".join(texts)
    assert token and len(token) > 20
    for secret in (PAPER_KEY, SECRET, token, CANO):
        assert secret not in logged
    assert REAL_KEY not in logged
    # On disk the token is only in its 0600 cache; the fakes' logs and argv hold no secret.
    holders = set()
    for path in [*tmp_path.rglob("*"), kis.log_path, real.log_path]:  # shared fakes log apart
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            if token in text or SECRET in text:
                holders.add(path.name)
    assert holders <= {"kis-paper.json", "kis-token.json"}
    assert "kis-token.json" in holders
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert not any(SECRET in arg or PAPER_KEY in arg for arg in kis.cmd + real.cmd)
