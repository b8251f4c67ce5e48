"""The KIS Open API (REST) as a `broker.protocol.Broker`: a thin synchronous httpx client.

Paths, headers, TR ids and fields follow the official samples (`koreainvestment/open-trading-api`:
`examples_llm/kis_auth.py`, `examples_llm/domestic_stock/{order_cash,order_rvsecncl,
inquire_daily_ccld,inquire_balance,inquire_price}`; docs/broker.md lists them). Every body field
is a string. A KIS answer that is not `rt_cd == "0"` becomes a typed error keeping KIS's code and
message:

- EGW00123 / EGW00121 (token expired / invalid): a new token once, the call once more;
- EGW00201 (rate): `BrokerRateLimited`; reads back off and retry a bounded number of times, an
  order is never retried;
- EGW02004 (a paper key on the real domain or the reverse): `BrokerConfigError` — `check()` at
  start-up meets it before any order;
- an order refused (`rt_cd` "1" with HTTP 200): `OrderRejected`;
- no answer, a timeout or a 5xx without KIS's envelope: `BrokerUnavailable` — for an order the
  outcome is unknown and is recovered from `day_orders`, never by sending again.

Secrets (app key, app secret, token) travel in headers only; no message, log line or exception
built here contains them, and httpx's own request logging (URLs with the account number) is
kept at WARNING.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from broker.credentials import KisCredentials
from broker.kis_token import TokenCache, TokenManager, key_fingerprint
from broker.protocol import (
    Balance,
    Broker,
    BrokerConfigError,
    BrokerError,
    BrokerKind,
    BrokerOrder,
    BrokerRateLimited,
    BrokerTokenError,
    BrokerUnavailable,
    Holding,
    OrderAck,
    OrderRejected,
    OrderRequest,
    Quote,
)
from contracts.plan import Side
from krx_common.defaults import KST

log = logging.getLogger(__name__)

BASE_URLS = {BrokerKind.REAL: "https://openapi.koreainvestment.com:9443",
             BrokerKind.PAPER: "https://openapivts.koreainvestment.com:29443"}
BASE_URL_ENV = "KRX_KIS_BASE_URL"
RATE_LIMITS = {BrokerKind.REAL: 15, BrokerKind.PAPER: 2}  # requests per second per app key

TOKEN_PATH = "/oauth2/tokenP"
ORDER_CASH = "/uapi/domestic-stock/v1/trading/order-cash"
ORDER_RVSECNCL = "/uapi/domestic-stock/v1/trading/order-rvsecncl"
DAILY_CCLD = "/uapi/domestic-stock/v1/trading/inquire-daily-ccld"
BALANCE = "/uapi/domestic-stock/v1/trading/inquire-balance"
PRICE = "/uapi/domestic-stock/v1/quotations/inquire-price"

# The TR ids per domain. Orders: the ids issue 17 names (real TTTC0012U/TTTC0011U, paper
# VTTC0802U/VTTC0801U); the samples now give VTTC0012U/VTTC0011U for paper, which KIS also
# accepts (docs/broker.md). Cancel and inquiries: the samples' ids.
TR_IDS: dict[BrokerKind, dict[str, str]] = {
    BrokerKind.REAL: {"buy": "TTTC0012U", "sell": "TTTC0011U", "cancel": "TTTC0013U",
                      "ccld": "TTTC0081R", "balance": "TTTC8434R", "price": "FHKST01010100"},
    BrokerKind.PAPER: {"buy": "VTTC0802U", "sell": "VTTC0801U", "cancel": "VTTC0013U",
                       "ccld": "VTTC0081R", "balance": "VTTC8434R", "price": "FHKST01010100"},
}
TOKEN_CODES = ("EGW00123", "EGW00121")
CONFIG_CODES = ("EGW02004", "EGW00103", "EGW00105")


def wrong_domain(code: str, message: str) -> bool:
    """A key of the wrong kind for the domain, or a refused key: EGW02004 as the issue names
    it, and also any code whose message says "모의투자 TR 이 아닙니다" / "실전투자 TR 이
    아닙니다" (a public code table files that message under EGW00213)."""
    squeezed = message.replace(" ", "").lower()
    return code in CONFIG_CODES or "모의투자tr이아닙니다" in squeezed or (
        "실전투자tr이아닙니다" in squeezed)
MAX_PAGES = 100  # 100 pages x 100 rows: far beyond one account's day


@dataclass(frozen=True)
class KisConfig:
    credentials: KisCredentials
    base_url: str | None = None  # default: KIS's domain for the credentials' kind
    token_cache: Path | None = None  # the 0600 cache file (None: in memory only)
    timeout_s: float = 10.0
    rate_limit: int | None = None  # default: 15/s real, 2/s paper
    read_retries: int = 3  # EGW00201 and transport errors on reads
    backoff_s: float = 0.5  # doubled after each retry

    @property
    def url(self) -> str:
        return (self.base_url or BASE_URLS[self.credentials.kind]).rstrip("/")


def _num(row: dict[str, Any], key: str) -> float:
    raw = str(row.get(key, "") or "0").replace(",", "").strip()
    try:
        return float(raw)
    except ValueError:
        raise BrokerError("KIS_FORMAT", f"field {key} is not a number") from None


def _int(row: dict[str, Any], key: str) -> int:
    return int(round(_num(row, key)))


def _get(row: dict[str, Any], key: str) -> str:
    """A field by its name in either case (KIS answers order outputs in capitals)."""
    value = row.get(key, row.get(key.upper(), row.get(key.lower(), "")))
    return str(value or "")


def _kst(day: str, tmd: str) -> datetime:
    return datetime.strptime(f"{day}{tmd or '000000'}", "%Y%m%d%H%M%S").replace(tzinfo=KST)


class KisBroker:
    """The KIS implementation of `broker.protocol.Broker` (synchronous, thread-safe)."""

    def __init__(self, config: KisConfig, *, clock: Callable[[], datetime] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None) -> None:
        from broker.ratelimit import SlidingWindowLimiter

        creds = config.credentials
        self.config, self.kind = config, creds.kind
        self._creds = creds
        other = BASE_URLS[BrokerKind.REAL if creds.kind is BrokerKind.PAPER else BrokerKind.PAPER]
        if config.url == other:
            raise BrokerConfigError(
                "EGW02004", f"the credentials hold a {creds.kind.value} key but the base URL "
                            f"{config.url} is KIS's other domain; fix KRX_KIS_BASE_URL or the "
                            f"credentials' kind")
        self._clock = clock or (lambda: datetime.now(KST))
        self._sleep = sleep
        self._tr = TR_IDS[creds.kind]
        self._limiter = SlidingWindowLimiter(config.rate_limit or RATE_LIMITS[creds.kind])
        for name in ("httpx", "httpcore"):  # their INFO/DEBUG lines carry query strings
            logging.getLogger(name).setLevel(logging.WARNING)
        self._http = httpx.Client(base_url=config.url, timeout=config.timeout_s,
                                  transport=transport,
                                  headers={"content-type": "application/json; charset=utf-8"})
        cache = TokenCache(config.token_cache) if config.token_cache else None
        self.tokens = TokenManager(self._issue_token, key_fingerprint(creds.app_key, config.url),
                                   cache, self._clock)

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"KisBroker({self.kind.value}, {self.config.url}, {self._creds!r})"

    # -- start-up probe ------------------------------------------------------------------------
    def check(self) -> Balance:
        """Start-up probe: a token and one cheap read. A wrong-domain key, a bad key or an
        account that is not this key's raises `BrokerConfigError` with what to fix."""
        try:
            return self.balance()
        except BrokerConfigError as exc:
            raise BrokerConfigError(
                exc.code, f"KIS refused the {self.kind.value} credentials at {self.config.url} "
                          f"({exc.message}); check that the key's kind (paper/real) matches the "
                          f"domain (KRX_KIS_BASE_URL) and the account", http_status=exc.http_status
            ) from None

    # -- token ---------------------------------------------------------------------------------
    def _issue_token(self) -> tuple[str, str]:
        body = {"grant_type": "client_credentials", "appkey": self._creds.app_key,
                "appsecret": self._creds.app_secret}
        self._limiter.acquire()
        try:
            resp = self._http.post(TOKEN_PATH, json=body)
        except httpx.HTTPError as exc:
            raise BrokerUnavailable("KIS_UNREACHABLE",
                                    f"{TOKEN_PATH}: no answer ({type(exc).__name__})") from None
        data = self._json(resp, TOKEN_PATH)
        if resp.status_code == 200 and data.get("access_token"):
            return str(data["access_token"]), str(data.get("access_token_token_expired", ""))
        code = str(data.get("error_code") or data.get("msg_cd") or f"HTTP{resp.status_code}")
        message = str(data.get("error_description") or data.get("msg1") or "token refused")
        if wrong_domain(code, message):
            raise BrokerConfigError(code, message, http_status=resp.status_code)
        raise BrokerTokenError(code, message, http_status=resp.status_code)

    # -- one call ------------------------------------------------------------------------------
    def _json(self, resp: httpx.Response, path: str) -> dict[str, Any]:
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if resp.status_code >= 500:
                raise BrokerUnavailable("KIS_UNAVAILABLE", f"{path}: HTTP {resp.status_code}",
                                        http_status=resp.status_code)
            raise BrokerError("KIS_FORMAT", f"{path}: HTTP {resp.status_code}, not JSON",
                              http_status=resp.status_code)
        return data

    def _call(self, method: str, path: str, tr_id: str, *, params: dict[str, str] | None = None,
              body: dict[str, str] | None = None, tr_cont: str = "",
              order: bool = False) -> tuple[dict[str, Any], str]:
        """(body, response tr_cont) of one KIS call, with the token and rate rules above."""
        token_retry, attempt = True, 0
        while True:
            token = self.tokens.token()
            headers = {"authorization": f"Bearer {token}", "appkey": self._creds.app_key,
                       "appsecret": self._creds.app_secret, "tr_id": tr_id, "custtype": "P",
                       "tr_cont": tr_cont}
            self._limiter.acquire()
            try:
                resp = self._http.request(method, path, params=params, json=body,
                                          headers=headers)
            except httpx.HTTPError as exc:
                what = f"{path} ({tr_id}): no answer ({type(exc).__name__})"
                if order:
                    raise BrokerUnavailable(
                        "KIS_UNREACHABLE", f"{what}; the outcome is unknown: recover it from "
                                           f"the day's orders, do not resend") from None
                if attempt < self.config.read_retries:
                    attempt += 1
                    self._sleep(self.config.backoff_s * 2 ** (attempt - 1))
                    continue
                raise BrokerUnavailable("KIS_UNREACHABLE", what) from None
            data = self._json(resp, path)
            code, message = str(data.get("msg_cd", "")), str(data.get("msg1", ""))
            if resp.status_code == 200 and str(data.get("rt_cd")) == "0":
                return data, resp.headers.get("tr_cont", "")
            log.warning("KIS %s %s answered %s %s (HTTP %s)", path, tr_id, code, message,
                        resp.status_code)
            if code in TOKEN_CODES and token_retry:
                token_retry = False
                self.tokens.refresh(token)
                continue
            if code == "EGW00201":
                if not order and attempt < self.config.read_retries:
                    attempt += 1
                    self._sleep(self.config.backoff_s * 2 ** (attempt - 1))
                    continue
                raise BrokerRateLimited(code, message, http_status=resp.status_code)
            if wrong_domain(code, message):
                raise BrokerConfigError(code, message, http_status=resp.status_code)
            if code in TOKEN_CODES:
                raise BrokerTokenError(code, message, http_status=resp.status_code)
            if order and resp.status_code == 200:
                raise OrderRejected(code or "KIS_REJECTED", message, http_status=200)
            if resp.status_code >= 500 and not code:
                raise BrokerUnavailable("KIS_UNAVAILABLE", f"{path}: HTTP {resp.status_code}",
                                        http_status=resp.status_code)
            raise BrokerError(code or f"HTTP{resp.status_code}", message,
                              http_status=resp.status_code)

    def _pages(self, path: str, tr_id: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every page's answer, following `tr_cont` (M/F: more; D/E: the end) with the
        CTX_AREA_FK100/NK100 of the previous page and request header `tr_cont: N`."""
        pages: list[dict[str, Any]] = []
        query = {**params, "CTX_AREA_FK100": "", "CTX_AREA_NK100": ""}
        cont = ""
        for _ in range(MAX_PAGES):
            data, more = self._call("GET", path, tr_id, params=query, tr_cont=cont)
            pages.append(data)
            if more not in ("M", "F"):
                return pages
            query = {**params, "CTX_AREA_FK100": str(data.get("ctx_area_fk100", "")),
                     "CTX_AREA_NK100": str(data.get("ctx_area_nk100", ""))}
            cont = "N"
        raise BrokerError("KIS_PAGING", f"{path}: more than {MAX_PAGES} pages")

    def _account(self) -> dict[str, str]:
        return {"CANO": self._creds.cano, "ACNT_PRDT_CD": self._creds.acnt_prdt_cd}

    # -- Broker --------------------------------------------------------------------------------
    def place(self, order: OrderRequest) -> OrderAck:
        """One limit order (ORD_DVSN 00). Never retried here: see the module docstring."""
        if order.qty <= 0 or order.limit_price <= 0:
            raise OrderRejected("KIS_INPUT", f"{order.ticker}: qty and limit must be positive")
        side = "buy" if order.side is Side.BUY else "sell"
        body = {**self._account(), "PDNO": order.ticker, "ORD_DVSN": "00",
                "ORD_QTY": str(order.qty), "ORD_UNPR": str(order.limit_price),
                "EXCG_ID_DVSN_CD": "KRX", "SLL_TYPE": "01" if side == "sell" else "",
                "CNDT_PRIC": ""}
        data, _ = self._call("POST", ORDER_CASH, self._tr[side], body=body, order=True)
        out = data.get("output") or {}
        odno, orgno = _get(out, "ODNO"), _get(out, "KRX_FWDG_ORD_ORGNO")
        if not odno:
            raise BrokerUnavailable("KIS_FORMAT", f"{ORDER_CASH}: success without ODNO; the "
                                                  f"order must be recovered from the day's orders")
        log.info("KIS order %s %s %s x %s @ %s (tag %s)", odno, side, order.ticker, order.qty,
                 order.limit_price, order.client_tag)
        return OrderAck(order_no=odno, org_no=orgno,
                        placed_at=_kst(f"{self._clock().astimezone(KST):%Y%m%d}",
                                       _get(out, "ORD_TMD")))

    def cancel(self, order: BrokerOrder) -> None:
        body = {**self._account(), "KRX_FWDG_ORD_ORGNO": order.org_no, "ORGN_ODNO": order.order_no,
                "ORD_DVSN": "00", "RVSE_CNCL_DVSN_CD": "02", "ORD_QTY": "0", "ORD_UNPR": "0",
                "QTY_ALL_ORD_YN": "Y", "EXCG_ID_DVSN_CD": "KRX"}
        self._call("POST", ORDER_RVSECNCL, self._tr["cancel"], body=body, order=True)

    def day_orders(self, session: date) -> list[BrokerOrder]:
        return self._orders(session)

    def order_status(self, order_no: str, session: date) -> BrokerOrder | None:
        return next((o for o in self._orders(session, order_no) if o.order_no == order_no), None)

    def _orders(self, session: date, order_no: str = "") -> list[BrokerOrder]:
        day = f"{session:%Y%m%d}"
        params = {**self._account(), "INQR_STRT_DT": day, "INQR_END_DT": day,
                  "SLL_BUY_DVSN_CD": "00", "INQR_DVSN": "01", "PDNO": "", "CCLD_DVSN": "00",
                  "ORD_GNO_BRNO": "", "ODNO": order_no, "INQR_DVSN_3": "00", "INQR_DVSN_1": "",
                  "EXCG_ID_DVSN_CD": "KRX"}
        rows = [r for page in self._pages(DAILY_CCLD, self._tr["ccld"], params)
                for r in (page.get("output1") or [])]
        cancelled: dict[str, int] = {}
        for r in rows:  # a cancel is a row of its own pointing at the original (orgn_odno)
            if _get(r, "orgn_odno"):
                key = _get(r, "orgn_odno")
                cancelled[key] = cancelled.get(key, 0) + _int(r, "cnc_cfrm_qty")
        out = []
        for r in rows:
            if _get(r, "orgn_odno"):
                continue
            odno = _get(r, "odno")
            filled = _int(r, "tot_ccld_qty")
            out.append(BrokerOrder(
                order_no=odno, org_no=_get(r, "ord_gno_brno"), ticker=_get(r, "pdno"),
                side=Side.SELL if _get(r, "sll_buy_dvsn_cd") == "01" else Side.BUY,
                qty=_int(r, "ord_qty"), limit_price=_int(r, "ord_unpr"), filled_qty=filled,
                avg_fill_price=_num(r, "avg_prvs") if filled else 0.0,
                placed_at=_kst(_get(r, "ord_dt") or day, _get(r, "ord_tmd")),
                cancelled_qty=max(_int(r, "cnc_cfrm_qty"), cancelled.get(odno, 0)),
                rejected_qty=_int(r, "rjct_qty")))
        return out

    def balance(self) -> Balance:
        """Cash is `prvs_rcdl_excc_amt` (the deposit after today's trades settle, D+2) when KIS
        gives it, else `dnca_tot_amt`: the book records a fill's cash at once."""
        params = {**self._account(), "AFHR_FLPR_YN": "N", "OFL_YN": "", "INQR_DVSN": "02",
                  "UNPR_DVSN": "01", "FUND_STTL_ICLD_YN": "N", "FNCG_AMT_AUTO_RDPT_YN": "N",
                  "PRCS_DVSN": "00"}
        pages = self._pages(BALANCE, self._tr["balance"], params)
        holdings = tuple(
            Holding(ticker=_get(r, "pdno"), qty=_int(r, "hldg_qty"),
                    avg_price=_num(r, "pchs_avg_pric"))
            for page in pages for r in (page.get("output1") or []) if _int(r, "hldg_qty") > 0)
        summary = pages[-1].get("output2") or [{}]
        row = summary[0] if isinstance(summary, list) and summary else summary
        if not isinstance(row, dict):
            raise BrokerError("KIS_FORMAT", f"{BALANCE}: output2 is not a row")
        key = "prvs_rcdl_excc_amt" if _get(row, "prvs_rcdl_excc_amt") else "dnca_tot_amt"
        return Balance(cash=_num(row, key), holdings=holdings)

    def quote(self, ticker: str) -> Quote:
        data, _ = self._call("GET", PRICE, self._tr["price"],
                             params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": ticker})
        out = data.get("output") or {}
        return Quote(ticker=ticker, price=_int(out, "stck_prpr"), open=_int(out, "stck_oprc"),
                     halted=_get(out, "temp_stop_yn") == "Y")


if TYPE_CHECKING:  # mypy checks here that KisBroker is a `Broker`
    def _is_a_broker(b: KisBroker) -> Broker:
        return b


def broker_from_env(token_cache: Path | None = None, *, env: dict[str, str] | None = None,
                    clock: Callable[[], datetime] | None = None) -> KisBroker:
    """`KRX_KIS_CREDENTIALS_FILE` (0600) and `KRX_KIS_BASE_URL` (default: the kind's domain)."""
    import os

    from broker.credentials import CREDENTIALS_ENV, load_credentials

    source = os.environ if env is None else env
    path = source.get(CREDENTIALS_ENV, "")
    if not path:
        raise BrokerConfigError("KIS_CONFIG", f"{CREDENTIALS_ENV} is not set")
    creds = load_credentials(Path(path))
    return KisBroker(KisConfig(credentials=creds, base_url=source.get(BASE_URL_ENV) or None,
                               token_cache=token_cache), clock=clock)
