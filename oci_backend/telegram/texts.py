"""The bot's labels, Korean by default, English available (`/lang en`, `KRX_TELEGRAM_LANG`).
Risks, guardrail checks and plan reasons are worded from their codes by `krx_common.words`;
numbers are `krx_common.fmt`'s. Refusals and audit lines are shown as OCI states them."""

from __future__ import annotations

from krx_common import fmt

LANGS = ("ko", "en")

_T: dict[str, tuple[str, str]] = {
    "help": (
        "KRX Alertor 명령\n"
        "/status 오늘 단계·최근 사이클·모드·비상정지·데이터·위험\n"
        "/plan 주문 계획 (HTS 주문줄, 가드레일)\n"
        "/portfolio 현금·보유종목·평가손익·손절거리\n"
        "/draft 현재 계획으로 주문표 작성\n"
        "/approve 작성한 주문표 제출 (버튼 확인, 10분 유효)\n"
        "/fills 오늘 주문표 상태와 체결\n"
        "/fill 종목 수량 가격 (MANUAL: 체결 기록, 확인 필요)\n"
        "/stop 사유 · /resume 사유 (비상정지, 확인 필요)\n"
        "/audit [N] 감사 로그 마지막 N줄\n"
        "/lang ko|en 언어",
        "KRX Alertor commands\n"
        "/status stage of the day, last cycle, mode, emergency stop, data, risks\n"
        "/plan the order plan (HTS lines, guardrails)\n"
        "/portfolio cash, holdings, unrealised P&L, stop distances\n"
        "/draft draft the ticket from the current plan\n"
        "/approve submit the drafted ticket (button, valid 10 minutes)\n"
        "/fills today's tickets and fills\n"
        "/fill TICKER QTY PRICE (MANUAL: record a fill, confirmed)\n"
        "/stop REASON · /resume REASON (emergency stop, confirmed)\n"
        "/audit [N] the last N audit lines\n"
        "/lang ko|en language"),
    "unknown": ("알 수 없는 명령입니다. /help", "Unknown command. /help"),
    "rate": ("명령이 너무 많습니다. 잠시 후 다시 시도하세요.",
             "Too many commands; try again in a minute."),
    "no_summary": ("아직 사이클 기록이 없습니다.", "No cycle has run yet."),
    "no_plan": ("현재 주문 계획이 없습니다.", "There is no current plan."),
    "stage": ("단계", "stage"),
    "last_cycle": ("최근 사이클", "last cycle"),
    "mode": ("모드", "mode"),
    "stop_on": ("비상정지: 켜짐", "emergency stop: ON"),
    "stop_off": ("비상정지: 꺼짐", "emergency stop: off"),
    "fresh": ("데이터", "data"),
    "data_stale": ("오래됨", "STALE"),
    "ok": ("최신", "fresh"),
    "risks": ("위험", "risks"),
    "none": ("없음", "none"),
    "plan": ("주문 계획", "order plan"),
    "guardrails": ("가드레일", "guardrails"),
    "no_orders": ("주문 없음", "no orders"),
    "cash": ("현금", "cash"),
    "holdings": ("보유", "holdings"),
    "equity": ("평가액", "equity"),
    "pnl": ("평가손익", "P&L"),
    "stop_dist": ("손절까지", "to stop"),
    "draft": ("주문표 초안", "ticket draft"),
    "draft_next": ("제출하려면 /approve", "to submit: /approve"),
    "no_draft": ("작성된 주문표가 없습니다: 먼저 /draft", "No ticket drafted: /draft first"),
    "approve_q": ("이 주문표를 제출할까요? (10분 유효)",
                  "Submit this ticket? (valid 10 minutes)"),
    "approve_btn": ("✅ 제출", "✅ Submit"),
    "confirm_btn": ("✅ 확인", "✅ Confirm"),
    "cancel_btn": ("취소", "Cancel"),
    "cancelled": ("취소했습니다.", "Cancelled."),
    "submitted": ("제출됨", "submitted"),
    "already": ("이미 제출된 주문표입니다 (같은 멱등키)",
                "already submitted (same idempotency key)"),
    "refused": ("거부", "refused"),
    "used": ("이미 처리된 버튼입니다.", "This button was already used."),
    "expired": ("만료된 버튼입니다 (10분). 다시 /approve 하세요.",
                "This button has expired (10 minutes). /approve again."),
    "unknown_btn": ("알 수 없는 버튼입니다 (봇이 재시작되었을 수 있음).",
                    "Unknown button (the bot may have restarted)."),
    "plan_stale": ("계획이 바뀌었습니다: 다시 /draft 하세요", "the plan changed: /draft again"),
    "not_yours": ("이 버튼은 다른 사용자의 것입니다.", "This button belongs to another user."),
    "no_tickets": ("오늘 주문표가 없습니다.", "No tickets today."),
    "fills": ("체결", "fills"),
    "need_reason": ("사유를 적어 주세요: /stop 사유", "Give a reason: /stop REASON"),
    "need_reason_resume": ("사유를 적어 주세요: /resume 사유", "Give a reason: /resume REASON"),
    "stop_q": ("비상정지를 켤까요?", "Switch the emergency stop ON?"),
    "resume_q": ("비상정지를 끌까요?", "Switch the emergency stop off?"),
    "stopped": ("비상정지를 켰습니다.", "Emergency stop is ON."),
    "resumed": ("비상정지를 껐습니다.", "Emergency stop is off."),
    "fill_usage": ("사용법: /fill 종목 수량 가격", "Usage: /fill TICKER QTY PRICE"),
    "fill_manual": ("/fill 은 MANUAL 모드에서만 씁니다.", "/fill is for MANUAL mode only."),
    "fill_no_ticket": ("이 종목의 열린 주문표가 없습니다.", "No open ticket orders this ticker."),
    "fill_q": ("이 체결을 기록할까요?", "Record this fill?"),
    "fill_done": ("체결을 기록했습니다.", "Fill recorded."),
    "audit_usage": ("사용법: /audit [N] (1..50)", "Usage: /audit [N] (1..50)"),
    "lang_set": ("언어: 한국어", "Language: English"),
    "error": ("처리 중 오류가 났습니다 (로그 확인).", "Something failed (see the bot's log)."),
}


def t(key: str, lang: str) -> str:
    ko, en = _T[key]
    return en if lang == "en" else ko


def won(x: float | None, lang: str = "ko") -> str:
    """KRW as everywhere else (`krx_common.fmt.won`): `1,234,567원` / `₩1,234,567`."""
    return fmt.won(x, lang)


def shares(n: int, lang: str = "ko") -> str:
    return fmt.shares(n, lang)


def pct(x: float | None) -> str:
    """A signed percentage as the cockpit shows one: `+1.23%`."""
    return fmt.pct(x, signed=True)
