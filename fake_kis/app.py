"""The fake KIS Open API as a FastAPI app: KIS's paths at the root, KIS's headers, every field a
string, the `rt_cd`/`msg_cd`/`msg1` envelope, and test-only control routes under `/__fake__/`.

Written from KIS's documentation and the official samples (`koreainvestment/open-trading-api`,
`examples_llm/kis_auth.py` and `examples_llm/domestic_stock/*/`), never from our client; see
docs/broker.md for the routes, the control API and the sources.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fake_kis import codes
from fake_kis.codes import KisCode
from fake_kis.gateway import (
    BALANCE,
    DAILY_CCLD,
    ORDER_CASH,
    ORDER_RVSECNCL,
    PRICE,
    App,
    Gateway,
    GatewayError,
)
from fake_kis.market import (
    BUY,
    FILL_MODES,
    SELL,
    FakeOrder,
    Holding,
    Market,
    MarketConfig,
    Rejected,
)
from krx_common.atomic import atomic_write_text
from krx_common.defaults import KST
from strategy.marketdata.errors import MarketDataError
from strategy.marketdata.factory import make_provider

TOKEN_PATH = "/oauth2/tokenP"
KIS_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass
class FakeKisOptions:
    data: str  # a market-data spec (`csv:DIR`, `demo`)
    domain: str = "paper"
    session_date: date | None = None  # default: the last bar of the first ticker found
    phase: str = "open"
    state_file: Path | None = None
    rate_limit: int | None = None  # default 2/s paper, 15/s real
    market: MarketConfig = field(default_factory=MarketConfig)


def _s(value: float | int) -> str:
    """A KIS number field: a string, integers without a decimal point."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(int(round(value)))


def _envelope(kis: tuple[str, str], **outputs: Any) -> dict[str, Any]:
    return {"rt_cd": "0", "msg_cd": kis[0], "msg1": kis[1], **outputs}


def _fail(code: KisCode, detail: str = "", status: int | None = None) -> JSONResponse:
    msg = code.message if not detail else f"{code.message} ({detail})"
    return JSONResponse({"rt_cd": "1", "msg_cd": code.code, "msg1": msg},
                        status_code=status or code.http_status, headers={"tr_cont": ""})


class FakeKis:
    """The fake's whole state behind one lock: the gateway and the market."""

    def __init__(self, options: FakeKisOptions) -> None:
        self.options = options
        self.lock = threading.Lock()
        self.provider = make_provider(options.data)
        self.gateway = Gateway(options.domain, options.rate_limit)
        self.market = Market(self.provider, copy.deepcopy(options.market),
                             self._first_date(options), options.phase)
        if options.state_file is not None and options.state_file.exists():
            self._load(options.state_file)

    def _first_date(self, options: FakeKisOptions) -> date:
        """The session to start on: the given one, else the last bar of the first CSV ticker."""
        if options.session_date is not None:
            return options.session_date
        if options.data.startswith("csv:"):
            for path in sorted(Path(options.data[4:]).expanduser().glob("*.csv")):
                try:
                    frame = self.provider.load([path.stem], end=date(2100, 1, 1))[path.stem]
                except (MarketDataError, ValueError):
                    continue
                return frame.index[-1].date()
        return datetime.now(KST).date()

    def reset(self) -> None:
        self.gateway = Gateway(self.options.domain, self.options.rate_limit)
        self.market = Market(self.provider, copy.deepcopy(self.options.market),
                             self._first_date(self.options), self.options.phase)
        self.save()

    # -- persistence ---------------------------------------------------------------------------
    def save(self) -> None:
        path = self.options.state_file
        if path is None:
            return
        apps = {k: {"secret": a.secret, "kind": a.kind, "token": a.token,
                    "issued_at": a.issued_at.isoformat() if a.issued_at else None,
                    "expires_at": a.expires_at.isoformat() if a.expires_at else None,
                    "last_request_at": (a.last_request_at.isoformat()
                                        if a.last_request_at else None)}
                for k, a in self.gateway.apps.items()}
        data = {"market": self.market.to_json(), "apps": apps,
                "clock_offset_s": self.gateway.clock_offset.total_seconds()}
        atomic_write_text(path, json.dumps(data, ensure_ascii=False))

    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self.market.load_json(data["market"])
        self.gateway.clock_offset = timedelta(seconds=data["clock_offset_s"])

        def when(v: str | None) -> datetime | None:
            return datetime.fromisoformat(v) if v else None

        for key, a in data["apps"].items():
            self.gateway.apps[key] = App(secret=a["secret"], kind=a["kind"], token=a["token"],
                                         issued_at=when(a["issued_at"]),
                                         expires_at=when(a["expires_at"]),
                                         last_request_at=when(a["last_request_at"]))


def _order_row(o: FakeOrder, market: Market) -> dict[str, str]:
    avg = o.fill_amount / o.filled if o.filled else 0.0
    return {
        "ord_dt": o.ord_date, "ord_gno_brno": o.orgno, "odno": o.odno,
        "orgn_odno": o.orgn_odno,
        "ord_dvsn_name": "취소" if o.is_cancel_row else "지정가",
        "sll_buy_dvsn_cd": o.side,
        "sll_buy_dvsn_cd_name": "매도" if o.side == SELL else "매수",
        "pdno": o.ticker, "prdt_name": o.ticker, "ord_qty": _s(o.qty),
        "ord_unpr": _s(o.limit), "ord_tmd": o.ord_tmd, "tot_ccld_qty": _s(o.filled),
        "avg_prvs": _s(avg), "cncl_yn": "Y" if o.is_cancel_row else "N",
        "tot_ccld_amt": _s(round(o.fill_amount)), "loan_dt": "", "ordr_empno": "",
        "ord_dvsn_cd": "00", "cnc_cfrm_qty": _s(o.cancelled if o.is_cancel_row else 0),
        "rmn_qty": _s(o.remaining), "rjct_qty": _s(o.rejected), "ccld_cndt_name": "없음",
        "infm_tmd": "", "ctac_tlno": "", "prdt_type_cd": "300", "excg_dvsn_cd": "02",
        "excg_id_dvsn_cd": "KRX",
    }


def create_app(options: FakeKisOptions) -> FastAPI:
    fake = FakeKis(options)
    app = FastAPI(title="fake KIS Open API", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fake = fake

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Any:
        with fake.lock:
            if not request.url.path.startswith("/__fake__"):
                fake.gateway.counters.arrive(request.url.path, request.headers.get("appkey"))
        return await call_next(request)

    def gate(request: Request, path: str) -> str | JSONResponse:
        h = request.headers
        try:
            return fake.gateway.authorize(path, h.get("authorization", ""), h.get("appkey", ""),
                                          h.get("appsecret", ""), h.get("tr_id", ""),
                                          h.get("custtype", ""))
        except GatewayError as exc:
            return _fail(exc.kis, exc.detail)

    async def body_of(request: Request) -> dict[str, str] | JSONResponse:
        try:
            raw = json.loads(await request.body() or b"{}")
        except ValueError:
            return _fail(codes.BAD_JSON, "body is not JSON")
        if not isinstance(raw, dict):
            return _fail(codes.BAD_JSON, "body is not an object")
        for key, value in raw.items():
            if not isinstance(value, str):
                return _fail(codes.BAD_FIELD, f"{key} must be a string")
        return raw

    def account_call(request: Request, path: str, fields: dict[str, str]
                     ) -> str | JSONResponse:
        """`gate`, then the account fields: what every account-scoped call checks first."""
        meaning = gate(request, path)
        if isinstance(meaning, JSONResponse):
            return meaning
        bad = account_error(fields)
        return meaning if bad is None else bad

    def account_error(fields: dict[str, str]) -> JSONResponse | None:
        cfg = fake.market.config
        if fields.get("CANO") != cfg.cano or fields.get("ACNT_PRDT_CD") != cfg.acnt_prdt_cd:
            return _fail(codes.BAD_ACCOUNT, "CANO/ACNT_PRDT_CD: not this account", 200)
        return None

    def kis_json(payload: dict[str, Any], tr_id: str, tr_cont: str = "") -> JSONResponse:
        return JSONResponse(payload, headers={"tr_id": tr_id, "tr_cont": tr_cont,
                                              "content-type": "application/json; charset=utf-8"})

    # -- token ---------------------------------------------------------------------------------
    @app.post(TOKEN_PATH)
    async def token(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict) or body.get("grant_type") != "client_credentials":
            return JSONResponse({"error_description": "grant_type", "error_code": "EGW00002"},
                                status_code=403)
        with fake.lock:
            try:
                issued = fake.gateway.issue_token(str(body.get("appkey", "")),
                                                  str(body.get("appsecret", "")))
            except GatewayError as exc:
                return JSONResponse({"error_description": exc.kis.message,
                                     "error_code": exc.kis.code}, status_code=403)
            fake.save()
            assert issued.token and issued.expires_at and issued.issued_at
            left = issued.expires_at - fake.gateway.now()
            return JSONResponse({
                "access_token": issued.token,
                "access_token_token_expired": issued.expires_at.strftime(KIS_TIME),
                "token_type": "Bearer", "expires_in": int(left.total_seconds())})

    # -- orders --------------------------------------------------------------------------------
    @app.post(ORDER_CASH)
    async def order_cash(request: Request) -> JSONResponse:
        fields = await body_of(request)
        if isinstance(fields, JSONResponse):
            return fields
        with fake.lock:
            meaning = account_call(request, ORDER_CASH, fields)
            if isinstance(meaning, JSONResponse):
                return meaning
            for name in ("PDNO", "ORD_DVSN", "ORD_QTY", "ORD_UNPR"):
                if not fields.get(name):
                    return _fail(codes.BAD_FIELD, f"{name} is required", 200)
            if fields["ORD_DVSN"] != "00":
                return _fail(codes.BAD_FIELD, "ORD_DVSN: the fake takes limit orders (00)",
                             200)
            if not (fields["ORD_QTY"].isdigit() and fields["ORD_UNPR"].isdigit()):
                return _fail(codes.BAD_FIELD, "ORD_QTY/ORD_UNPR must be whole numbers", 200)
            side = BUY if meaning == "buy" else SELL
            try:
                order = fake.market.place(fields["PDNO"], side, int(fields["ORD_QTY"]),
                                          int(fields["ORD_UNPR"]))
            except Rejected as exc:
                fake.save()
                return _fail(exc.kis, exc.detail)
            fake.save()
            return kis_json(_envelope(codes.ORDER_OK, output={
                "KRX_FWDG_ORD_ORGNO": order.orgno, "ODNO": order.odno,
                "ORD_TMD": order.ord_tmd}), request.headers.get("tr_id", ""))

    @app.post(ORDER_RVSECNCL)
    async def order_rvsecncl(request: Request) -> JSONResponse:
        fields = await body_of(request)
        if isinstance(fields, JSONResponse):
            return fields
        with fake.lock:
            meaning = account_call(request, ORDER_RVSECNCL, fields)
            if isinstance(meaning, JSONResponse):
                return meaning
            if fields.get("RVSE_CNCL_DVSN_CD") != "02" or fields.get("QTY_ALL_ORD_YN") != "Y":
                return _fail(codes.BAD_FIELD,
                             "the fake cancels whole remainders only (02, QTY_ALL_ORD_YN Y)", 200)
            try:
                row = fake.market.cancel(fields.get("ORGN_ODNO", ""),
                                         fields.get("KRX_FWDG_ORD_ORGNO", ""))
            except Rejected as exc:
                return _fail(exc.kis, exc.detail)
            fake.save()
            return kis_json(_envelope(codes.CANCEL_OK, output={
                "KRX_FWDG_ORD_ORGNO": row.orgno, "ODNO": row.odno, "ORD_TMD": row.ord_tmd}),
                request.headers.get("tr_id", ""))

    # -- inquiries -----------------------------------------------------------------------------
    @app.get(DAILY_CCLD)
    def daily_ccld(request: Request) -> JSONResponse:
        q = request.query_params
        with fake.lock:
            meaning = account_call(request, DAILY_CCLD, dict(q))
            if isinstance(meaning, JSONResponse):
                return meaning
            start, end = q.get("INQR_STRT_DT", ""), q.get("INQR_END_DT", "")
            if not (len(start) == 8 and start.isdigit() and len(end) == 8 and end.isdigit()):
                return _fail(codes.BAD_FIELD, "INQR_STRT_DT/INQR_END_DT: YYYYMMDD", 200)
            cont = request.headers.get("tr_cont", "")
            offset = 0
            if cont == "N":
                nk = q.get("CTX_AREA_NK100", "").strip()
                if not nk.isdigit():
                    return _fail(codes.BAD_FIELD, "CTX_AREA_NK100 of the previous page", 200)
                offset = int(nk)
            else:
                fake.market.step()  # a poll is a match step (partial fills per poll)
                fake.save()
            rows = [o for o in fake.market.account.orders if start <= o.ord_date <= end]
            side = q.get("SLL_BUY_DVSN_CD", "00")
            if side in (SELL, BUY):
                rows = [o for o in rows if o.side == side]
            if q.get("PDNO"):
                rows = [o for o in rows if o.ticker == q["PDNO"]]
            if q.get("ODNO"):
                rows = [o for o in rows if o.odno == q["ODNO"] or o.orgn_odno == q["ODNO"]]
            ccld = q.get("CCLD_DVSN", "00")
            if ccld == "01":
                rows = [o for o in rows if o.filled > 0]
            elif ccld == "02":
                rows = [o for o in rows if o.remaining > 0]
            rows.sort(key=lambda o: o.odno, reverse=q.get("INQR_DVSN", "00") == "00")
            size = fake.market.config.page_size
            page = rows[offset:offset + size]
            more = offset + size < len(rows)
            filled = [o for o in rows if not o.is_cancel_row]
            out2 = {"tot_ord_qty": _s(sum(o.qty for o in filled)),
                    "tot_ccld_qty": _s(sum(o.filled for o in filled)),
                    "tot_ccld_amt": _s(round(sum(o.fill_amount for o in filled))),
                    "prsm_tlex_smtl": _s(round(sum(o.fees for o in filled))),
                    "pchs_avg_pric": _s(0.0)}
            payload = _envelope(codes.NEXT_PAGE_OK if more else codes.INQUIRY_OK,
                                ctx_area_fk100=q.get("CTX_AREA_FK100", "") or f"{start}{end}",
                                ctx_area_nk100=str(offset + size) if more else "",
                                output1=[_order_row(o, fake.market) for o in page],
                                output2=out2)
            tr_cont = ("M" if cont == "N" else "F") if more else ("E" if cont == "N" else "D")
            return kis_json(payload, request.headers.get("tr_id", ""), tr_cont)

    @app.get(BALANCE)
    def balance(request: Request) -> JSONResponse:
        q = request.query_params
        with fake.lock:
            meaning = account_call(request, BALANCE, dict(q))
            if isinstance(meaning, JSONResponse):
                return meaning
            m = fake.market
            rows, evlu = [], 0.0
            for ticker, h in sorted(m.account.holdings.items()):
                price = _current_price(m, ticker) or h.avg_price
                evlu += h.qty * price
                rows.append({
                    "pdno": ticker, "prdt_name": ticker, "trad_dvsn_name": "현금",
                    "hldg_qty": _s(h.qty), "ord_psbl_qty": _s(h.qty - m._reserved_qty(ticker)),
                    "pchs_avg_pric": _s(h.avg_price), "pchs_amt": _s(round(h.qty * h.avg_price)),
                    "prpr": _s(price), "evlu_amt": _s(round(h.qty * price)),
                    "evlu_pfls_amt": _s(round(h.qty * (price - h.avg_price)))})
            cash = round(m.account.cash)
            out2 = [{"dnca_tot_amt": _s(cash), "nxdy_excc_amt": _s(cash),
                     "prvs_rcdl_excc_amt": _s(cash), "scts_evlu_amt": _s(round(evlu)),
                     "tot_evlu_amt": _s(round(evlu) + cash),
                     "nass_amt": _s(round(evlu) + cash)}]
            return kis_json(_envelope(codes.INQUIRY_OK, ctx_area_fk100="", ctx_area_nk100="",
                                      output1=rows, output2=out2),
                            request.headers.get("tr_id", ""), "D")

    @app.get(PRICE)
    def price(request: Request) -> JSONResponse:
        q = request.query_params
        with fake.lock:
            meaning = gate(request, PRICE)
            if isinstance(meaning, JSONResponse):
                return meaning
            ticker = q.get("FID_INPUT_ISCD", "")
            m = fake.market
            if q.get("FID_COND_MRKT_DIV_CODE") != "J" or not m.knows(ticker):
                return _fail(codes.UNKNOWN_TICKER, ticker, 200)
            bar = m.bar(ticker)
            prev = m.previous_close(ticker) or 0.0
            now = _current_price(m, ticker) or prev
            halted = ticker in m.config.halted
            return kis_json(_envelope(codes.INQUIRY_OK, output={
                "stck_prpr": _s(now), "stck_oprc": _s(bar["open"] if bar else 0),
                "stck_hgpr": _s(bar["high"] if bar else 0),
                "stck_lwpr": _s(bar["low"] if bar else 0), "stck_sdpr": _s(prev),
                "prdy_vrss": _s(now - prev), "acml_vol": _s(bar["volume"] if bar else 0),
                "temp_stop_yn": "Y" if halted else "N",
                "iscd_stat_cls_code": "58" if halted else "55"}),
                request.headers.get("tr_id", ""))

    # -- control (test-only) -------------------------------------------------------------------
    def control(handler: Any) -> Any:
        async def run(request: Request) -> JSONResponse:
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                return JSONResponse({"error": "body is not JSON"}, status_code=422)
            with fake.lock:
                try:
                    result = handler(body if isinstance(body, dict) else {})
                except (KeyError, ValueError, TypeError) as exc:
                    return JSONResponse({"error": str(exc)}, status_code=422)
                fake.save()
                return JSONResponse(result if result is not None else _snapshot(fake))
        return run

    def set_session(body: dict[str, Any]) -> None:
        day = date.fromisoformat(body["date"]) if body.get("date") else None
        fake.market.set_session(day, body.get("phase"))

    def set_config(body: dict[str, Any]) -> None:
        cfg = fake.market.config
        if "fill_mode" in body and body["fill_mode"] not in FILL_MODES:
            raise ValueError(f"fill_mode must be one of {FILL_MODES}, not {body['fill_mode']!r}")
        for name in ("partial_fraction", "slippage_bps", "page_size", "commission", "halted",
                     "fill_mode"):
            if name in body:
                setattr(cfg, name, body[name])
        if cfg.partial_fraction is not None and not 0 < cfg.partial_fraction <= 1:
            raise ValueError("partial_fraction must be in (0, 1] or null")
        if int(cfg.page_size) < 1:
            raise ValueError("page_size must be >= 1")

    def halt(body: dict[str, Any]) -> None:
        halted = set(fake.market.config.halted)
        (halted.add if body.get("halted", True) else halted.discard)(str(body["ticker"]))
        fake.market.config.halted = sorted(halted)

    def hts_order(body: dict[str, Any]) -> dict[str, Any]:
        side = {"BUY": BUY, "SELL": SELL}[str(body["side"]).upper()]
        try:
            o = fake.market.place(str(body["ticker"]), side, int(body["qty"]),
                                  int(body["limit"]), source="hts")
        except Rejected as exc:
            return {"rejected": exc.kis.code, "msg1": exc.kis.message}
        return {"odno": o.odno, "orgno": o.orgno}

    def edit_account(body: dict[str, Any]) -> None:
        if "cash" in body:
            fake.market.account.cash = float(body["cash"])
        for ticker, h in (body.get("holdings") or {}).items():
            if int(h["qty"]) <= 0:
                fake.market.account.holdings.pop(ticker, None)
            else:
                fake.market.account.holdings[ticker] = Holding(int(h["qty"]),
                                                               float(h["avg_price"]))

    def add_app(body: dict[str, Any]) -> dict[str, str]:
        fake.gateway.register(str(body["app_key"]), str(body["app_secret"]), str(body["kind"]))
        return {"registered": "ok"}

    def advance(body: dict[str, Any]) -> dict[str, str]:
        fake.gateway.clock_offset += timedelta(seconds=float(body["advance_s"]))
        return {"now": fake.gateway.now().strftime(KIS_TIME)}

    def expire(_: dict[str, Any]) -> dict[str, str]:
        fake.gateway.expire_tokens()
        return {"expired": "ok"}

    def reset(_: dict[str, Any]) -> None:
        fake.reset()

    def step(_: dict[str, Any]) -> None:
        fake.market.step()

    for route, fn in (("session", set_session), ("config", set_config), ("halt", halt),
                      ("hts-order", hts_order), ("account", edit_account), ("apps", add_app),
                      ("clock", advance), ("tokens/expire", expire), ("reset", reset),
                      ("step", step)):
        app.add_api_route(f"/__fake__/{route}", control(fn), methods=["POST"])

    @app.get("/__fake__/state")
    def state() -> JSONResponse:
        with fake.lock:
            return JSONResponse(_snapshot(fake))

    @app.get("/__fake__/counters")
    def counters() -> JSONResponse:
        with fake.lock:
            return JSONResponse(fake.gateway.counters.as_json())

    @app.get("/__fake__/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "domain": fake.gateway.domain}

    return app


def _current_price(m: Market, ticker: str) -> float | None:
    """The last price the session's phase shows: the previous close before the open, the
    open at the open, the close afterwards (the fake has daily bars only)."""
    bar = m.bar(ticker)
    if bar is None or m.phase == "preopen":
        return m.previous_close(ticker)
    return bar["open"] if m.phase == "open" else bar["close"]


def _snapshot(fake: FakeKis) -> dict[str, Any]:
    m = fake.market
    return {"session_date": m.session_date.isoformat(), "phase": m.phase,
            "domain": fake.gateway.domain, "cash": m.account.cash,
            "holdings": {t: {"qty": h.qty, "avg_price": h.avg_price}
                         for t, h in m.account.holdings.items()},
            "orders": [{"odno": o.odno, "orgno": o.orgno, "ticker": o.ticker,
                        "side": "SELL" if o.side == SELL else "BUY", "qty": o.qty,
                        "limit": o.limit, "date": o.ord_date, "time": o.ord_tmd,
                        "filled": o.filled, "fill_amount": o.fill_amount, "fees": o.fees,
                        "cancelled": o.cancelled, "remaining": o.remaining,
                        "source": o.source, "cancels": o.orgn_odno}
                       for o in m.account.orders],
            "config": {"partial_fraction": m.config.partial_fraction,
                       "slippage_bps": m.config.slippage_bps, "page_size": m.config.page_size,
                       "commission": m.config.commission, "halted": m.config.halted,
                       "fill_mode": m.config.fill_mode}}
