"""KIS answer codes the fake returns, with where each one comes from.

Gateway codes (EGW...) and their messages are the ones KIS documents and the official samples
(`koreainvestment/open-trading-api`) and users quote. The order-rejection codes are NOT in the
official samples: the ones marked `observed` are quoted from real paper/real answers in public
code; the ones marked `UNVERIFIED` are placeholders in KIS's style (an 8-digit or APBK code) —
a client must treat every `rt_cd != "0"` on an order as a rejection and never branch on these
(docs/broker.md, "Error codes").
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
TOKEN_EXPIRED = KisCode("EGW00123", "기간이 만료된 token 입니다.", 500, "documented")
TOKEN_INVALID = KisCode("EGW00121", "유효하지 않은 token 입니다.", 500, "documented")
TOKEN_TOO_OFTEN = KisCode(
    "EGW00133", "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)", 403, "documented")
APPKEY_INVALID = KisCode("EGW00103", "유효하지 않은 AppKey입니다.", 403, "documented")
APPSECRET_INVALID = KisCode("EGW00105", "유효하지 않은 AppSecret입니다.", 403, "documented")
RATE_EXCEEDED = KisCode("EGW00201", "초당 거래건수를 초과하였습니다.", 500, "documented")
NOT_PAPER_TR = KisCode("EGW02004", "모의투자 TR 이 아닙니다.", 500, "observed")
NOT_REAL_TR = KisCode("EGW02004", "실전투자 TR 이 아닙니다.", 500, "observed")
BAD_REQUEST = KisCode("OPSQ0002", "필수항목 입력값이 없거나 잘못되었습니다.", 500, "UNVERIFIED")

# Orders (HTTP 200, rt_cd "1").
CASH_SHORT = KisCode("APBK0952", "주문가능금액을 초과 했습니다", 200, "observed")
MARKET_CLOSED = KisCode("40580000", "모의투자 장종료 입니다.", 200, "observed")
HOLDINGS_SHORT = KisCode("40240000", "모의투자 잔고내역이 없습니다.", 200, "observed")
INVALID_TICK = KisCode("40270000", "주문단가가 호가단위에 맞지 않습니다.", 200, "UNVERIFIED")
HALTED = KisCode("40310000", "매매거래정지 종목입니다.", 200, "UNVERIFIED")
UNKNOWN_TICKER = KisCode("40070000", "종목코드 오류입니다.", 200, "UNVERIFIED")
NOTHING_TO_CANCEL = KisCode("40330000", "정정/취소할 수량이 없습니다.", 200, "UNVERIFIED")
NO_SUCH_ORDER = KisCode("40320000", "원주문번호가 존재하지 않습니다.", 200, "UNVERIFIED")

ORDER_OK = ("APBK0013", "주문 전송 완료 되었습니다.")
CANCEL_OK = ("APBK0017", "주문 취소 완료 되었습니다.")
INQUIRY_OK = ("KIOK0000", "정상처리 되었습니다.")
NEXT_PAGE_OK = ("KIOK0510", "조회가 계속됩니다..다음버튼을 Click 하십시오.")
