"""422 answers of the real PC backend worded in the cockpit from the error's type, field and
ctx (krx_common.http_errors.FieldError), not from pydantic's English message."""

from __future__ import annotations

import pytest
from cockpit_stack import Stack, pull
from latin_text import latin_sentences

from contracts.settings import Settings
from pc_cockpit.client import CockpitConfig, PcClient, PcError

pytestmark = pytest.mark.integration


def _refused_put(stack: Stack, change: dict) -> PcError:
    pull(stack)
    client = PcClient(CockpitConfig(stack.pc.base_url, stack.pc.workspace / "pc_token"))
    try:
        before = client.settings()
        body = before.model_dump(mode="json")
        for section, values in change.items():
            body[section] = {**body[section], **values} if isinstance(values, dict) else values
        with pytest.raises(PcError) as caught:
            client.put_settings(body)
        assert client.settings() == before  # refused: nothing changed
    finally:
        client.close()
    return caught.value


def test_cockpit_422_cross_field_rule_in_korean_names_the_field(stack: Stack):
    err = _refused_put(stack, {"strategy": {"rsi_buy_threshold": 80.0,
                                            "rsi_sell_threshold": 70.0}})
    assert err.status == 422
    first = err.field_errors[0]
    # the envelope carries what the words need: the field, the rule's code, its params
    assert first["field"] == "strategy.rsi_buy_threshold"
    assert first["type"] == "rsi_order"
    assert first["ctx"]["buy"] == 80.0 and first["ctx"]["sell"] == 70.0
    said = err.user_message("ko")
    assert said.startswith("입력 오류 — RSI 매수 기준"), said
    assert "`strategy.rsi_buy_threshold`" in said and "[rsi_order]" in said
    assert "매도 기준보다 낮아야" in said
    assert latin_sentences(said) == [], said
    assert "must be" not in said
    assert "must be below" in err.user_message("en")


def test_cockpit_422_bound_in_korean_says_the_limit_and_the_field(stack: Stack):
    err = _refused_put(stack, {"guardrails": {"max_single_order_pct": 1.5}})
    said = err.user_message("ko")
    assert err.field_errors[0]["type"] == "less_than_equal"
    assert said == ("입력 오류 — 1건 주문 최대 비중 (자산 대비) `guardrails.max_single_order_pct`: "
                    "1 이하여야 합니다 [less_than_equal]"), said
    assert latin_sentences(said) == []


def test_cockpit_422_duplicate_and_moving_averages_worded_by_their_rule(stack: Stack):
    err = _refused_put(stack, {"universe": ["069500", "069500"]})
    assert err.field_errors[0]["field"] == "universe.1"
    assert err.user_message("ko") == "입력 오류 — `universe.1`: 중복된 값이 있습니다 [duplicate]"
    err = _refused_put(stack, {"strategy": {"ma_short_period": 300, "regime_ma_long": 200}})
    said = err.user_message("ko")
    assert "`strategy.ma_short_period`" in said and "단기 이동평균(300)" in said, said
    assert "장기 이동평균(200)보다 짧아야" in said and "[ma_order]" in said
    assert latin_sentences(said) == [], said


def test_settings_contract_rule_error_carries_code_field_and_params():
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({"strategy": {"rsi_buy_threshold": 71.0}})
    err = caught.value.errors()[0]
    assert err["type"] == "rsi_order"
    assert err["ctx"] == {"field": "rsi_buy_threshold", "buy": 71.0, "sell": 70.0}
    assert "must be below" in err["msg"]  # the English message stays for logs and EN
