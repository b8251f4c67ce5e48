"""The fake's matching engine and account (`fake_kis.market`), without HTTP."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from fake_kis import codes
from fake_kis.market import BUY, SELL, Holding, Market, MarketConfig, Rejected
from strategy.marketdata.csv_provider import CsvProvider, read_bars_csv
from strategy.rules import sell_tax_rate

DAILY = Path(__file__).resolve().parents[2] / "data" / "krx" / "daily"
DAY = date(2025, 3, 4)
ETF, STOCK = "069500", "005930"


def bar(ticker: str) -> dict[str, float]:
    row = read_bars_csv(DAILY / f"{ticker}.csv", ticker).loc[str(DAY)]
    return {k: float(row[k]) for k in ("open", "high", "low", "close")}


def market(**config: object) -> Market:
    return Market(CsvProvider(DAILY), MarketConfig(**config), DAY, "open")  # type: ignore[arg-type]


def tick5(x: float, up: int = 0) -> int:
    return int(x) - int(x) % 5 + up


def test_marketable_buy_fills_at_open_with_slippage_and_fees() -> None:
    m = market(initial_cash=1_000_000.0, slippage_bps=10.0, commission=0.001)
    o = m.place(ETF, BUY, 3, tick5(bar(ETF)["open"], 100))
    price = bar(ETF)["open"] * 1.001
    assert o.filled == 3 and o.fill_price == pytest.approx(price)
    assert m.account.cash == pytest.approx(1_000_000 - 3 * price * 1.001)
    assert m.account.holdings[ETF].qty == 3
    assert m.account.holdings[ETF].avg_price == pytest.approx(price)


def test_open_fill_never_beyond_the_limit() -> None:
    m = market(slippage_bps=100.0)
    limit = tick5(bar(ETF)["open"], 5)  # marketable, but the slipped open is above it
    o = m.place(ETF, BUY, 1, limit)
    assert o.fill_price == limit


def test_sell_pays_the_stock_tax_of_its_year() -> None:
    m = market(initial_cash=0.0, slippage_bps=0.0, commission=0.0,
               initial_holdings={STOCK: Holding(10, 50_000.0)})
    limit = int(bar(STOCK)["open"]) - 1000  # stock ticks: 100 won at this price
    limit -= limit % 100
    m.place(STOCK, SELL, 10, limit)
    notional = 10 * bar(STOCK)["open"]
    assert m.account.cash == pytest.approx(notional * (1 - sell_tax_rate(2025, True)))
    assert STOCK not in m.account.holdings


def test_rejections_change_nothing() -> None:
    m = market(initial_cash=100_000.0, halted=[STOCK])
    cases = [((ETF, BUY, 100, tick5(bar(ETF)["open"], 50)), codes.CASH_SHORT),
             ((ETF, BUY, 1, tick5(bar(ETF)["open"], 51)), codes.INVALID_TICK),
             ((STOCK, BUY, 1, 50_000), codes.HALTED),
             ((ETF, SELL, 1, tick5(bar(ETF)["open"])), codes.HOLDINGS_SHORT),
             (("999999", BUY, 1, 1000), codes.UNKNOWN_TICKER)]
    for args, code in cases:
        with pytest.raises(Rejected) as err:
            m.place(*args)
        assert err.value.kis == code
    m.set_session(None, "close")
    with pytest.raises(Rejected) as err:
        m.place(ETF, BUY, 1, tick5(bar(ETF)["open"], 50))
    assert err.value.kis == codes.MARKET_CLOSED
    assert m.account.orders == [] and m.account.cash == 100_000.0


def test_open_orders_reserve_cash_and_holdings() -> None:
    m = market(initial_cash=200_000.0, commission=0.0,
               initial_holdings={ETF: Holding(5, 30_000.0)})
    low = tick5(bar(ETF)["low"], -100)
    m.place(ETF, BUY, 6, low)  # rests: 6 x low reserved
    with pytest.raises(Rejected):
        m.place(ETF, BUY, 1, low)  # 7 x low > 200,000
    high = tick5(bar(ETF)["high"], 100)
    m.place(ETF, SELL, 5, high)  # rests
    with pytest.raises(Rejected) as err:
        m.place(ETF, SELL, 1, high)
    assert err.value.kis == codes.HOLDINGS_SHORT


def test_partial_fraction_per_step_and_day_change_ends_matching() -> None:
    m = market(partial_fraction=0.25)
    o = m.place(ETF, BUY, 8, tick5(bar(ETF)["open"], 50))
    assert o.filled == 2
    m.step()
    assert o.filled == 4
    m.set_session(date(2025, 3, 5), "open")
    m.step()
    assert o.filled == 4  # yesterday's order is over


def test_state_round_trips_through_json() -> None:
    m = market()
    m.place(ETF, BUY, 2, tick5(bar(ETF)["open"], 50))
    copy = market()
    copy.load_json(m.to_json())
    assert copy.to_json() == m.to_json()


def test_preopen_orders_wait_for_the_open() -> None:
    m = Market(CsvProvider(DAILY), MarketConfig(slippage_bps=0.0), DAY, "preopen")
    marketable = m.place(ETF, BUY, 2, tick5(bar(ETF)["open"], 50))
    resting = m.place(ETF, BUY, 2, tick5(bar(ETF)["low"], -50))
    assert marketable.filled == 0 and resting.filled == 0
    m.set_session(None, "open")
    assert marketable.filled == 2 and marketable.fill_price == bar(ETF)["open"]
    assert resting.filled == 0
    m.set_session(None, "intraday")
    assert resting.filled == 0 and resting.remaining == 2


def test_open_fill_mode_fills_every_order_at_the_slipped_open_whatever_the_limit() -> None:
    m = market(initial_cash=10_000_000.0, slippage_bps=10.0, fill_mode="open",
               initial_holdings={STOCK: Holding(10, 50_000.0)})
    buy = m.place(ETF, BUY, 2, tick5(bar(ETF)["open"] - 500))  # the open is above this limit
    sell_limit = int(bar(STOCK)["open"]) + 1000
    sell = m.place(STOCK, SELL, 10, sell_limit - sell_limit % 100)  # ... and below this one
    assert buy.filled == 2 and buy.fill_price == pytest.approx(bar(ETF)["open"] * 1.001)
    assert sell.filled == 10 and sell.fill_price == pytest.approx(bar(STOCK)["open"] * 0.999)


def test_limit_mode_leaves_a_buy_below_the_open_unfilled_at_the_open() -> None:
    m = market(slippage_bps=10.0)
    o = m.place(ETF, BUY, 2, tick5(bar(ETF)["open"] - 500))
    assert o.filled == 0 and o.remaining == 2
