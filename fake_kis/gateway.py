"""The fake's gateway: app keys and their kind, access tokens, the per-key rate limit, the TR
ids of each path, and the request counters the tests read.

App keys: a key registered through `/__fake__/apps` has the kind given there; an unregistered
key is registered at its first token request with the kind its prefix encodes — `PS...` is a
paper (모의투자) key, anything else a real (실전) key — and the secret it came with.

Tokens (KIS rules): a token lives 24 h; a request within 6 h of the last issuance gets the same
token back; at most one token request a minute per key (else EGW00133). The token clock is the
wall clock plus an offset the control route can advance, so a test can pass a minute or a day.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fake_kis import codes
from fake_kis.codes import KisCode
from krx_common.defaults import KST

TOKEN_LIFE = timedelta(hours=24)
TOKEN_REUSE = timedelta(hours=6)
TOKEN_MIN_INTERVAL = timedelta(minutes=1)
RATE_LIMITS = {"real": 15, "paper": 2}  # requests per second per app key

ORDER_CASH = "/uapi/domestic-stock/v1/trading/order-cash"
ORDER_RVSECNCL = "/uapi/domestic-stock/v1/trading/order-rvsecncl"
DAILY_CCLD = "/uapi/domestic-stock/v1/trading/inquire-daily-ccld"
BALANCE = "/uapi/domestic-stock/v1/trading/inquire-balance"
PRICE = "/uapi/domestic-stock/v1/quotations/inquire-price"

# (path) -> {tr_id: (kind, meaning)}; kind "any" serves both domains. The samples' current ids
# (TTTC0012U, VTTC0012U, ...) and the older ones (TTTC0802U, VTTC0802U, ...) both work at KIS.
TR_IDS: dict[str, dict[str, tuple[str, str]]] = {
    ORDER_CASH: {"TTTC0012U": ("real", "buy"), "TTTC0011U": ("real", "sell"),
                 "TTTC0802U": ("real", "buy"), "TTTC0801U": ("real", "sell"),
                 "VTTC0802U": ("paper", "buy"), "VTTC0801U": ("paper", "sell"),
                 "VTTC0012U": ("paper", "buy"), "VTTC0011U": ("paper", "sell")},
    ORDER_RVSECNCL: {"TTTC0013U": ("real", "cancel"), "TTTC0803U": ("real", "cancel"),
                     "VTTC0013U": ("paper", "cancel"), "VTTC0803U": ("paper", "cancel")},
    DAILY_CCLD: {"TTTC0081R": ("real", "ccld"), "TTTC8001R": ("real", "ccld"),
                 "VTTC0081R": ("paper", "ccld"), "VTTC8001R": ("paper", "ccld")},
    BALANCE: {"TTTC8434R": ("real", "balance"), "VTTC8434R": ("paper", "balance")},
    PRICE: {"FHKST01010100": ("any", "price")},
}


class GatewayError(Exception):
    def __init__(self, code: KisCode, detail: str = "") -> None:
        super().__init__(code.code)
        self.kis, self.detail = code, detail


def fingerprint(secret: str) -> str:
    """A key's name in counters and the state: never the key itself."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]


@dataclass
class App:
    secret: str
    kind: str
    token: str | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    last_request_at: datetime | None = None


@dataclass
class Counters:
    paths: dict[str, int] = field(default_factory=dict)
    token_requests: int = 0
    token_issuances: int = 0
    rate_rejections: int = 0
    max_per_second: dict[str, int] = field(default_factory=dict)  # key fingerprint -> max
    windows: dict[str, deque[float]] = field(default_factory=dict)

    def arrive(self, path: str, app_key: str | None) -> None:
        self.paths[path] = self.paths.get(path, 0) + 1
        if not app_key or path == "/oauth2/tokenP":
            return
        fp = fingerprint(app_key)
        window = self.windows.setdefault(fp, deque())
        now = time.monotonic()
        window.append(now)
        while window and window[0] <= now - 1.0:
            window.popleft()
        self.max_per_second[fp] = max(self.max_per_second.get(fp, 0), len(window))

    def as_json(self) -> dict[str, object]:
        return {"paths": dict(self.paths), "token_requests": self.token_requests,
                "token_issuances": self.token_issuances,
                "rate_rejections": self.rate_rejections,
                "max_per_second": dict(self.max_per_second)}


class Gateway:
    def __init__(self, domain: str, rate_limit: int | None = None) -> None:
        if domain not in RATE_LIMITS:
            raise ValueError(f"domain must be paper or real, not {domain!r}")
        self.domain = domain
        self.rate_limit = rate_limit or RATE_LIMITS[domain]
        self.apps: dict[str, App] = {}
        self.clock_offset = timedelta(0)
        self.counters = Counters()
        self._accepted: dict[str, deque[float]] = {}

    def now(self) -> datetime:
        return datetime.now(KST) + self.clock_offset

    def register(self, app_key: str, secret: str, kind: str) -> None:
        if kind not in RATE_LIMITS:
            raise ValueError(f"kind must be paper or real, not {kind!r}")
        self.apps[app_key] = App(secret=secret, kind=kind)

    def _app(self, app_key: str, secret: str) -> App:
        if not app_key:
            raise GatewayError(codes.APPKEY_INVALID, "appkey")
        app = self.apps.get(app_key)
        if app is None:
            raise GatewayError(codes.APPKEY_INVALID, "unknown appkey")
        if not secrets.compare_digest(app.secret.encode(), secret.encode()):
            raise GatewayError(codes.APPSECRET_INVALID, "appsecret")
        if app.kind != self.domain:
            raise GatewayError(codes.NOT_REAL_TR if self.domain == "real" else codes.NOT_PAPER_TR,
                               f"a {app.kind} key on the {self.domain} domain")
        return app

    def issue_token(self, app_key: str, secret: str) -> App:
        """POST /oauth2/tokenP: the same token within 6 h, one request a minute, 24 h life."""
        self.counters.token_requests += 1
        if app_key and app_key not in self.apps:
            self.register(app_key, secret, "paper" if app_key.startswith("PS") else "real")
        app = self._app(app_key, secret)
        now = self.now()
        if app.last_request_at is not None and now - app.last_request_at < TOKEN_MIN_INTERVAL:
            raise GatewayError(codes.TOKEN_TOO_OFTEN)
        app.last_request_at = now
        fresh = (app.token is not None and app.issued_at is not None
                 and app.expires_at is not None and now - app.issued_at < TOKEN_REUSE
                 and now < app.expires_at)
        if not fresh:
            app.token = "eyJ" + secrets.token_urlsafe(48)
            app.issued_at, app.expires_at = now, now + TOKEN_LIFE
            self.counters.token_issuances += 1
        return app

    def authorize(self, path: str, authorization: str, app_key: str, secret: str,
                  tr_id: str, custtype: str) -> str:
        """The checks of every API call in KIS's order; returns the TR id's meaning."""
        app = self._app(app_key, secret)
        self._rate(app_key)
        if not authorization.startswith("Bearer ") or app.token is None:
            raise GatewayError(codes.TOKEN_INVALID, "authorization")
        if not secrets.compare_digest(authorization[7:].encode(), app.token.encode()):
            raise GatewayError(codes.TOKEN_INVALID, "authorization")
        assert app.expires_at is not None
        if self.now() >= app.expires_at:
            raise GatewayError(codes.TOKEN_EXPIRED)
        if custtype not in ("P", "B"):
            raise GatewayError(codes.CUSTTYPE_INVALID, "custtype")
        known = TR_IDS[path].get(tr_id)
        if known is None:
            other = next((k for p in TR_IDS.values() for t, (k, _) in p.items() if t == tr_id),
                         None)
            if other is not None and other != self.domain:
                raise GatewayError(
                    codes.NOT_REAL_TR if self.domain == "real" else codes.NOT_PAPER_TR, tr_id)
            raise GatewayError(codes.NO_SUCH_SERVICE, f"tr_id {tr_id!r} for {path}")
        kind, meaning = known
        if kind not in ("any", self.domain):
            raise GatewayError(codes.NOT_REAL_TR if self.domain == "real" else codes.NOT_PAPER_TR,
                               tr_id)
        return meaning

    def _rate(self, app_key: str) -> None:
        """EGW00201 when this key already had `rate_limit` accepted calls in the last second."""
        window = self._accepted.setdefault(app_key, deque())
        now = time.monotonic()
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self.rate_limit:
            self.counters.rate_rejections += 1
            raise GatewayError(codes.RATE_EXCEEDED)
        window.append(now)

    def expire_tokens(self) -> None:
        for app in self.apps.values():
            if app.token is not None:
                app.expires_at = self.now() - timedelta(seconds=1)
