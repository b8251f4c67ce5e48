"""The one catalogue (`krx_common.i18n`) and the one formatting module (`krx_common.fmt`)."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime

import numpy as np

from contracts.settings import StrategyParams
from krx_common import fmt
from krx_common.i18n import TEXT, text
from strategy import rules
from strategy.params import param_vector


def test_i18n_every_key_has_both_languages_with_the_same_placeholders():
    for key, (ko, en) in TEXT.items():
        assert ko and en, key
        assert set(re.findall(r"{(\w+)", ko)) == set(re.findall(r"{(\w+)", en)), key


def test_i18n_text_fills_values_and_falls_back_to_the_key():
    assert text("unit.won", "ko", value="1,000") == "1,000원"
    assert text("unit.won", "en", value="1,000") == "₩1,000"
    assert text("no.such.key", "ko") == "no.such.key"


def test_fmt_won_is_rounded_to_the_integer_with_separators():
    assert fmt.won(8_036_924.6829) == "8,036,925원"
    assert fmt.won(10_021_254.6765, "en") == "₩10,021,255"
    assert fmt.won(2.5) == "3원"  # half away from zero, not banker's rounding
    assert fmt.won(-1234.5, signed=True) == "-1,235원"
    assert fmt.won_number(751_155.0665) == "751,155"
    assert fmt.won(None) == fmt.won(math.nan) == "—"


def test_fmt_percent_price_shares_dates():
    assert fmt.pct(0.198171, 1) == "19.8%"
    assert fmt.pct(0.388, signed=True) == "+38.80%"
    assert fmt.price(57_728.85) == "57,729"
    assert fmt.price(29_855, "ko") == "29,855원"
    assert fmt.shares(1200) == "1,200주" and fmt.shares(83, "en") == "83 sh"
    assert fmt.kst(datetime(2026, 11, 30, 0, 5, tzinfo=UTC)) == "2026-11-30 09:05 KST"
    assert fmt.day(date(2026, 1, 2)) == "2026-01-02"


def test_fmt_guardrail_values_read_in_their_unit():
    assert fmt.guard_value("GUARDRAIL_MAX_SINGLE_ORDER", 0.198171) == "19.8%"
    assert fmt.guard_value("GUARDRAIL_MIN_CASH", 10_021_254.6765) == "10,021,255원"
    assert fmt.guard_value("GUARDRAIL_MAX_ORDERS", 2.0) == "2"


def _decide(rsi: float, p: np.ndarray, held: bool) -> tuple[int, int]:
    """(exit code of a held ticker, buy rank of an unheld one) at this RSI, in a bull market."""
    close = np.array([10_000.0])
    exit_out = np.zeros(1, dtype=np.int64)
    rank_out = np.zeros(1, dtype=np.int64)
    qty_out = np.zeros(1, dtype=np.int64)
    rules.decide_session(rules.REGIME_BULL, 40.0, close, np.array([rsi]),
                         np.array([10 if held else 0]), np.array([9_000.0]), 1e7, p,
                         exit_out, rank_out, qty_out)
    return int(exit_out[0]), int(rank_out[0])


def test_rsi_labels_say_the_strict_comparisons_the_rule_makes():
    sp = StrategyParams()
    p = param_vector(sp)
    buy, sell = sp.rsi_buy_threshold, sp.rsi_sell_threshold
    # the rule: exactly at the buy threshold does not buy, just below does
    assert _decide(buy, p, held=False)[1] == 0 and _decide(buy - 0.01, p, held=False)[1] == 1
    # exactly at the sell threshold keeps the position, just above takes profit
    assert _decide(sell, p, held=True)[0] == rules.EXIT_NONE
    assert _decide(sell + 0.01, p, held=True)[0] == rules.EXIT_RSI_TAKE_PROFIT
    # the labels say the same: below / above, not "at or"
    ko_buy, en_buy = TEXT["param.rsi_buy_threshold"]
    ko_sell, en_sell = TEXT["param.rsi_sell_threshold"]
    assert "미만 매수" in ko_buy and "이하" not in ko_buy and "buy below" in en_buy
    assert "초과 매도" in ko_sell and "이상" not in ko_sell and "sell above" in en_sell
    assert "at or" not in en_buy + en_sell


def test_risks_are_worded_from_code_and_params_never_the_english_message():
    from krx_common.words import risk_text

    english = "market data is SYNTHETIC (demo provider): not real prices"
    assert risk_text("SYNTHETIC_DATA", {}, english, "ko") == \
        "시장 데이터가 합성(데모) 데이터입니다: 실제 가격이 아닙니다."
    assert risk_text("CHOP", {"adx": 12.6}, "ADX 12.6 below threshold", "ko") == \
        "ADX 12.6가 기준 미만(횡보)이라 신규 매수가 없습니다."
    assert risk_text("REGIME_BEAR", {"days": 4}, "x", "en") == \
        "Benchmark regime BEAR for 4 sessions."
    # a guardrail risk reads its value and limit in their unit
    assert risk_text("GUARDRAIL_MAX_SINGLE_ORDER", {"value": 0.3012, "limit": 0.25}, "x",
                     "ko") == "가장 큰 매수: 평가 총액의 30.1% (한도 25.0%)"
    # no template for these params: generic words, the detail as code
    assert risk_text("DATA_INVALID", {}, "069500: high < low on 2024-01-02", "ko") == \
        "시장 데이터가 검증을 통과하지 못했습니다. 세부: `069500: high < low on 2024-01-02`"
    assert risk_text("NEW_CODE", {}, "", "ko") == "알 수 없는 위험 코드입니다."


def test_guardrail_checks_read_in_words_with_formatted_numbers():
    from krx_common.words import guard_text

    assert guard_text("GUARDRAIL_MAX_ORDERS", 0.0, 20.0, "ko") == "주문 0건 (한도 20건)"
    assert guard_text("GUARDRAIL_MIN_CASH", 10_021_254.6765, 98_000.2, "ko") == \
        "주문 후 예상 현금 10,021,255원 (보유 하한 98,000원)"


def test_plan_reason_is_said_once_with_its_code_not_doubled():
    from krx_common.words import plan_reason_code, plan_reason_text

    assert plan_reason_text("no entries: CHOP_BLOCK", "ko") == \
        ("횡보장(ADX 낮음)이라 신규 매수 없음", "CHOP_BLOCK")
    assert plan_reason_code("GUARDRAIL_MIN_CASH: 2 buys held back, sells kept") == \
        "GUARDRAIL_MIN_CASH"
    words, code = plan_reason_text("CASH_LIMIT: 305720 estimated cut from 198 to 143", "ko")
    assert code == "CASH_LIMIT" and "305720" in words and "estimated" not in words


def test_one_korean_word_for_plan_across_the_catalogue():
    korean = [ko for ko, _ in TEXT.values()]  # the Telegram labels included (`tg.<key>`)
    assert not [k for k in korean if "플랜" in k]
    assert sum("계획" in k for k in korean) > 10


def test_field_values_read_by_the_fields_name():
    assert fmt.field_value("portfolio.cash", 8_036_924.6829) == "8,036,925"
    assert fmt.field_value("holdings[069500].avg_price", 57_728.85) == "57,729"
    assert fmt.field_value("settings.strategy.stop_loss_pct", 0.12) == "12.00%"
    assert fmt.field_value("settings.strategy.rsi_sell_threshold", 75.0) == "75"
    assert fmt.field_value("settings.universe", ["069500", "229200"]) == "069500, 229200"
