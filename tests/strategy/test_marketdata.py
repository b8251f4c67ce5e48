"""CSV provider, validation and ticker master, on the real KRX bars and on corrupt copies."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from strategy.calendar import sessions_in_range
from strategy.marketdata import (
    BAR_COLUMNS,
    BUILTIN_TICKERS,
    BadMarketData,
    CsvProvider,
    MarketDataUnavailable,
    TickerInfo,
    ensure_valid,
    load_ticker_master,
    make_bar_frame,
    validate_bars,
    write_bars_csv,
)
from strategy.marketdata.csv_provider import clear_csv_cache, read_bars_csv

FIRST, LAST = date(2020, 1, 2), date(2025, 12, 29)
HEADER = "date,open,high,low,close,volume\n"
GOOD_ROWS = [
    "2025-12-24,100,110,95,105,1000",
    "2025-12-26,105,112,101,110,1200",
    "2025-12-29,110,115,108,112,900",
    "2025-12-30,112,113,100,101,1500",
]


@pytest.fixture(scope="module")
def real_bars(krx_data_dir: Path) -> dict[str, pd.DataFrame]:
    codes = sorted(p.stem for p in krx_data_dir.glob("*.csv"))
    return CsvProvider(krx_data_dir).load(codes, end=LAST)


def write_csv(directory: Path, code: str, rows: list[str], header: str = HEADER) -> Path:
    path = directory / f"{code}.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(header + "\n".join(rows) + "\n")
    return path


def test_csv_provider_loads_all_real_tickers(real_bars: dict[str, pd.DataFrame]) -> None:
    assert len(real_bars) == 14
    for code, df in real_bars.items():
        assert len(df) == 1472, code
        assert list(df.columns) == list(BAR_COLUMNS)
        assert all(df[c].dtype == np.float64 for c in BAR_COLUMNS)
        assert isinstance(df.index, pd.DatetimeIndex) and df.index.tz is None
        assert df.index.name == "date"
        assert df.index.is_monotonic_increasing and df.index.is_unique
        assert df.index[0].date() == FIRST and df.index[-1].date() == LAST


def test_csv_provider_matches_the_file_values(krx_data_dir: Path) -> None:
    bars = CsvProvider(krx_data_dir).load(["069500"], end=LAST)["069500"]
    first = bars.iloc[0]
    assert bars.index[0] == pd.Timestamp("2020-01-02")
    assert first.tolist() == [26182.0, 26249.0, 25838.0, 25884.0, 5196103.0]


def test_real_bars_validate_without_errors(real_bars: dict[str, pd.DataFrame]) -> None:
    counts: Counter[str] = Counter()
    for code, df in real_bars.items():
        issues = validate_bars(code, df)
        assert not [i for i in issues if i.severity == "error"], code
        counts.update(i.severity for i in issues)
        ensure_valid(code, df)  # does not raise
    assert counts["halt"] == 3
    # Rounding artefacts of adjusted series: the spec expects about 160 of them.
    assert 100 <= counts["warning"] <= 200


def test_real_kakao_halt_is_reported_as_halt(real_bars: dict[str, pd.DataFrame]) -> None:
    issues = validate_bars("035720", real_bars["035720"])
    halts = [i for i in issues if i.severity == "halt"]
    assert [i.date for i in halts] == [date(2021, 4, 12), date(2021, 4, 13), date(2021, 4, 14)]
    assert {i.code for i in halts} == {"TRADING_HALT"}
    rows = real_bars["035720"].loc["2021-04-12":"2021-04-14"]
    # The halt rows carry the last traded close.
    assert (rows["close"] == 112000.0).all() and (rows["open"] == 0).all()


def test_real_bars_match_the_xkrx_calendar(real_bars: dict[str, pd.DataFrame]) -> None:
    sessions = sessions_in_range(FIRST, LAST)
    assert len(sessions) == 1472
    for code, df in real_bars.items():
        issues = validate_bars(code, df, sessions)
        assert not [i for i in issues if i.code in ("MISSING_SESSION", "NON_SESSION_DATE")], code


def test_validation_reports_missing_session_against_calendar(
    real_bars: dict[str, pd.DataFrame],
) -> None:
    df = real_bars["069500"].drop(pd.Timestamp("2025-12-24"))
    issues = validate_bars("069500", df, sessions_in_range(FIRST, LAST))
    missing = [i for i in issues if i.code == "MISSING_SESSION"]
    assert [(i.date, i.severity) for i in missing] == [(date(2025, 12, 24), "error")]
    with pytest.raises(BadMarketData, match="069500.*2025-12-24"):
        ensure_valid("069500", df, sessions_in_range(FIRST, LAST))


def test_validation_warns_on_bar_dated_on_a_holiday() -> None:
    df = make_bar_frame(
        np.array(["2025-12-30", "2025-12-31"], dtype="datetime64[D]"),
        np.array([[10, 11, 9, 10, 5], [10, 11, 9, 10, 5]], dtype=float),
    )
    issues = validate_bars("X", df, sessions_in_range(date(2025, 12, 1), date(2026, 1, 5)))
    assert [(i.code, i.severity, i.date) for i in issues] == [
        ("NON_SESSION_DATE", "warning", date(2025, 12, 31))
    ]


def test_validation_flags_each_kind_of_bad_bar() -> None:
    dates = np.array(
        ["2025-12-22", "2025-12-23", "2025-12-23", "2025-12-24", "2025-12-19", "2025-12-26"],
        dtype="datetime64[D]",
    )
    values = np.array(
        [
            [100, 110, 95, 105, 10],  # fine
            [100, 90, 95, 92, 10],  # high < low
            [100, 110, 95, 105, 10],  # duplicate date
            [-1, 110, 95, 105, 10],  # negative open on a traded session
            [100, 110, 95, np.nan, 10],  # NaN close, and earlier than the previous date
            [100, 110, 95, 150, 10],  # close far above the high
        ],
        dtype=float,
    )
    issues = validate_bars("T", make_bar_frame(dates, values))
    found = {(i.code, i.date) for i in issues if i.severity == "error"}
    assert found == {
        ("HIGH_BELOW_LOW", date(2025, 12, 23)),
        ("DUPLICATE_DATE", date(2025, 12, 23)),
        ("NON_POSITIVE_PRICE", date(2025, 12, 24)),
        ("NAN_VALUE", date(2025, 12, 19)),
        ("UNSORTED_DATES", date(2025, 12, 19)),
        ("PRICE_FAR_OUTSIDE_RANGE", date(2025, 12, 26)),
    }
    assert [i.date for i in issues] == sorted(i.date for i in issues if i.date is not None)


def test_validation_halt_and_rounding_are_not_errors() -> None:
    dates = np.array(["2021-04-09", "2021-04-12", "2021-04-13"], dtype="datetime64[D]")
    values = np.array(
        [[112000, 113000, 111000, 112000, 5e5], [0, 0, 0, 112000, 0], [7505, 7578, 7480, 7580, 9]],
        dtype=float,
    )
    issues = validate_bars("035720", make_bar_frame(dates, values))
    assert [(i.code, i.severity) for i in issues] == [
        ("TRADING_HALT", "halt"),
        ("PRICE_OUTSIDE_RANGE", "warning"),
    ]


def test_validation_rejects_missing_dates() -> None:
    df = make_bar_frame(np.array(["2025-12-29", "NaT"], dtype="datetime64[D]"), np.ones((2, 5)))
    assert [(i.code, i.severity) for i in validate_bars("T", df)] == [("MISSING_DATE", "error")]


def test_validation_rejects_empty_frame_and_missing_column() -> None:
    empty = make_bar_frame(np.array([], dtype="datetime64[D]"), np.empty((0, 5)))
    assert [i.code for i in validate_bars("T", empty)] == ["EMPTY"]
    df = make_bar_frame(np.array(["2025-12-29"], dtype="datetime64[D]"), np.ones((1, 5)))
    assert [i.code for i in validate_bars("T", df.drop(columns="volume"))] == ["MISSING_COLUMN"]


def test_csv_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(MarketDataUnavailable) as err:
        CsvProvider(tmp_path).load(["069500"], end=LAST)
    assert err.value.ticker == "069500" and err.value.provider == "csv"
    assert str(tmp_path / "069500.csv") in str(err.value)


def test_csv_bad_number_names_file_line_date_and_column(tmp_path: Path) -> None:
    rows = list(GOOD_ROWS)
    rows[2] = "2025-12-29,110,11x5,108,112,900"
    path = write_csv(tmp_path, "000001", rows)
    with pytest.raises(BadMarketData) as err:
        CsvProvider(tmp_path).load(["000001"], end=date(2025, 12, 30))
    text = str(err.value)
    assert str(path) in text and "line 4" in text and "high" in text and "2025-12-29" in text
    (issue,) = err.value.issues
    assert (issue.code, issue.date, issue.column) == ("PARSE_ERROR", date(2025, 12, 29), "high")


def test_csv_bad_date_names_the_line(tmp_path: Path) -> None:
    rows = list(GOOD_ROWS)
    rows[1] = "2025-13-26,105,112,101,110,1200"
    path = write_csv(tmp_path, "000001", rows)
    with pytest.raises(BadMarketData, match="line 3.*2025-13-26") as err:
        CsvProvider(tmp_path).load(["000001"], end=date(2025, 12, 30))
    assert str(path) in str(err.value)


def test_csv_missing_column_names_it(tmp_path: Path) -> None:
    rows = [",".join(r.split(",")[:3] + r.split(",")[4:]) for r in GOOD_ROWS]
    path = write_csv(tmp_path, "000001", rows, header="date,open,high,close,volume\n")
    with pytest.raises(BadMarketData, match="missing column.*low") as err:
        CsvProvider(tmp_path).load(["000001"], end=date(2025, 12, 30))
    assert str(path) in str(err.value)


def test_csv_extra_field_is_not_mistaken_for_an_index(tmp_path: Path) -> None:
    rows = list(GOOD_ROWS)
    rows[0] += ",7"
    write_csv(tmp_path, "000001", rows)
    with pytest.raises(BadMarketData):
        CsvProvider(tmp_path).load(["000001"], end=date(2025, 12, 30))


@pytest.mark.parametrize(
    ("row_index", "row", "code"),
    [
        (2, "2025-12-26,105,112,101,110,1200", "DUPLICATE_DATE"),
        (1, "2025-12-26,105,100,101,104,1200", "HIGH_BELOW_LOW"),
        (1, "2025-12-26,105,112,-101,110,1200", "NON_POSITIVE_PRICE"),
    ],
)
def test_csv_bad_bars_name_file_ticker_and_date(
    tmp_path: Path, row_index: int, row: str, code: str
) -> None:
    rows = list(GOOD_ROWS)
    rows[row_index] = row
    path = write_csv(tmp_path, "000001", rows)
    with pytest.raises(BadMarketData) as err:
        CsvProvider(tmp_path).load(["000001"], end=date(2025, 12, 30))
    text = str(err.value)
    assert str(path) in text and "000001" in text and "2025-12-26" in text and code in text
    assert err.value.ticker == "000001"
    assert code in {i.code for i in err.value.issues}


def test_csv_window_and_empty_window(tmp_path: Path) -> None:
    write_csv(tmp_path, "000001", GOOD_ROWS)
    provider = CsvProvider(tmp_path)
    got = provider.load(["000001"], end=date(2025, 12, 29), start=date(2025, 12, 26))["000001"]
    assert [d.date() for d in got.index] == [date(2025, 12, 26), date(2025, 12, 29)]
    with pytest.raises(MarketDataUnavailable, match="no bars"):
        provider.load(["000001"], end=date(2025, 12, 1))


def test_csv_rejects_path_like_ticker(tmp_path: Path) -> None:
    with pytest.raises(MarketDataUnavailable, match="invalid ticker"):
        CsvProvider(tmp_path).load(["../etc/passwd"], end=LAST)


def test_csv_cache_reparses_only_when_the_file_changes(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "000001", GOOD_ROWS)
    first = read_bars_csv(path)
    warm = read_bars_csv(path)
    # Warm: the parsed arrays are shared, the frame object is a fresh shallow copy.
    assert np.shares_memory(first["close"].to_numpy(), warm["close"].to_numpy())
    warm["close"] = 0.0
    assert (read_bars_csv(path)["close"] > 0).all()  # callers cannot poison the cache
    write_csv(tmp_path, "000001", [*GOOD_ROWS, "2026-01-02,101,104,99,103,700"])
    again = read_bars_csv(path)
    assert len(again) == 5
    assert not np.shares_memory(first["close"].to_numpy(), again["close"].to_numpy())


def test_write_bars_csv_round_trips(tmp_path: Path, krx_data_dir: Path) -> None:
    src = read_bars_csv(krx_data_dir / "035720.csv")
    out = tmp_path / "cache" / "035720.csv"
    write_bars_csv(out, src)
    assert not list(out.parent.glob("*.tmp"))
    pd.testing.assert_frame_equal(read_bars_csv(out), src)
    with open(out, encoding="utf-8") as fh:
        assert fh.readline() == HEADER


def test_write_bars_csv_keeps_the_shared_file_format(tmp_path: Path, krx_data_dir: Path) -> None:
    shutil.copy(krx_data_dir / "069500.csv", tmp_path / "orig.csv")
    out = tmp_path / "069500.csv"
    write_bars_csv(out, read_bars_csv(tmp_path / "orig.csv", "069500"))
    with open(out, encoding="utf-8") as a, open(tmp_path / "orig.csv", encoding="utf-8") as b:
        assert a.read() == b.read()


def test_cold_load_of_real_data_parses_every_file(krx_data_dir: Path) -> None:
    clear_csv_cache()
    codes = sorted(p.stem for p in krx_data_dir.glob("*.csv"))
    assert len(CsvProvider(krx_data_dir).load(codes, end=LAST)) == 14


def test_ticker_master_reads_shared_file(krx_master_path: Path) -> None:
    master = load_ticker_master(krx_master_path)
    assert len(master) == 14
    assert master["069500"] == TickerInfo("069500", "KODEX 200", "KODEX 200", "etf")
    assert master["005930"].name_ko == "삼성전자" and master["005930"].kind == "stock"
    assert master == BUILTIN_TICKERS  # the embedded copy matches the data


def test_ticker_master_rejects_unknown_kind(tmp_path: Path) -> None:
    path = tmp_path / "tickers.csv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("code,name_ko,name_en,kind\n005930,삼성전자,Samsung,bond\n")
    with pytest.raises(ValueError, match=r"tickers.csv:2.*bond"):
        load_ticker_master(path)
