"""The client's reading of KIS's codes (no HTTP): a wrong-domain key is a configuration error
by its code or by KIS's message (docs/broker.md, "Error codes")."""

from __future__ import annotations

from broker.kis import wrong_domain


def test_wrong_domain_is_recognised_by_code_or_by_kis_message() -> None:
    assert wrong_domain("EGW02004", "")
    assert wrong_domain("EGW00213", "모의투자 tr이 아닙니다.")  # a public table files it here
    assert wrong_domain("EGW99999", "실전투자 TR 이 아닙니다.")
    assert wrong_domain("EGW00105", "유효하지 않은 AppSecret입니다.")
    assert not wrong_domain("EGW00201", "초당 거래건수를 초과하였습니다.")
    assert not wrong_domain("40580000", "모의투자 장종료 입니다.")
