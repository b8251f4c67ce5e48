"""A deterministic synthetic KRX-like daily market, so the whole system runs offline.

The market is scripted in cycles — steady bull, pullback, melt-up rally, dip, crash, bear,
low-volatility chop, recovery — with randomised lengths and sizes, so every Crisis Alpha rule
fires on the default universe: BULL/BEAR regime switches, chop (low ADX), RSI(40) dips and
take-profits, and stop-losses. Each ticker is the market factor times its beta plus its own
mean-reverting drift and noise.

Determinism and prefix stability: everything is generated from the fixed start
`DEMO_START` in fixed-size blocks, each block drawn from its own seed stream
(seed, ticker, purpose, block), so a later `end` only appends sessions and never changes
earlier bars. Prices are integer won on the KRX tick grid; the data is labelled synthetic.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from strategy import calendar
from strategy.marketdata.base import make_bar_frame, window
from strategy.marketdata.errors import MarketDataUnavailable
from strategy.marketdata.master import InstrumentKind
from strategy.ticketing import krx_ticks

# pandas loads on first use, in the functions that need it: the OCI server imports this module
# at start and does not need pandas until a cycle runs (~0.6 s of CPU per server start).
if TYPE_CHECKING:
    import pandas as pd

DEMO_START = date(2019, 1, 2)
DEFAULT_UNIVERSE: tuple[str, ...] = ("069500", "229200", "091160", "305720", "005930")

_BLOCK = 256  # sessions per random block; a block's draws never depend on the series length


@dataclass(frozen=True)
class DemoInstrument:
    """How one synthetic instrument relates to the market factor."""

    anchor: float  # price level around which the series moves (won)
    beta: float  # exposure to the market factor (negative for inverse ETFs)
    noise: float  # daily idiosyncratic volatility (log)
    swing: float  # size of slow idiosyncratic booms and busts (log)
    volume: float  # typical shares traded per session
    kind: InstrumentKind  # tick grid


DEMO_INSTRUMENTS: dict[str, DemoInstrument] = {
    "069500": DemoInstrument(33_000, 1.0, 0.0015, 0.0, 5e6, "etf"),
    "102110": DemoInstrument(33_100, 1.0, 0.0015, 0.0, 2e6, "etf"),
    "229200": DemoInstrument(13_000, 1.1, 0.006, 0.08, 4e6, "etf"),
    "233740": DemoInstrument(11_000, 2.2, 0.010, 0.12, 2e7, "etf"),
    "091160": DemoInstrument(29_000, 1.3, 0.007, 0.10, 6e5, "etf"),
    "305720": DemoInstrument(14_000, 1.4, 0.010, 0.14, 2e6, "etf"),
    "122630": DemoInstrument(18_000, 2.0, 0.003, 0.0, 3e7, "etf"),
    "114800": DemoInstrument(4_800, -1.0, 0.0015, 0.0, 8e7, "etf"),
    "252670": DemoInstrument(3_000, -2.0, 0.003, 0.0, 2e8, "etf"),
    "261240": DemoInstrument(12_500, -0.25, 0.004, 0.05, 3e5, "etf"),
    "005930": DemoInstrument(62_000, 1.1, 0.009, 0.07, 1.5e7, "stock"),
    "035420": DemoInstrument(220_000, 0.9, 0.014, 0.15, 6e5, "stock"),
    "035720": DemoInstrument(60_000, 1.0, 0.016, 0.18, 2e6, "stock"),
    "051910": DemoInstrument(480_000, 1.1, 0.014, 0.15, 3e5, "stock"),
}

# One market cycle: (phase, typical length in sessions, typical log move, daily noise vol,
# OU persistence of the noise). Lengths and moves are randomised ±20–25 % per cycle; the
# recovery moves the level back near the cycle's start so prices stay in a plausible band.
_CYCLE: tuple[tuple[str, int, float, float, float], ...] = (
    ("bull", 140, 0.12, 0.0075, 0.99),
    ("pullback", 25, -0.05, 0.0085, 0.99),
    ("rally", 30, 0.12, 0.0065, 0.99),
    ("dip", 18, -0.05, 0.0090, 0.99),
    ("crash", 10, -0.14, 0.0180, 0.99),
    ("bear", 90, -0.12, 0.0110, 0.99),
    ("chop", 110, 0.0, 0.0060, 0.90),
    ("recovery", 100, 0.0, 0.0085, 0.99),
)


def _stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *key])))


def _ticker_key(ticker: str) -> int:
    return zlib.crc32(ticker.encode("utf-8"))


def _normals(seed: int, key: tuple[int, ...], n: int, width: int) -> np.ndarray:
    """(n, width) standard normals, drawn in fixed blocks so a longer n only appends rows."""
    blocks = -(-n // _BLOCK)
    parts = [_stream(seed, *key, b).standard_normal((_BLOCK, width)) for b in range(blocks)]
    return np.concatenate(parts)[:n] if parts else np.empty((0, width))


def _ou(shocks: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """x[t] = phi[t] * x[t-1] + shocks[t], x[-1] = 0 (a short loop; n is a few thousand)."""
    out = np.empty(len(shocks))
    x = 0.0
    for t, (e, p) in enumerate(zip(shocks.tolist(), phi.tolist(), strict=True)):
        x = p * x + e
        out[t] = x
    return out


@functools.lru_cache(maxsize=8)
def _market(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Market log level (trend + noise) and its daily noise vol for the first n sessions."""
    drift = np.empty(n)
    vol = np.empty(n)
    phi = np.empty(n)
    t, cycle, level = 0, 0, 0.0
    while t < n:
        rng = _stream(seed, 0, 1, cycle)  # one stream per cycle keeps the schedule stable
        start_level = level
        for name, length, move, sigma, persistence in _CYCLE:
            span = max(5, round(length * rng.uniform(0.8, 1.2)))
            if name == "recovery":
                total = start_level - level + rng.normal(0.0, 0.03)
            else:
                total = move * rng.uniform(0.75, 1.25)
            stop = min(n, t + span)
            drift[t:stop] = total / span
            vol[t:stop] = sigma
            phi[t:stop] = persistence
            level += total
            t += span
            if t >= n:
                break
        cycle += 1
    shocks = _normals(seed, (0, 2), n, 1)[:, 0] * vol
    return np.cumsum(drift) + _ou(shocks, phi), vol


def _idiosyncratic(seed: int, key: int, spec: DemoInstrument, n: int) -> np.ndarray:
    """Slow booms and busts: piecewise-linear moves toward random targets around 0."""
    path = np.zeros(n)
    if spec.swing > 0:
        t, seg, level = 0, 0, 0.0
        while t < n:
            rng = _stream(seed, key, 1, seg)
            span = int(rng.integers(20, 61))
            target = float(np.clip(rng.normal(0.0, spec.swing), -2 * spec.swing, 2 * spec.swing))
            stop = min(n, t + span)
            path[t:stop] = level + (target - level) * np.arange(1, stop - t + 1) / span
            level = target
            t += span
            seg += 1
    noise = _normals(seed, (key, 3), n, 1)[:, 0] * spec.noise
    return path + _ou(noise, np.full(n, 0.98))


def _to_tick(price: np.ndarray, kind: str) -> np.ndarray:
    tick = krx_ticks(price, kind)
    return np.maximum(tick, np.round(price / tick) * tick)


@functools.lru_cache(maxsize=8)
def _session_days(horizon: date) -> np.ndarray:
    days = calendar.sessions_in_range(DEMO_START, horizon)
    ordinals = np.array([d.toordinal() for d in days], dtype=np.int64)
    return (ordinals - date(1970, 1, 1).toordinal()).astype("datetime64[D]")


@functools.lru_cache(maxsize=64)
def _demo_bars(seed: int, ticker: str, horizon: date) -> pd.DataFrame:
    sessions = _session_days(horizon)
    n = len(sessions)
    spec = DEMO_INSTRUMENTS[ticker]
    key = _ticker_key(ticker)
    market, vol = _market(seed, n)
    log_close = np.log(spec.anchor) + spec.beta * market + _idiosyncratic(seed, key, spec, n)
    close_raw = np.exp(log_close)
    z = _normals(seed, (key, 2), n, 4)
    day_vol = np.hypot(abs(spec.beta) * vol, spec.noise)
    prev = np.concatenate(([close_raw[0]], close_raw[:-1]))
    ret = np.log(close_raw / prev)
    # Part of each day's move happens overnight; the rest shows up as the open-to-close body.
    open_raw = prev * np.exp(0.3 * ret + 0.25 * day_vol * z[:, 0])
    body_hi = np.maximum(open_raw, close_raw)
    body_lo = np.minimum(open_raw, close_raw)
    high_raw = body_hi * np.exp(0.45 * day_vol * np.abs(z[:, 1]))
    low_raw = body_lo * np.exp(-0.45 * day_vol * np.abs(z[:, 2]))
    o, c = _to_tick(open_raw, spec.kind), _to_tick(close_raw, spec.kind)
    h = np.maximum(_to_tick(high_raw, spec.kind), np.maximum(o, c))
    lo = np.minimum(_to_tick(low_raw, spec.kind), np.minimum(o, c))
    volume = np.round(spec.volume * np.exp(0.35 * z[:, 3] + 12.0 * np.abs(ret)))
    return make_bar_frame(sessions, np.column_stack([o, h, lo, c, volume]))


class DemoProvider:
    """Synthetic, deterministic daily bars (`synthetic = True`, `name = "demo"`).

    The market starts at `DEMO_START` and runs to `end` (the caller passes the last completed
    session); `load` never returns bars after `end`. With `end=None` the market runs up to
    each `load` call's `end`. Same seed and end → identical frames; a later end only appends.
    """

    name = "demo"
    synthetic = True

    def __init__(self, seed: int = 7, end: date | None = None) -> None:
        self.seed = seed
        self.end = end

    def load(
        self, tickers: Sequence[str], end: date, start: date | None = None
    ) -> dict[str, pd.DataFrame]:
        """Synthetic bars per ticker within [start, min(end, self.end)]."""
        horizon = min(end, self.end) if self.end is not None else end
        out: dict[str, pd.DataFrame] = {}
        for ticker in tickers:
            if ticker not in DEMO_INSTRUMENTS:
                known = ", ".join(sorted(DEMO_INSTRUMENTS))
                raise MarketDataUnavailable(
                    ticker, self.name, f"not part of the synthetic market (known: {known})"
                )
            if horizon < DEMO_START:
                raise MarketDataUnavailable(
                    ticker, self.name, f"the synthetic market starts at {DEMO_START}"
                )
            bars = window(_demo_bars(self.seed, ticker, horizon), end, start)
            if len(bars) == 0:
                raise MarketDataUnavailable(
                    ticker, self.name, f"no synthetic sessions in [{start}, {horizon}]"
                )
            out[ticker] = bars
        return out
