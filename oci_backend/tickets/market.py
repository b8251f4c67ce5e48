"""Where the processor finds the open of the session after a plan (DRY_RUN paper fills)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

# pandas loads on first use, in the functions that need it: the OCI server imports this module
# at start and does not need pandas until a cycle runs (~0.6 s of CPU per server start).
if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# (tickers, session) → each ticker's open that session (0 = halted), or None while the
# market data does not reach `session` yet (the ticket waits, AWAITING_NEXT_OPEN).
OpenSource = Callable[[Sequence[str], date], "Mapping[str, float] | None"]


def opens_from_bars(bars: Mapping[str, pd.DataFrame]) -> OpenSource:
    """Opens out of bars already loaded (the daily cycle's). The session's bar exists once
    every ticker's bars reach it; a ticker without a row that day did not trade (halt)."""

    import pandas as pd

    def opens(tickers: Sequence[str], session: date) -> Mapping[str, float] | None:
        out: dict[str, float] = {}
        day = pd.Timestamp(session)
        for t in tickers:
            df = bars.get(t)
            if df is None or df.empty or df.index[-1] < day:
                return None
            out[t] = float(df["open"].get(day, 0.0)) if day in df.index else 0.0
        return out

    return opens


def opens_from_spec(data_spec: str, cache_dir: Path) -> OpenSource:
    """Opens from a market-data provider (`csv:DIR`, `auto`, ...), loaded up to the session."""

    def opens(tickers: Sequence[str], session: date) -> Mapping[str, float] | None:
        from contracts.common import now_kst
        from strategy import calendar
        from strategy.marketdata import make_provider
        from strategy.marketdata.errors import MarketDataError

        if now_kst() < calendar.session_close_kst(session):
            return None  # no provider has that day's bar before its close: do not ask
        provider = make_provider(data_spec, cache_dir=cache_dir, demo_end=session)
        try:
            bars = provider.load(list(tickers), end=session)
        except MarketDataError as exc:
            log.warning("no opens for %s yet: %s", session, exc)
            return None
        return opens_from_bars(bars)(tickers, session)

    return opens
