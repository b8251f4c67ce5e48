"""KIS answer codes the fake returns, with where each one comes from (docs/broker.md, "Error
codes", has the table and the sources).

`source` says how sure we are:
- "official": in KIS's own samples (`koreainvestment/open-trading-api`, path in the comment);
- "observed": quoted from real paper/real answers in public third-party code (KIS's sample repo
  does not list rejection codes; KIS publishes its code table on its portal only);
- "UNVERIFIED": not found anywhere; a placeholder in KIS's style.
A client must treat every `rt_cd != "0"` on an order as a rejection and never branch on the
order-rejection codes (the real domain answers APBK0952 with rt_cd "7", for one).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KisCode:
    code: str
    message: str
    http_status: int
    source: str  # "documented" | "observed" | "UNVERIFIED"


# Gateway: token, rate and domain.
# EGW00123: official, legacy/rest/current_price_samle.py (refresh the token on it).
TOKEN_EXPIRED = KisCode("EGW00123", "기간이 만료된 token 입니다.", 500, "official")
TOKEN_INVALID = KisCode("EGW00121", "유효하지 않은 token 입니다.", 500, "observed")
# "1분당 1회": official README.md ("토큰 재발급 - 1분당 1회 발급됩니다"); the code is observed.
TOKEN_TOO_OFTEN = KisCode(
    "EGW00133", "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)", 403, "observed")
APPKEY_INVALID = KisCode("EGW00103", "유효하지 않은 AppKey입니다.", 403, "observed")
APPSECRET_INVALID = KisCode("EGW00105", "유효하지 않은 AppSecret입니다.", 403, "observed")
CUSTTYPE_INVALID = KisCode("EGW00208", "고객유형(custtype)이 유효하지 않습니다.", 500, "observed")
# EGW00201: official, README.md ("초당 거래건수 초과") and
# backtester/kis_backtest/providers/kis/data.py.
RATE_EXCEEDED = KisCode("EGW00201", "초당 거래건수를 초과하였습니다.", 500, "official")
# The message is observed on the real domain with a paper TR id (HTTP 500); the code EGW02004 is
# the one the issue names — a third-party code table lists "모의투자 tr이 아닙니다" under
# EGW00213, so the client also recognises the message (broker.kis.wrong_domain).
NOT_PAPER_TR = KisCode("EGW02004", "모의투자 TR 이 아닙니다.", 500, "observed")
NOT_REAL_TR = KisCode("EGW02004", "실전투자 TR 이 아닙니다.", 500, "observed")
# OPSQ: the inquiry server. OPSQ0002 is "no such service code" (a TR id the path or the domain
# does not serve) — not a bad field, as the fake used it before.
NO_SUCH_SERVICE = KisCode("OPSQ0002", "없는 서비스 코드 입니다.", 500, "observed")
BAD_ACCOUNT = KisCode("OPSQ2000", "ERROR : INPUT INVALID_CHECK_ACNO", 200, "observed")
# OPSQ2001 comes with varying messages in public logs ("ERROR INPUT FIELD NOT FOUND [X]",
# "TIME LIMIT ..."): the fake answers a missing or malformed field with it, naming the field.
BAD_FIELD = KisCode("OPSQ2001", "ERROR : INPUT FIELD", 200, "observed")
BAD_JSON = KisCode("OPSQ9997", "JSON PARSING ERROR : invalid json format", 500, "observed")

# Orders (HTTP 200, rt_cd "1"; paper-domain messages).
CASH_SHORT = KisCode("APBK0952", "주문가능금액을 초과 했습니다", 200, "observed")
MARKET_CLOSED = KisCode("40580000", "모의투자 장종료 입니다.", 200, "observed")
HOLDINGS_SHORT = KisCode("40240000", "모의투자 잔고내역이 없습니다.", 200, "observed")
UNKNOWN_TICKER = KisCode("40070000", "모의투자 주문처리가 안되었습니다(매매불가 종목)", 200,
                         "observed")
INVALID_TICK = KisCode("40270000", "주문단가가 호가단위에 맞지 않습니다.", 200, "UNVERIFIED")
HALTED = KisCode("40310000", "매매거래정지 종목입니다.", 200, "UNVERIFIED")
NOTHING_TO_CANCEL = KisCode("40330000", "정정/취소할 수량이 없습니다.", 200, "UNVERIFIED")
NO_SUCH_ORDER = KisCode("40320000", "원주문번호가 존재하지 않습니다.", 200, "UNVERIFIED")

ORDER_OK = ("APBK0013", "주문 전송 완료 되었습니다.")
CANCEL_OK = ("APBK0017", "주문 취소 완료 되었습니다.")
INQUIRY_OK = ("KIOK0000", "정상처리 되었습니다.")
NEXT_PAGE_OK = ("KIOK0510", "조회가 계속됩니다..다음버튼을 Click 하십시오.")
