"""Network providers (faked at the module boundary), chain, cache and the spec factory.

No test talks to the network: pykrx and FinanceDataReader are replaced in `sys.modules` by
tiny fake modules, and KRX_ID/KRX_PW are unset so nothing could log in.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from strategy.marketdata import (
    BadMarketData,
    CachedProvider,
    ChainProvider,
    CsvProvider,
    DemoProvider,
    FdrProvider,
    MarketDataUnavailable,
    PykrxProvider,
    make_bar_frame,
    make_provider,
    write_bars_csv,
)
from strategy.marketdata.chain import FreshestProvider

DATES = pd.DatetimeIndex(["2025-12-24", "2025-12-26", "2025-12-29", "2025-12-30"])
OHLCV = np.array(
    [
        [100, 110, 95, 105, 1000],
        [105, 112, 101, 110, 1200],
        [110, 115, 108, 112, 900],
        [112, 113, 100, 101, 1500],
    ],
    dtype=float,
)
KOREAN = ["시가", "고가", "저가", "종가", "거래량"]
ENGLISH = ["Open", "High", "Low", "Close", "Volume"]


@pytest.fixture(autouse=True)
def no_krx_login(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KRX_ID", raising=False)
    monkeypatch.delenv("KRX_PW", raising=False)


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def pykrx_frame(columns: Sequence[str] = KOREAN, extra: bool = True) -> pd.DataFrame:
    df = pd.DataFrame(OHLCV, index=DATES.rename("날짜"), columns=list(columns))
    if extra:
        df["거래대금"] = 1.0
        df["등락률"] = 0.0
    return df


def install_fake_pykrx(
    monkeypatch: pytest.MonkeyPatch,
    market: Any = None,
    etf: Any = None,
) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def answer(kind: str, spec: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        calls.append((kind, args, kwargs))
        value = spec() if callable(spec) else spec
        if isinstance(value, Exception):
            raise value
        return pd.DataFrame() if value is None else value

    stock = ModuleType("pykrx.stock")
    stock.get_market_ohlcv_by_date = (  # type: ignore[attr-defined]
        lambda *a, **k: answer("market", market, a, k)
    )
    stock.get_etf_ohlcv_by_date = lambda *a, **k: answer("etf", etf, a, k)  # type: ignore[attr-defined]
    package = ModuleType("pykrx")
    package.stock = stock  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pykrx", package)
    monkeypatch.setitem(sys.modules, "pykrx.stock", stock)
    return calls


def install_fake_fdr(monkeypatch: pytest.MonkeyPatch, answer: Any) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    module = ModuleType("FinanceDataReader")

    def data_reader(*args: Any) -> Any:
        calls.append(args)
        return answer() if callable(answer) else answer

    module.DataReader = data_reader  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "FinanceDataReader", module)
    return calls


def fast(cls: type[PykrxProvider] | type[FdrProvider], clock: FakeClock | None = None) -> Any:
    clock = clock or FakeClock()
    return cls(min_interval=0.5, retries=3, retry_wait=0.1, sleep=clock.sleep, clock=clock)


# --- pykrx -----------------------------------------------------------------------------


def test_pykrx_stock_uses_adjusted_market_ohlcv(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = install_fake_pykrx(monkeypatch, market=pykrx_frame())
    got = fast(PykrxProvider).load(["005930"], end=date(2025, 12, 29), start=date(2025, 12, 1))
    df = got["005930"]
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert df.index.name == "date" and df.index.tz is None
    assert [d.date() for d in df.index] == [
        date(2025, 12, 24),
        date(2025, 12, 26),
        date(2025, 12, 29),
    ]
    assert df.iloc[0].tolist() == OHLCV[0].tolist()
    assert calls == [("market", ("20251201", "20251229", "005930"), {"adjusted": True})]


def test_pykrx_etf_asks_the_etf_function_first(monkeypatch: pytest.MonkeyPatch) -> None:
    etf = pykrx_frame(["NAV", *KOREAN][1:])
    calls = install_fake_pykrx(monkeypatch, market=pykrx_frame(), etf=etf)
    fast(PykrxProvider).load(["069500"], end=date(2025, 12, 30))
    assert [c[0] for c in calls] == ["etf"]


def test_pykrx_empty_answer_falls_through_then_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = install_fake_pykrx(monkeypatch, market=pykrx_frame(), etf=pd.DataFrame())
    got = fast(PykrxProvider).load(["069500"], end=date(2025, 12, 30))
    assert len(got["069500"]) == 4 and [c[0] for c in calls] == ["etf", "market"]

    install_fake_pykrx(monkeypatch, market=pd.DataFrame(), etf=pd.DataFrame())
    with pytest.raises(MarketDataUnavailable, match="empty answer") as err:
        fast(PykrxProvider).load(["069500"], end=date(2025, 12, 30))
    assert err.value.provider == "pykrx" and err.value.ticker == "069500"


def test_pykrx_retries_exceptions_briefly(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: Iterator[Any] = iter([ConnectionError("reset"), TimeoutError("slow"), pykrx_frame()])
    calls = install_fake_pykrx(monkeypatch, market=lambda: next(answers))
    clock = FakeClock()
    got = fast(PykrxProvider, clock).load(["005930"], end=date(2025, 12, 30))
    assert len(got["005930"]) == 4
    assert len(calls) == 3
    assert clock.sleeps and max(clock.sleeps) <= 8.0


def test_pykrx_gives_up_after_the_retry_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = install_fake_pykrx(
        monkeypatch, market=ConnectionError("down"), etf=ConnectionError("down")
    )
    with pytest.raises(MarketDataUnavailable, match="ConnectionError: down"):
        fast(PykrxProvider).load(["005930"], end=date(2025, 12, 30))
    assert len(calls) == 6  # 3 attempts x (market, then etf)


def test_pykrx_requests_are_rate_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_pykrx(monkeypatch, market=pykrx_frame(), etf=pykrx_frame())
    clock = FakeClock()
    fast(PykrxProvider, clock).load(["005930", "035420", "069500"], end=date(2025, 12, 30))
    assert clock.sleeps == [0.5, 0.5]


def test_pykrx_not_installed_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pykrx.stock", None)  # makes the import fail
    with pytest.raises(MarketDataUnavailable, match="not installed.*live-data"):
        fast(PykrxProvider).load(["005930"], end=date(2025, 12, 30))


def test_pykrx_bad_bars_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = pykrx_frame()
    bad.iloc[1, 1] = 50.0  # high below low
    install_fake_pykrx(monkeypatch, market=bad)
    with pytest.raises(BadMarketData, match="pykrx.*005930.*2025-12-26"):
        fast(PykrxProvider).load(["005930"], end=date(2025, 12, 30))


def test_pykrx_missing_column_is_bad_data(monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_pykrx(monkeypatch, market=pykrx_frame().drop(columns="거래량"))
    with pytest.raises(BadMarketData, match="거래량"):
        fast(PykrxProvider).load(["005930"], end=date(2025, 12, 30))


# --- FinanceDataReader --------------------------------------------------------------------


def test_fdr_maps_columns_and_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pd.DataFrame(OHLCV, index=DATES.rename("Date"), columns=ENGLISH)
    frame["Change"] = 0.01
    calls = install_fake_fdr(monkeypatch, frame)
    got = fast(FdrProvider).load(["069500"], end=date(2025, 12, 29), start=date(2025, 12, 26))
    df = got["069500"]
    assert [d.date() for d in df.index] == [date(2025, 12, 26), date(2025, 12, 29)]
    assert df["close"].tolist() == [110.0, 112.0]
    assert calls == [("069500", "2025-12-26", "2025-12-29")]


def test_fdr_empty_answer_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_fdr(monkeypatch, pd.DataFrame())
    with pytest.raises(MarketDataUnavailable, match="empty answer") as err:
        fast(FdrProvider).load(["069500"], end=date(2025, 12, 30))
    assert err.value.provider == "fdr"


# --- chain --------------------------------------------------------------------------------


class StubProvider:
    """A provider answering from a dict of frames, or failing with a fixed reason."""

    synthetic = False

    def __init__(self, name: str, frames: dict[str, pd.DataFrame] | None = None) -> None:
        self.name = name
        self.frames = frames or {}
        self.calls: list[tuple[tuple[str, ...], date, date | None]] = []

    def load(
        self, tickers: Sequence[str], end: date, start: date | None = None
    ) -> dict[str, pd.DataFrame]:
        self.calls.append((tuple(tickers), end, start))
        out = {}
        for t in tickers:
            if t not in self.frames:
                raise MarketDataUnavailable(t, self.name, f"{self.name} has no {t}")
            df = self.frames[t]
            out[t] = df[df.index <= pd.Timestamp(end)]
        return out


def bars(n: int = 4) -> pd.DataFrame:
    return make_bar_frame(DATES.values[:n], OHLCV[:n])


def test_chain_first_answer_wins_per_ticker() -> None:
    first = StubProvider("one", {"A": bars()})
    second = StubProvider("two", {"A": bars(2), "B": bars()})
    chain = ChainProvider([first, second])
    got = chain.load(["A", "B"], end=date(2025, 12, 30))
    assert len(got["A"]) == 4 and len(got["B"]) == 4
    assert chain.last_sources == {"A": "one", "B": "two"}
    assert chain.last_failures["B"] == ["one: one has no B"]
    assert chain.name == "chain(one,two)" and chain.synthetic is False


def test_chain_all_fail_lists_every_reason() -> None:
    chain = ChainProvider([StubProvider("one"), StubProvider("two")], name="auto")
    with pytest.raises(MarketDataUnavailable) as err:
        chain.load(["Z"], end=date(2025, 12, 30))
    assert err.value.provider == "auto" and err.value.ticker == "Z"
    assert "one: one has no Z" in str(err.value) and "two: two has no Z" in str(err.value)


def test_chain_treats_empty_answers_and_crashes_as_failures() -> None:
    class Crashing(StubProvider):
        def load(self, tickers: Sequence[str], end: date, start: date | None = None) -> Any:
            raise RuntimeError("bug")

    empty = StubProvider("empty", {"A": bars(0)})
    chain = ChainProvider([Crashing("crash"), empty, StubProvider("good", {"A": bars()})])
    chain.load(["A"], end=date(2025, 12, 30))
    assert chain.last_sources == {"A": "good"}
    assert chain.last_failures["A"] == ["crash: RuntimeError: bug", "empty: empty answer"]


# --- cache --------------------------------------------------------------------------------


def test_cache_miss_fetches_and_writes_then_hits(tmp_path: Path) -> None:
    inner = StubProvider("stub", {"000001": bars()})
    cached = CachedProvider(inner, tmp_path)
    got = cached.load(["000001"], end=date(2025, 12, 30))
    assert cached.last_status == {"000001": "fetched"}
    path = tmp_path / "stub" / "000001.csv"
    assert path.is_file() and cached.cache_path("000001") == path
    pd.testing.assert_frame_equal(got["000001"], bars())

    again = cached.load(["000001"], end=date(2025, 12, 30))
    assert cached.last_status == {"000001": "cache"} and len(inner.calls) == 1
    pd.testing.assert_frame_equal(again["000001"], bars())


def test_cache_covers_end_across_holidays(tmp_path: Path) -> None:
    inner = StubProvider("stub", {"000001": bars()})
    cached = CachedProvider(inner, tmp_path)
    cached.load(["000001"], end=date(2025, 12, 30))
    # 2025-12-31 and 2026-01-01 are holidays: the 2025-12-30 bar is still the latest.
    cached.load(["000001"], end=date(2026, 1, 1))
    assert cached.last_status == {"000001": "cache"} and len(inner.calls) == 1
    # An earlier end is served from the cache and windowed.
    got = cached.load(["000001"], end=date(2025, 12, 26))
    assert got["000001"].index[-1] == pd.Timestamp("2025-12-26") and len(inner.calls) == 1


def test_cache_refreshes_when_a_session_is_missing(tmp_path: Path) -> None:
    inner = StubProvider("stub", {"000001": bars(3)})
    cached = CachedProvider(inner, tmp_path)
    cached.load(["000001"], end=date(2025, 12, 29))
    inner.frames["000001"] = bars(4)
    got = cached.load(["000001"], end=date(2025, 12, 30))
    assert cached.last_status == {"000001": "fetched"} and len(got["000001"]) == 4
    assert len(CsvProvider(tmp_path / "stub").load(["000001"], date(2025, 12, 30))["000001"]) == 4


def test_cache_falls_back_to_stale_file_when_inner_fails(tmp_path: Path) -> None:
    write_bars_csv(tmp_path / "stub" / "000001.csv", bars(3))
    cached = CachedProvider(StubProvider("stub"), tmp_path)
    got = cached.load(["000001"], end=date(2026, 1, 2))
    assert cached.last_status == {"000001": "stale-cache"}
    assert got["000001"].index[-1] == pd.Timestamp("2025-12-29")

    strict = CachedProvider(StubProvider("stub"), tmp_path, stale_fallback=False)
    with pytest.raises(MarketDataUnavailable, match="stub has no 000001"):
        strict.load(["000001"], end=date(2026, 1, 2))


def test_cache_without_file_propagates_inner_failure(tmp_path: Path) -> None:
    with pytest.raises(MarketDataUnavailable):
        CachedProvider(StubProvider("stub"), tmp_path).load(["000001"], end=date(2025, 12, 30))


def test_cache_ignores_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "stub" / "000001.csv"
    path.parent.mkdir(parents=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("date,open\n2025-12-30,abc\n")
    cached = CachedProvider(StubProvider("stub", {"000001": bars()}), tmp_path)
    assert len(cached.load(["000001"], end=date(2025, 12, 30))["000001"]) == 4
    assert cached.last_status == {"000001": "fetched"}


# --- make_provider ------------------------------------------------------------------------


def test_make_provider_specs(tmp_path: Path, krx_data_dir: Path) -> None:
    csv = make_provider(f"csv:{krx_data_dir}")
    assert isinstance(csv, CsvProvider) and csv.directory == krx_data_dir
    assert len(csv.load(["069500"], end=date(2025, 12, 29))["069500"]) == 1472

    demo = make_provider("demo", demo_end=date(2025, 12, 30))
    assert isinstance(demo, DemoProvider) and demo.synthetic and demo.end == date(2025, 12, 30)
    seeded = make_provider("demo:3")
    assert isinstance(seeded, DemoProvider) and seeded.seed == 3

    assert isinstance(make_provider("pykrx"), PykrxProvider)
    assert isinstance(make_provider(" FDR "), FdrProvider)
    cached = make_provider("pykrx", cache_dir=tmp_path)
    assert isinstance(cached, CachedProvider) and cached.directory == tmp_path / "pykrx"


@pytest.mark.parametrize("spec", ["", "csv", "csv:", "yahoo", "demo:x", "pykrx:1", "auto:2"])
def test_make_provider_rejects_unknown_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="accepted forms: csv:DIR, demo") as err:
        make_provider(spec)
    assert repr(spec) in str(err.value)


def test_auto_falls_back_to_csv_dir(
    monkeypatch: pytest.MonkeyPatch, krx_data_dir: Path, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "pykrx.stock", None)
    monkeypatch.setitem(sys.modules, "FinanceDataReader", None)
    monkeypatch.setenv("KRX_CSV_DIR", str(krx_data_dir))
    auto = make_provider("auto", cache_dir=tmp_path)
    assert isinstance(auto, ChainProvider) and auto.name == "auto"
    got = auto.load(["069500"], end=date(2025, 12, 29))
    assert len(got["069500"]) == 1472
    assert auto.last_sources == {"069500": "csv"}
    assert [r.split(":")[0] for r in auto.last_failures["069500"]] == ["pykrx", "fdr"]


def test_auto_prefers_a_fresh_provider_over_a_stale_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("KRX_CSV_DIR", raising=False)
    write_bars_csv(tmp_path / "pykrx" / "000001.csv", bars(2))  # stale pykrx cache
    install_fake_pykrx(monkeypatch, market=pd.DataFrame(), etf=pd.DataFrame())
    fdr_frame = pd.DataFrame(OHLCV, index=DATES, columns=ENGLISH)
    install_fake_fdr(monkeypatch, fdr_frame)
    auto = make_provider("auto", cache_dir=tmp_path)
    assert isinstance(auto, ChainProvider)
    for p in auto.providers:  # keep the test instant
        inner = getattr(p, "inner", None)
        if inner is not None:
            inner.min_interval = 0.0
    got = auto.load(["000001"], end=date(2025, 12, 30))
    assert auto.last_sources == {"000001": "fdr"} and len(got["000001"]) == 4
    assert (tmp_path / "fdr" / "000001.csv").is_file()

    # With every live provider down, the freshest stale cache is the last resort.
    install_fake_fdr(monkeypatch, pd.DataFrame())
    got = auto.load(["000001"], end=date(2026, 1, 5))
    assert auto.last_sources == {"000001": "stale-cache"}
    assert got["000001"].index[-1] == pd.Timestamp("2025-12-30")  # fdr's, not pykrx's
    assert [r.split(":")[0] for r in auto.last_failures["000001"]] == ["pykrx", "fdr"]


def test_freshest_provider_picks_the_latest_last_bar() -> None:
    older = StubProvider("older", {"A": bars(2)})
    newer = StubProvider("newer", {"A": bars(4)})
    freshest = FreshestProvider([older, StubProvider("none"), newer], name="stale-cache")
    got = freshest.load(["A"], end=date(2025, 12, 30))
    assert len(got["A"]) == 4 and freshest.last_sources == {"A": "newer"}
    with pytest.raises(MarketDataUnavailable, match="none has no B"):
        freshest.load(["B"], end=date(2025, 12, 30))


def test_cache_fetches_full_history_and_serves_the_window(tmp_path: Path) -> None:
    inner = StubProvider("stub", {"000001": bars()})
    cached = CachedProvider(inner, tmp_path)
    got = cached.load(["000001"], end=date(2025, 12, 30), start=date(2025, 12, 29))
    assert len(got["000001"]) == 2 and inner.calls == [(("000001",), date(2025, 12, 30), None)]
    full = cached.load(["000001"], end=date(2025, 12, 30), start=date(2025, 12, 24))
    assert len(full["000001"]) == 4 and cached.last_status == {"000001": "cache"}


def test_cache_keeps_a_file_that_reaches_further_than_a_lagging_answer(tmp_path: Path) -> None:
    write_bars_csv(tmp_path / "stub" / "000001.csv", bars(3))  # up to 2025-12-29
    inner = StubProvider("stub", {"000001": bars(2)})  # lags: up to 2025-12-26
    cached = CachedProvider(inner, tmp_path)
    got = cached.load(["000001"], end=date(2025, 12, 30))
    assert got["000001"].index[-1] == pd.Timestamp("2025-12-29") and len(inner.calls) == 1
    assert len(CsvProvider(tmp_path / "stub").load(["000001"], date(2025, 12, 30))["000001"]) == 3
