"""Build a provider from a spec string (`csv:DIR`, `demo`, `pykrx`, `fdr`, `auto`)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from strategy.marketdata.base import MarketDataProvider
from strategy.marketdata.cache import CachedProvider
from strategy.marketdata.chain import ChainProvider, FreshestProvider
from strategy.marketdata.csv_provider import CsvProvider
from strategy.marketdata.demo import DemoProvider
from strategy.marketdata.live import FdrProvider, PykrxProvider

ACCEPTED_SPECS = "csv:DIR, demo, demo:SEED, pykrx, fdr, auto"
CSV_DIR_ENV = "KRX_CSV_DIR"


def make_provider(
    spec: str, *, cache_dir: Path | None = None, demo_end: date | None = None
) -> MarketDataProvider:
    """The provider named by `spec`.

    - `csv:DIR` — `<DIR>/<code>.csv` files (not cached: they are local already);
    - `demo` / `demo:SEED` — the synthetic market up to `demo_end`;
    - `pykrx`, `fdr` — network providers, cached under `cache_dir` when given;
    - `auto` — pykrx → fdr → CSV dir of `$KRX_CSV_DIR` (if set), each network provider cached
      when `cache_dir` is given; with a cache, the freshest stale cache file is the last resort
      (a fresh answer from the next provider beats an old cache of the previous one).

    Raises ValueError naming the spec and the accepted forms for anything else.
    """
    text = spec.strip()
    kind, sep, arg = text.partition(":")
    kind = kind.lower()
    if kind == "csv" and sep and arg.strip():
        return CsvProvider(Path(arg.strip()).expanduser())
    if kind == "demo" and (not sep or arg.strip().isdigit()):
        return DemoProvider(seed=int(arg) if sep else 7, end=demo_end)
    if kind in ("pykrx", "fdr") and not sep:
        live = PykrxProvider() if kind == "pykrx" else FdrProvider()
        return CachedProvider(live, cache_dir) if cache_dir is not None else live
    if kind == "auto" and not sep:
        return _auto(cache_dir)
    raise ValueError(f"unknown market-data spec {spec!r}; accepted forms: {ACCEPTED_SPECS}")


def _auto(cache_dir: Path | None) -> ChainProvider:
    live: list[MarketDataProvider] = [PykrxProvider(), FdrProvider()]
    chain: list[MarketDataProvider] = []
    if cache_dir is None:
        chain.extend(live)
    else:
        # Fresh answers from any provider beat a stale cache, so stale files are served last.
        chain.extend(CachedProvider(p, cache_dir, stale_fallback=False) for p in live)
    csv_dir = os.environ.get(CSV_DIR_ENV, "").strip()
    if csv_dir:
        chain.append(CsvProvider(Path(csv_dir).expanduser()))
    if cache_dir is not None:
        caches = [CsvProvider(Path(cache_dir) / p.name, name=f"{p.name}-cache") for p in live]
        chain.append(FreshestProvider(caches, name="stale-cache"))
    return ChainProvider(chain, name="auto")
