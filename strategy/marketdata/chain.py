"""Provider chain: per ticker, the first provider that answers wins."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from strategy.marketdata.base import MarketDataProvider
from strategy.marketdata.errors import MarketDataError, MarketDataUnavailable

# pandas loads on first use, in the functions that need it: the OCI server imports this module
# at start and does not need pandas until a cycle runs (~0.6 s of CPU per server start).
if TYPE_CHECKING:
    import pandas as pd


class ChainProvider:
    """Asks its providers in order for each ticker and keeps the first non-empty answer.

    After `load`, `last_sources[ticker]` names the provider that served it and
    `last_failures[ticker]` lists the reasons of the providers tried before it. When every
    provider fails, `MarketDataUnavailable` lists each provider's reason.
    """

    def __init__(self, providers: Sequence[MarketDataProvider], *, name: str | None = None):
        if not providers:
            raise ValueError("ChainProvider needs at least one provider")
        self.providers = list(providers)
        self.name = name or "chain(" + ",".join(p.name for p in self.providers) + ")"
        self.synthetic = any(p.synthetic for p in self.providers)
        self.last_sources: dict[str, str] = {}
        self.last_failures: dict[str, list[str]] = {}

    def load(
        self, tickers: Sequence[str], end: date, start: date | None = None
    ) -> dict[str, pd.DataFrame]:
        """Bars per ticker from the first provider that answers; see `MarketDataProvider`."""
        self.last_sources = {}
        self.last_failures = {}
        out: dict[str, pd.DataFrame] = {}
        for ticker in tickers:
            reasons: list[str] = []
            for provider in self.providers:
                try:
                    bars = _ask(provider, ticker, end, start, reasons)
                except Exception as exc:  # a provider bug must not hide the next provider
                    reasons.append(f"{provider.name}: {type(exc).__name__}: {exc}")
                    continue
                if bars is None:
                    continue
                out[ticker] = bars
                self.last_sources[ticker] = provider.name
                break
            self.last_failures[ticker] = reasons
            if ticker not in out:
                raise MarketDataUnavailable(
                    ticker, self.name, "every provider failed: " + "; ".join(reasons)
                )
        return out


def _reason(exc: MarketDataError) -> str:
    return exc.reason if isinstance(exc, MarketDataUnavailable) else str(exc)


def _ask(
    provider: MarketDataProvider, ticker: str, end: date, start: date | None,
    reasons: list[str],
) -> pd.DataFrame | None:
    """`provider`'s non-empty bars for `ticker`, or None with the reason appended."""
    try:
        bars = provider.load([ticker], end, start).get(ticker)
    except MarketDataError as exc:
        reasons.append(f"{provider.name}: {_reason(exc)}")
        return None
    if bars is None or len(bars) == 0:
        reasons.append(f"{provider.name}: empty answer")
        return None
    return bars


class FreshestProvider:
    """Asks every provider and keeps, per ticker, the answer whose last bar is the latest
    (ties go to the earlier provider). Used to pick among stale caches."""

    def __init__(self, providers: Sequence[MarketDataProvider], *, name: str) -> None:
        if not providers:
            raise ValueError("FreshestProvider needs at least one provider")
        self.providers = list(providers)
        self.name = name
        self.synthetic = any(p.synthetic for p in self.providers)
        self.last_sources: dict[str, str] = {}

    def load(
        self, tickers: Sequence[str], end: date, start: date | None = None
    ) -> dict[str, pd.DataFrame]:
        """The freshest non-empty answer per ticker; see `MarketDataProvider.load`."""
        self.last_sources = {}
        out: dict[str, pd.DataFrame] = {}
        for ticker in tickers:
            best: tuple[pd.Timestamp, str, pd.DataFrame] | None = None
            reasons: list[str] = []
            for provider in self.providers:
                bars = _ask(provider, ticker, end, start, reasons)
                if bars is not None and (best is None or bars.index[-1] > best[0]):
                    best = (bars.index[-1], provider.name, bars)
            if best is None:
                raise MarketDataUnavailable(ticker, self.name, "; ".join(reasons))
            out[ticker] = best[2]
            self.last_sources[ticker] = best[1]
        return out
