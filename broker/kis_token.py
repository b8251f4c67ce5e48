"""The KIS access token: issued by `POST /oauth2/tokenP`, kept for its whole life (about 24 h)
in a 0600 cache file so a restart does not issue another, and never requested more than once a
minute (KIS answers EGW00133; the guard here refuses first, across restarts too, because the
time of the last request is in the cache file).

`access_token_token_expired` is KST wall-clock time ("YYYY-MM-DD HH:MM:SS") and is compared as
such, with the aware clock the broker is given.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from broker.protocol import BrokerConfigError, BrokerTokenError
from krx_common.atomic import StoreError, atomic_write_text
from krx_common.defaults import KST
from krx_common.tokens import SecretFileError, read_secret_file

KIS_TIME = "%Y-%m-%d %H:%M:%S"
MIN_REQUEST_INTERVAL = timedelta(minutes=1)
EXPIRY_MARGIN = timedelta(minutes=5)  # a token this close to its end is not used


def parse_kis_time(text: str) -> datetime:
    """KIS's wall-clock time (KST) as an aware datetime."""
    return datetime.strptime(text, KIS_TIME).replace(tzinfo=KST)


def key_fingerprint(app_key: str, base_url: str) -> str:
    return hashlib.sha256(f"{app_key}\n{base_url}".encode()).hexdigest()[:16]


@dataclass
class CachedToken:
    access_token: str = field(repr=False)
    expires_at: datetime
    requested_at: datetime
    key_fp: str

    def usable(self, now: datetime) -> bool:
        return now < self.expires_at - EXPIRY_MARGIN


class TokenCache:
    """The 0600 file; a wider mode is a configuration error, as for every secret file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, key_fp: str) -> CachedToken | None:
        if not self.path.exists():
            return None
        try:
            text = read_secret_file(self.path, "KIS token cache")
        except SecretFileError as exc:
            raise BrokerConfigError("KIS_CONFIG", str(exc)) from None
        try:
            data = json.loads(text)
            tok = CachedToken(access_token=data["access_token"],
                              expires_at=datetime.fromisoformat(data["expires_at"]),
                              requested_at=datetime.fromisoformat(data["requested_at"]),
                              key_fp=data["key_fp"])
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: issue again (at most once a minute still holds in memory)
        return tok if tok.key_fp == key_fp else None

    def save(self, tok: CachedToken) -> None:
        data = {"access_token": tok.access_token, "expires_at": tok.expires_at.isoformat(),
                "requested_at": tok.requested_at.isoformat(), "key_fp": tok.key_fp}
        try:
            atomic_write_text(self.path, json.dumps(data))  # mkstemp: mode 0600
        except StoreError as exc:
            raise BrokerConfigError("KIS_CONFIG", f"KIS token cache: {exc}") from None


class TokenManager:
    """`issue()` does the HTTP request and returns (token, expiry text); it raises the
    broker's typed errors."""

    def __init__(self, issue: Callable[[], tuple[str, str]], key_fp: str,
                 cache: TokenCache | None, clock: Callable[[], datetime]) -> None:
        self._issue, self._fp, self._cache, self._clock = issue, key_fp, cache, clock
        self._lock = threading.Lock()
        self._token: CachedToken | None = cache.load(key_fp) if cache else None
        self._last_request = self._token.requested_at if self._token is not None else None
        self.issued_here = 0  # token requests this object made (for tests and /health)

    def token(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is not None and self._token.usable(now):
                return self._token.access_token
            return self._request(now)

    def refresh(self, stale: str) -> str:
        """A new token after KIS said `stale` expired (EGW00123); if another thread already
        replaced it, that one is used."""
        with self._lock:
            if self._token is not None and self._token.access_token != stale:
                return self._token.access_token
            return self._request(self._clock())

    def _request(self, now: datetime) -> str:
        last = self._last_request
        if last is not None and now - last < MIN_REQUEST_INTERVAL:
            wait = (MIN_REQUEST_INTERVAL - (now - last)).total_seconds()
            raise BrokerTokenError(
                "EGW00133", f"KIS allows one token request a minute; the last one was "
                            f"{(now - last).total_seconds():.0f} s ago, retry in {wait:.0f} s")
        self._last_request = now  # a request counts at KIS even when it fails
        self.issued_here += 1
        value, expiry = self._issue()
        try:
            expires_at = parse_kis_time(expiry)
        except ValueError:
            raise BrokerTokenError("KIS_TOKEN", "access_token_token_expired is not "
                                                "'YYYY-MM-DD HH:MM:SS'") from None
        self._token = CachedToken(value, expires_at, now, self._fp)
        if self._cache is not None:
            self._cache.save(self._token)
        return value
