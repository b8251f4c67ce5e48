"""Typed market-data errors: a ticker nobody can serve, or bars that fail validation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from strategy.marketdata.validation import BarIssue


class MarketDataError(Exception):
    """Base class of every market-data failure."""


class MarketDataUnavailable(MarketDataError):
    """`provider` could not give bars for `ticker`; `reason` says why and what to do."""

    def __init__(self, ticker: str, provider: str, reason: str) -> None:
        self.ticker = ticker
        self.provider = provider
        self.reason = reason
        super().__init__(f"{provider}: no market data for {ticker}: {reason}")


class BadMarketData(MarketDataError):
    """Bars for `ticker` exist but are unusable; `issues` lists every problem found.

    `source` names where the bars came from (a file path or a provider name).
    """

    def __init__(self, ticker: str, issues: Sequence[BarIssue], source: str | None = None) -> None:
        self.ticker = ticker
        self.issues = list(issues)
        self.source = source
        errors = [i for i in self.issues if i.severity == "error"] or self.issues
        first = errors[0] if errors else None
        where = f"{source}: " if source else ""
        if first is None:
            detail = "no details"
        else:
            at = f" at {first.date.isoformat()}" if first.date is not None else ""
            detail = f"first{at}: {first.code}: {first.message}"
        super().__init__(f"{where}bad market data for {ticker}: {len(errors)} error(s), {detail}")
