"""The morning output of `krx daily` on real sessions, as golden text (2025-12-29: a READY plan
with a buy; 2024-08-05: the crash day, a stop-loss sell, chop blocking entries, a BULL held by
the golden cross below the long average).

The golden files are the exact text; the structural checks below recompute what the text must
say from the plan and the bars (ticks, trade date, P&L), so a wrong golden file cannot pass.
Regenerate after an intended change with ``KRX_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from contracts.audit import AuditAction
from contracts.plan import Side
from contracts.portfolio import Holding
from krx_common.defaults import KST
from oci_backend.paths import data_paths
from oci_backend.pipeline import run_cycle
from oci_backend.render import render_cycle
from oci_backend.store import Store
from strategy import calendar
from strategy.ticketing import is_on_tick, plan_limit

GOLDEN = Path(__file__).parent / "golden"

# (asof, holdings as (ticker, qty, avg price, entry date)) — held positions chosen so both
# sessions show a kept position and, on 2024-08-05, a stop-loss exit.
CASES = {
    "2025-12-29": [("091160", 30, 52_000.0, "2025-11-03"), ("229200", 120, 16_500.0,
                                                            "2025-10-15")],
    "2024-08-05": [("069500", 50, 38_000.0, "2024-06-03"), ("305720", 100, 14_000.0,
                                                            "2024-07-01")],
}


def _morning(tmp_path: Path, krx_data_dir: Path, asof: str) -> tuple[str, object, Store]:
    store = Store(data_paths(tmp_path / asof))
    store.initialize()
    holdings = [Holding(ticker=t, qty=q, avg_price=p, entry_date=d) for t, q, p, d in CASES[asof]]
    store.update_portfolio(lambda p: p.model_copy(update={"cash": 4_000_000.0,
                                                          "holdings": holdings}),
                           reason="golden test", actor="test", action=AuditAction.PUSH)
    now = datetime(2026, 1, 2, 9, 5, tzinfo=KST)  # fixed: the header and plan id are stable
    settings = store.settings()
    res = run_cycle(store, data_spec=f"csv:{krx_data_dir}", asof=date.fromisoformat(asof),
                    now=now, render=lambda s, p: render_cycle(
                        s, p, portfolio=store.portfolio(), settings=settings))
    assert res.text is not None
    return res.text, res, store


@pytest.mark.parametrize("asof", sorted(CASES))
def test_morning_output_matches_golden_text(tmp_path, krx_data_dir, asof):
    text, _, _ = _morning(tmp_path, krx_data_dir, asof)
    golden = GOLDEN / f"morning_{asof.replace('-', '')}.txt"
    if os.environ.get("KRX_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == golden.read_text(encoding="utf-8")
    text.encode("cp949")  # the Korean Windows console can print every character


@pytest.mark.parametrize("asof", sorted(CASES))
def test_morning_order_lines_are_typeable_on_a_valid_tick(tmp_path, krx_data_dir, asof):
    text, res, store = _morning(tmp_path, krx_data_dir, asof)
    plan = res.plan
    assert plan is not None and plan.orders
    trade = calendar.next_session(date.fromisoformat(asof))
    slippage = store.settings().strategy.slippage
    for o in plan.orders:
        limit = plan_limit(o, slippage)
        assert is_on_tick(limit, o.kind)
        side = "BUY  매수" if o.side is Side.BUY else "SELL 매도"
        ko = "매수" if o.side is Side.BUY else "매도"
        line = (f"{trade:%Y-%m-%d} {side}  [{ko}] {o.name} ({o.ticker}) {o.qty:,}주 "
                f"지정가 {limit:,}원")
        assert line in text, line
        # the limit sits within one tick of ref ± slippage, on the safe side
        ref = o.ref_price * (1 + slippage if o.side is Side.BUY else 1 - slippage)
        assert (limit <= ref) if o.side is Side.BUY else (limit >= ref)


@pytest.mark.parametrize("asof", sorted(CASES))
def test_morning_held_positions_show_entry_pnl_and_stop(tmp_path, krx_data_dir, asof):
    text, res, store = _morning(tmp_path, krx_data_dir, asof)
    stop_pct = store.settings().strategy.stop_loss_pct
    for ticker, qty, price, entry in CASES[asof]:
        close = float(pd.read_csv(krx_data_dir / f"{ticker}.csv", index_col="date")
                      .loc[asof, "close"])
        pnl = (close - price) * qty
        stop = price * (1 - stop_pct)
        row = next(line for line in text.splitlines()
                   if line.startswith(f"  {ticker} ") and entry in line)
        assert f"{price:,.0f}" in row and f"{close:,.0f}" in row
        assert f"{pnl:+,.0f}" in row and f"{(close / price - 1) * 100:+.2f} %" in row
        assert f"{stop:,.0f}" in row and f"{(close / stop - 1) * 100:+.2f} %" in row


def test_morning_reasons_carry_their_numbers(tmp_path, krx_data_dir):
    text, res, store = _morning(tmp_path, krx_data_dir, "2024-08-05")
    sig = res.summary.signals
    sp = store.settings().strategy
    adx = sig.regime.adx
    assert adx < sp.adx_threshold  # the crash day was chop
    assert f"ADX {adx:.1f} < {sp.adx_threshold:g} (chop)" in text
    assert f"no entries: CHOP_BLOCK (ADX {adx:.1f} < {sp.adx_threshold:g})" in text
    for t in sig.tickers:
        row = next(line for line in text.splitlines() if line.startswith(t.ticker + " "))
        if t.reason.value == "CHOP_BLOCK":
            assert f"ADX {adx:.1f} < {sp.adx_threshold:g} (chop): entries blocked " \
                   f"(RSI {t.rsi:.1f})" in row
        if t.reason.value == "STOP_LOSS":
            assert re.search(rf"close {t.close:,.0f} <= stop {t.stop_price:,.0f} "
                             rf"\(entry {t.entry_price:,.0f} x \(1 - 12 %\)\)", row)
    # the regime line explains a BULL below the long average
    r = sig.regime
    assert r.regime.value == "BULL" and r.close < r.sma_long
    assert "BULL held by the golden-cross override" in text
    assert f"close {r.close:,.0f} < SMA{sp.regime_ma_long} {r.sma_long:,.1f}" in text

    text2, res2, _ = _morning(tmp_path, krx_data_dir, "2025-12-29")
    for t in res2.summary.signals.tickers:
        if t.reason.value == "RSI_NOT_LOW":
            assert f"RSI {t.rsi:.1f} >= buy threshold {sp.rsi_buy_threshold:g}: no dip" in text2


def test_morning_colour_gains_red_losses_blue_only_when_asked(tmp_path, krx_data_dir):
    _, res, store = _morning(tmp_path, krx_data_dir, "2024-08-05")
    kw = {"portfolio": store.portfolio(), "settings": store.settings()}
    plain = render_cycle(res.summary, res.plan, **kw)
    colour = render_cycle(res.summary, res.plan, color=True, **kw)
    assert "\x1b[" not in plain
    held = {line.split()[0]: line for line in colour.splitlines()
            if line.startswith("  069500 ") or line.startswith("  305720 ")}
    assert "\x1b[34m" in held["069500"] and "\x1b[31m" not in held["069500"]  # a loss: blue
    assert "\x1b[31m" in held["305720"] and "\x1b[34m" not in held["305720"]  # a gain: red
    assert re.sub(r"\x1b\[[0-9;]*m", "", colour) == plain


@pytest.mark.parametrize("asof", sorted(CASES))
def test_morning_text_in_korean_has_no_english_sentence(tmp_path, krx_data_dir, asof):
    from latin_text import latin_sentences

    text, res, store = _morning(tmp_path, krx_data_dir, asof)
    ko = render_cycle(res.summary, res.plan, portfolio=store.portfolio(),
                      settings=store.settings(), lang="ko")
    assert latin_sentences(ko) == [], ko
    assert "국면" in ko and "보유 종목" in ko
    # the same numbers in both languages: the HTS lines are one function's output
    hts = [line for line in text.splitlines() if "지정가" in line]
    assert hts and all(line in ko for line in hts)
    ko.encode("cp949")  # the Korean Windows console prints it
