"""Three-way merge of local edits onto a newer OCI snapshot, field by field."""

from __future__ import annotations

import pytest

from contracts.portfolio import Holding, Portfolio
from contracts.settings import Settings
from krx_common.docpath import PathError, get_at, parse_path, set_at
from pc_backend.merge import three_way


def _settings(**strategy: object) -> dict:
    s = Settings().model_dump(mode="json")
    s["strategy"].update(strategy)
    return s


def _portfolio(cash: float, *holdings: tuple[str, int, float]) -> dict:
    return Portfolio(cash=cash, holdings=[Holding(ticker=t, qty=q, avg_price=p)
                                          for t, q, p in holdings]).model_dump(mode="json")


def test_merge_parse_path_keys_and_keyed_items() -> None:
    assert parse_path("holdings[005930].qty") == [("key", "holdings"), ("item", "005930"),
                                                  ("key", "qty")]
    assert parse_path("strategy.rsi_period") == [("key", "strategy"), ("key", "rsi_period")]
    with pytest.raises(PathError):
        parse_path("")


def test_merge_keeps_mine_takes_theirs_on_disjoint_fields() -> None:
    base = _settings()
    mine = _settings(rsi_period=35)
    theirs = _settings(adx_threshold=20.0)
    theirs["revision"] = 7
    result = three_way(base, mine, theirs)
    assert result.conflicts == []
    assert result.merged["strategy"]["rsi_period"] == 35
    assert result.merged["strategy"]["adx_threshold"] == 20.0
    assert result.merged["revision"] == 7  # OCI's stamps
    assert result.kept == ["strategy.rsi_period"]


def test_merge_reports_a_field_both_changed_differently() -> None:
    base, mine, theirs = _settings(), _settings(rsi_period=35), _settings(rsi_period=45)
    result = three_way(base, mine, theirs)
    [c] = result.conflicts
    assert (c.path, c.base, c.mine, c.theirs) == ("strategy.rsi_period", 40, 35, 45)
    assert result.merged["strategy"]["rsi_period"] == 35  # mine kept until a side is picked


def test_merge_same_change_on_both_sides_is_no_conflict() -> None:
    result = three_way(_settings(), _settings(rsi_period=35), _settings(rsi_period=35))
    assert result.conflicts == [] and result.merged["strategy"]["rsi_period"] == 35


def test_merge_holdings_by_ticker() -> None:
    base = _portfolio(1e6, ("005930", 10, 60000.0), ("069500", 5, 35000.0))
    mine = _portfolio(1e6, ("005930", 12, 60000.0), ("069500", 5, 35000.0),
                      ("305720", 3, 10000.0))
    theirs = _portfolio(9e5, ("005930", 10, 60000.0), ("069500", 5, 35000.0))
    result = three_way(base, mine, theirs)
    assert result.conflicts == []
    merged = {h["ticker"]: h["qty"] for h in result.merged["holdings"]}
    assert merged == {"005930": 12, "069500": 5, "305720": 3}
    assert result.merged["cash"] == 9e5


def test_merge_edit_of_a_holding_oci_removed_is_a_conflict_on_the_holding() -> None:
    base = _portfolio(1e6, ("005930", 10, 60000.0))
    mine = _portfolio(1e6, ("005930", 12, 60000.0))
    theirs = _portfolio(1.6e6)
    result = three_way(base, mine, theirs)
    [c] = result.conflicts
    assert c.path == "holdings[005930]"
    assert c.theirs is None and c.mine["qty"] == 12 and c.base["qty"] == 10
    assert get_at(result.merged, "holdings[005930].qty") == 12
    set_at(result.merged, "holdings[005930]", c.theirs)  # picking theirs removes it
    assert result.merged["holdings"] == []
