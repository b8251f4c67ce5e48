"""The one catalogue of operator-facing words, Korean and English: the cockpit's labels, the
`krx daily` morning text, risk and guardrail messages, ticket events, validation errors and
metric names. Pure data and a lookup (no Streamlit, no project imports), so every layer may
use it: the cockpit wraps `text` as `pc_cockpit.i18n.t` (language from the session), the CLI
and OCI pass the language explicitly.

Keys missing a translation fall back to the key itself (a visible hint, never an exception).
Codes (risk codes, reason codes, ticket states) stay as codes next to the words: the catalogue
gives the words, the caller shows the code beside them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LANGS = ("ko", "en")
DEFAULT_LANG = "ko"

# key → (Korean, English). Placeholders use str.format names.
TEXT: dict[str, tuple[str, str]] = {
    "ov.chart_title": ("최근 1년 평가액: 전략 vs {bench} 매수 후 보유 ({start} ~ {end})",
                       "Last year's equity: strategy vs buy-and-hold {bench} ({start} – {end})"),
    "ov.chart_strategy": ("전략 평가액 (현재 설정 백테스트)",
                          "Strategy equity (backtest of the current settings)"),
    "ov.chart_benchmark": ("{bench} 매수 후 보유 (같은 초기 자본)",
                           "Buy-and-hold {bench} (same initial capital)"),
    "ov.chart_bull": ("강세장(BULL) 구간", "BULL regime"),
    "ov.chart_bear": ("약세장(BEAR) 구간", "BEAR regime"),
    "ov.chart_unknown": ("국면 미정(UNKNOWN, 지표 준비 중)",
                         "UNKNOWN regime (indicators warming up)"),
    "ov.chart_chop": ("횡보(CHOP, 위쪽 띠): 신규 진입 없음", "CHOP (top strip): no new entries"),
    "ov.chart_caption": (
        "배경색은 그날의 시장 국면입니다 ({bench} 종가와 장기 이동평균 기준): 초록 = 강세장(BULL, "
        "신규 진입 가능), 빨강 = 약세장(BEAR, 보유 종목 청산·신규 진입 없음), 회색 = 지표 준비 "
        "중. 위쪽 주황 띠는 ADX가 기준 미만인 횡보 구간입니다 (신규 진입 없음).",
        "The background is the day's regime ({bench}'s close against its long moving average): "
        "green = BULL (entries allowed), red = BEAR (holdings exit, no entries), grey = "
        "indicators warming up. The orange strip on top marks chop (ADX below the threshold: no "
        "entries).",
    ),
    "ov.exit.OK": ("정상 (OK)", "OK"),
    "ov.exit.WARN": ("경고 (WARN): 계획은 나왔지만 확인할 위험이 있습니다 — {why}",
                     "WARN: a plan was made, but check the risks — {why}"),
    "ov.exit.BLOCKED": ("차단 (BLOCKED): 오늘은 주문이 나가지 않습니다 — {why}",
                        "BLOCKED: no orders go out today — {why}"),
    "ov.exit.FAILED": ("실패 (FAILED): 사이클이 끝나지 못했습니다 — {why}",
                       "FAILED: the cycle did not complete — {why}"),
    "pf.missing_cell": (
        "보유 종목 {row}번째 줄({ticker})의 '{column}' 칸이 비어 있습니다: 채우거나 그 줄을 "
        "삭제하세요. 아무것도 저장하지 않았습니다.",
        "Holdings row {row} ({ticker}): '{column}' is empty. Fill it in or delete the row; "
        "nothing was saved.",
    ),
    "tk.remaining": ("남은 수량 {left}주 / 주문 {qty}주", "{left} of {qty} left to fill"),
    "src.live": ("📡 출처: OCI 실시간 ({at} 조회)", "📡 Source: live from OCI (asked {at})"),
    "src.pulled": ("📥 출처: 마지막 PULL (리비전 {revision}, {at})",
                   "📥 Source: the last PULL (revision {revision}, {at})"),
    "src.auto_pulled": ("콕핏을 열 때 자동으로 PULL함",
                        "pulled automatically when the cockpit opened"),
    "src.auto_skipped": ("미전송 수정·충돌 {n}건이 있어 자동 PULL하지 않음",
                         "not pulled automatically: {n} unpushed edit(s) or conflict(s)"),
    "src.auto_failed": ("자동 PULL 실패: {message}", "automatic PULL failed: {message}"),
    "src.oci_moved": ("OCI는 리비전 {revision}: PULL로 갱신하세요",
                      "OCI is at revision {revision}: PULL to refresh"),
    "nav.broker": ("증권사 대사", "Broker reconciliation"),
    "tk.broker_lines": ("증권사 주문", "Broker orders"),
    "col.broker_state": ("증권사 상태", "Broker state"),
    "col.order_no": ("주문번호", "Order no"),
    "col.filled": ("체결", "Filled"),
    "col.remaining": ("미체결", "Remaining"),
    "br.not_configured": ("OCI에 증권사 자격증명이 없습니다 (KRX_KIS_CREDENTIALS_FILE)",
                          "No broker credentials on OCI (KRX_KIS_CREDENTIALS_FILE)"),
    "br.reconcile": ("지금 대사", "Reconcile now"),
    "br.clean": ("증권사와 장부가 일치합니다", "Broker and book agree"),
    "br.drift": ("증권사와 장부가 다릅니다", "Broker and book differ"),
    "br.book": ("장부 (SSOT)", "Book (SSOT)"),
    "br.broker": ("증권사", "Broker"),
    "br.reason": ("사유", "Reason"),
    "br.take": ("증권사 잔고 채택", "Take the broker's"),
    "br.keep": ("장부 유지", "Keep the book"),
    "br.need_reason": ("사유를 입력하세요", "Give a reason"),
    "br.never": ("아직 대사하지 않았습니다", "Not reconciled yet"),
    "st.mode_help": (
        "BROKER_PAPER/BROKER_LIVE는 OCI에 증권사 자격증명이 있어야 하며, BROKER_LIVE는 실거래 "
        "확인이 필요합니다",
        "BROKER_PAPER/BROKER_LIVE need broker credentials on OCI; BROKER_LIVE also the "
        "live-trading acknowledgement"),
    "st.live_ack": ("실거래 확인 (실제 돈으로 주문)", "Live trading acknowledged (real money)"),
    "st.keep_unfilled": ("장 마감 후 미체결 유지", "Keep unfilled orders at the close"),
    "mode.badge": ("실행 모드: {mode}", "Execution mode: {mode}"),
    # app & navigation
    "app.title": ("KRX Alertor 콕핏", "KRX Alertor cockpit"),
    "nav.overview": ("개요", "Overview"),
    "nav.plan": ("주문 계획", "Order plan"),
    "nav.portfolio": ("포트폴리오", "Portfolio"),
    "nav.strategy": ("전략 및 설정", "Strategy & settings"),
    "nav.tickets": ("티켓", "Tickets"),
    "nav.backtest": ("백테스트 및 스윕", "Backtest & sweep"),
    "nav.audit": ("감사 기록", "Audit trail"),
    "lang.toggle": ("English", "English"),
    # connection
    "conn.title": ("연결 상태", "Connection"),
    "conn.tunnel": ("터널", "Tunnel"),
    "conn.latency": ("OCI 지연", "OCI latency"),
    "conn.last_pull": ("마지막 PULL", "Last PULL"),
    "conn.revision": ("리비전", "Revision"),
    "conn.unpushed": ("미전송 수정", "Unpushed edits"),
    "conn.conflicts": ("충돌", "Conflicts"),
    "conn.oci_down": ("OCI 응답 없음", "OCI not answering"),
    "conn.never": ("없음", "never"),
    "conn.pc_backend": ("PC 백엔드", "PC backend"),
    "conn.pc_unreachable": ("연결 안 됨", "not reachable"),
    "tunnel.UP": ("연결됨", "up"),
    "tunnel.DEGRADED": ("불안정", "degraded"),
    "tunnel.RECONNECTING": ("재연결 중", "reconnecting"),
    "tunnel.DOWN": ("끊김", "down"),
    "tunnel.DIRECT": ("직접 연결", "direct"),
    "tunnel.OCI_DOWN": ("터널 정상 · OCI 백엔드 응답 없음",
                        "tunnel up · OCI backend not answering"),
    # errors
    "err.pc_down": (
        "PC 백엔드({url})에 연결할 수 없습니다. `krx pc serve`(또는 `krx demo`)로 시작한 뒤 "
        "이 페이지를 새로 고치세요.",
        "Cannot reach the PC backend at {url}. Start it with `krx pc serve` (or `krx demo`), "
        "then reload this page.",
    ),
    "err.no_token": (
        "PC 백엔드 토큰 파일 {path}이(가) 없습니다. PC 백엔드를 한 번 시작하면 생성됩니다 "
        "(`krx pc serve`).",
        "The PC backend token file {path} does not exist. Starting the PC backend once creates "
        "it (`krx pc serve`).",
    ),
    "err.unauthorized": (
        "PC 백엔드가 콕핏의 토큰을 거부했습니다. 토큰 파일 {path}을(를) 확인하고 콕핏을 다시 "
        "시작하세요.",
        "The PC backend refused the cockpit's token. Check the token file {path} and restart "
        "the cockpit.",
    ),
    "err.oci_down": (
        "OCI에 연결할 수 없습니다: {message} 터널(또는 --direct 주소)과 OCI 서버를 확인하세요. "
        "마지막으로 PULL한 내용은 계속 볼 수 있습니다.",
        "OCI is unreachable: {message} Check the tunnel (or the --direct URL) and the OCI "
        "server. What you last pulled stays visible.",
    ),
    "err.oci_down_tunnel_ok": (
        "OCI 백엔드가 응답하지 않습니다. SSH 터널은 정상입니다(인터넷, VM, SSH 문제가 아닙니다). "
        "VM에서 `systemctl status krx-oci-backend`로 백엔드를 확인하세요(로그: "
        "`journalctl -u krx-oci-backend`). 마지막으로 PULL한 내용은 계속 볼 수 있습니다.",
        "The OCI backend is not answering behind a healthy SSH tunnel (not the internet, the VM "
        "or SSH). On the VM, check the backend: `systemctl status krx-oci-backend` (its log: "
        "`journalctl -u krx-oci-backend`). What you last pulled stays visible.",
    ),
    "err.timeout": (
        "PC 백엔드가 {seconds:.0f}초 안에 응답하지 않았습니다. 잠시 후 다시 시도하세요.",
        "The PC backend did not answer within {seconds:.0f} s. Try again in a moment.",
    ),
    "err.conflict": (
        "충돌: OCI에서 같은 필드가 바뀌었습니다. 아래에서 필드별로 선택한 뒤 다시 PUSH하세요.",
        "Conflict: OCI changed the same fields. Choose per field below, then PUSH again.",
    ),
    "err.stale_revision": (
        "OCI의 리비전이 바뀌었습니다. PULL한 뒤 다시 시도하세요.",
        "OCI's revision changed. PULL, then try again.",
    ),
    "err.stale_ticket": (
        "계획이 바뀌어 이 티켓은 오래되었습니다. 다시 초안을 작성하세요.",
        "The plan changed, so this ticket is stale. Re-draft it.",
    ),
    "err.emergency_stop": (
        "긴급 정지가 켜져 있어 OCI가 거부했습니다: {message}",
        "OCI refused because the emergency stop is on: {message}",
    ),
    "err.not_pulled": (
        "아직 PULL하지 않았습니다. 개요 페이지에서 PULL을 누르세요.",
        "Nothing pulled yet. Press PULL on the Overview page.",
    ),
    "err.no_plan": (
        "현재 계획이 없습니다: {message}",
        "No current plan: {message}",
    ),
    "err.no_draft": ("저장된 초안이 없습니다.", "No stored draft."),
    "err.cycle_busy": (
        "일일 사이클이 이미 실행 중입니다. 끝난 뒤 다시 시도하세요.",
        "A daily cycle is already running. Try again when it has finished.",
    ),
    "err.invalid": ("입력 오류 — {field}: {message}", "Invalid input — {field}: {message}"),
    "err.generic": ("{code} ({status}): {message}", "{code} ({status}): {message}"),
    "err.bad_answer": (
        "PC 백엔드의 응답을 이해할 수 없습니다 ({what}). 버전을 확인하세요.",
        "Could not read the PC backend's answer ({what}). Check the versions match.",
    ),
    # emergency stop
    "stop.title": ("긴급 정지", "Emergency stop"),
    "stop.on": ("🛑 긴급 정지 켜짐", "🛑 Emergency stop ON"),
    "stop.off": ("긴급 정지 꺼짐", "Emergency stop off"),
    "stop.unknown": ("긴급 정지 상태를 알 수 없음", "Emergency stop state unknown"),
    "stop.banner": (
        "🛑 긴급 정지 중 ({by}, {at}): {reason} — 티켓 제출이 거부됩니다.",
        "🛑 Emergency stop is ON ({by}, {at}): {reason} — ticket submits are refused.",
    ),
    "stop.turn_on": ("긴급 정지 켜기", "Turn emergency stop ON"),
    "stop.turn_off": ("긴급 정지 끄기", "Turn emergency stop OFF"),
    "stop.confirm_on": ("정말 긴급 정지를 켤까요?", "Really turn the emergency stop ON?"),
    "stop.confirm_off": ("정말 긴급 정지를 끌까요?", "Really turn the emergency stop OFF?"),
    "stop.reason": ("사유 (필수)", "Reason (required)"),
    "stop.confirm": ("확인", "Confirm"),
    "stop.cancel": ("취소", "Cancel"),
    "stop.done": (
        "OCI 응답: 긴급 정지 {state} ({by}, {at})",
        "OCI answered: emergency stop {state} ({by}, {at})",
    ),
    "stop.need_reason": ("사유를 입력하세요.", "Enter a reason."),
    "on": ("켜짐", "ON"),
    "off": ("꺼짐", "OFF"),
    # overview
    "ov.pull": ("PULL (OCI에서 가져오기)", "PULL (fetch from OCI)"),
    "ov.pulled": (
        "OCI 응답: 리비전 {revision} ({at}){rebased}",
        "OCI answered: revision {revision} ({at}){rebased}",
    ),
    "ov.rebased": (" — 로컬 수정을 새 기준에 다시 적용함", " — local edits re-applied on it"),
    "ov.pull_conflicts": (
        "PULL 후 충돌 {n}건: 포트폴리오 또는 설정 페이지에서 해결하세요.",
        "{n} conflict(s) after PULL: resolve them on the Portfolio or Strategy page.",
    ),
    "ov.not_pulled": (
        "아직 PULL하지 않았습니다. PULL을 눌러 OCI의 현재 상태를 가져오세요.",
        "Nothing pulled yet. Press PULL to fetch OCI's current state.",
    ),
    "ov.stage": ("오늘의 단계", "Stage of the day"),
    "ov.asof": ("기준 거래일", "As-of session"),
    "ov.mode": ("실행 모드", "Execution mode"),
    "ov.synthetic": (
        "⚠️ 합성(데모) 시장 데이터입니다 — 실제 가격이 아닙니다.",
        "⚠️ SYNTHETIC (demo) market data — not real prices.",
    ),
    "ov.regime": ("시장 국면", "Regime"),
    "ov.chop": ("횡보(Chop)", "Chop"),
    "ov.adx": ("ADX", "ADX"),
    "ov.sma_gap": ("장기 이평 대비", "Gap to long SMA"),
    "ov.bear_days": ("약세 일수", "Bear days"),
    "ov.yes": ("예", "yes"),
    "ov.no": ("아니오", "no"),
    "ov.signals": ("종목 신호", "Signals"),
    "ov.risks": ("위험", "Risks"),
    "ov.no_risks": ("알려진 위험이 없습니다.", "No known risks."),
    "ov.chart": ("전략 대 보유 전략, 시장 국면", "Strategy vs buy-and-hold, and the regime"),
    "ov.chart_unavailable": ("차트를 그릴 수 없습니다: {message}", "No chart: {message}"),
    "ov.ops": ("운영: 지금 사이클 실행", "Ops: run the cycle now"),
    "ov.replay": (
        "다시 돌려볼 과거 거래일 (리플레이 데이터 루트에서만, DRY_RUN·MANUAL 모두; 비우면 마지막 "
        "거래일)",
        "Past session to replay (replay data roots only, DRY_RUN or MANUAL; empty = the last "
        "completed session)",
    ),
    "ov.run_cycle": ("사이클 실행", "Run cycle"),
    "ov.cycle_done": (
        "OCI 응답: 사이클 종료 코드 {code} = {meaning}; 단계 {stage}, 계획 {plan}",
        "OCI answered: cycle exit {code} = {meaning}; stage {stage}, plan {plan}",
    ),
    "ov.no_summary": (
        "OCI에 아직 일일 요약이 없습니다. 사이클을 실행하세요.",
        "OCI has no daily summary yet. Run the cycle.",
    ),
    # stages
    "stage.NO_ACTION_TODAY": ("오늘은 할 일 없음", "No action today"),
    "stage.PLAN_READY": ("주문 계획 준비됨", "Plan ready"),
    "stage.TICKET_DRAFTED": ("티켓 초안 작성됨", "Ticket drafted"),
    "stage.SUBMITTED": ("티켓 제출됨", "Ticket submitted"),
    "stage.DRY_RUN_FILLED": ("모의 체결 완료", "Dry-run filled"),
    "stage.AWAITING_MANUAL_EXECUTION": ("수동 주문 대기", "Awaiting manual execution"),
    "stage.FILLS_RECORDED": ("체결 기록됨", "Fills recorded"),
    "stage.DONE_TODAY": ("오늘 완료", "Done today"),
    "stage.BLOCKED": ("차단됨", "Blocked"),
    "stage.STOPPED": ("긴급 정지", "Stopped"),
    "stage.STALE_TICKET": ("오래된 티켓", "Stale ticket"),
    "stage.FAILED": ("실패", "Failed"),
    "next.NO_ACTION_TODAY": (
        "다음 할 일: 없음. 내일 09:05 KST 사이클을 기다리세요.",
        "Next: nothing to do. Wait for tomorrow's 09:05 KST cycle.",
    ),
    "next.PLAN_READY": (
        "다음 할 일: 주문 계획을 검토하고 티켓 페이지에서 초안을 작성하세요.",
        "Next: review the order plan, then draft a ticket on the Tickets page.",
    ),
    "next.TICKET_DRAFTED": (
        "다음 할 일: 티켓을 확인하고 제출하세요.",
        "Next: check the ticket and submit it.",
    ),
    "next.SUBMITTED": (
        "다음 할 일: OCI가 티켓을 처리할 때까지 기다리세요 (티켓 페이지).",
        "Next: wait for OCI to process the ticket (Tickets page).",
    ),
    "next.DRY_RUN_FILLED": (
        "다음 할 일: 없음. 모의 체결이 포트폴리오에 반영되었습니다.",
        "Next: nothing. The paper fills updated the portfolio.",
    ),
    "next.AWAITING_MANUAL_EXECUTION": (
        "다음 할 일: HTS/MTS에서 주문한 뒤 티켓 페이지에서 체결을 기록하세요.",
        "Next: place the orders in HTS/MTS, then record the fills on the Tickets page.",
    ),
    "next.FILLS_RECORDED": (
        "다음 할 일: 없음. 체결이 기록되었습니다.",
        "Next: nothing. The fills are recorded.",
    ),
    "next.DONE_TODAY": ("다음 할 일: 없음. 오늘 일은 끝났습니다.", "Next: nothing. Done today."),
    "next.BLOCKED": (
        "다음 할 일: 주문 계획 페이지에서 차단 사유를 확인하세요.",
        "Next: see why the plan is blocked on the Order plan page.",
    ),
    "next.STOPPED": (
        "다음 할 일: 원인을 해결한 뒤 사이드바에서 긴급 정지를 끄세요.",
        "Next: fix the cause, then turn the emergency stop off in the sidebar.",
    ),
    "next.STALE_TICKET": (
        "다음 할 일: 티켓 페이지에서 다시 초안을 작성하세요.",
        "Next: re-draft the ticket on the Tickets page.",
    ),
    "next.FAILED": (
        "다음 할 일: 위험 목록과 OCI 로그를 확인한 뒤 사이클을 다시 실행하세요.",
        "Next: check the risks and the OCI log, then run the cycle again.",
    ),
    # regime / actions / reasons
    "regime.BULL": ("강세", "BULL"),
    "regime.BEAR": ("약세", "BEAR"),
    "regime.UNKNOWN": ("알 수 없음", "UNKNOWN"),
    "action.BUY": ("매수", "BUY"),
    "action.SELL": ("매도", "SELL"),
    "action.HOLD": ("보유", "HOLD"),
    "action.NONE": ("없음", "none"),
    "reason.BEAR_EXIT": ("약세 전환으로 청산", "exit: the regime turned BEAR"),
    "reason.STOP_LOSS": ("손절 가격 도달", "stop loss hit"),
    "reason.RSI_TAKE_PROFIT": ("RSI 과열로 이익 실현", "take profit: RSI above the sell level"),
    "reason.CHOP_EXIT": ("횡보장 청산", "exit: choppy market"),
    "reason.RSI_DIP_ENTRY": ("RSI 눌림 매수", "entry: RSI dip"),
    "reason.BEAR_BLOCK": ("약세장이라 신규 매수 없음", "no entries: BEAR regime"),
    "reason.CHOP_BLOCK": ("횡보장(ADX 낮음)이라 신규 매수 없음",
                          "no entries: choppy market (low ADX)"),
    "reason.REGIME_UNKNOWN": ("국면을 아직 알 수 없음", "regime not known yet"),
    "reason.NO_SLOT": ("보유 종목 수 한도", "no free position slot"),
    "reason.RSI_NOT_LOW": ("RSI가 매수 기준보다 높음", "RSI not low enough"),
    "reason.RSI_UNKNOWN": ("RSI 계산 불가 (데이터 부족)", "RSI not defined (too little data)"),
    "reason.HOLDING": ("보유 유지", "holding"),
    "reason.QTY_ZERO": ("살 수 있는 수량이 0", "quantity rounds to zero"),
    # table columns
    "col.ticker": ("종목코드", "Ticker"),
    "col.name": ("종목명", "Name"),
    "col.close": ("종가", "Close"),
    "col.rsi": ("RSI", "RSI"),
    "col.held": ("보유 수량", "Held"),
    "col.action": ("액션", "Action"),
    "col.reason": ("사유", "Reason"),
    "col.side": ("구분", "Side"),
    "col.qty": ("수량", "Qty"),
    "col.limit": ("지정가", "Limit price"),
    "col.notional": ("금액", "Notional"),
    "col.commission": ("수수료", "Commission"),
    "col.tax": ("세금", "Tax"),
    "col.fees": ("비용", "Fees"),
    "col.avg_price": ("평균 단가", "Avg price"),
    "col.entry_date": ("매수일", "Entry date"),
    "col.field": ("필드", "Field"),
    "col.base": ("기준 (PULL)", "Base (pulled)"),
    "col.mine": ("내 값", "Mine"),
    "col.theirs": ("OCI 값", "OCI's"),
    "col.artifact": ("대상", "Artifact"),
    "col.at": ("시각 (KST)", "At (KST)"),
    "col.actor": ("누가", "Who"),
    "col.what": ("무엇", "What"),
    "col.target": ("대상", "Target"),
    "col.why": ("사유", "Why"),
    "col.before": ("이전", "Before"),
    "col.after": ("이후", "After"),
    "col.revision": ("리비전", "Revision"),
    "col.state": ("상태", "State"),
    "col.message": ("메시지", "Message"),
    "col.mode": ("모드", "Mode"),
    "col.ticket": ("티켓", "Ticket"),
    "col.orders": ("주문 수", "Orders"),
    "col.submitted": ("제출 시각", "Submitted"),
    "col.price": ("가격", "Price"),
    "col.check": ("검사", "Check"),
    "col.value": ("값", "Value"),
    "col.limit_value": ("한도", "Limit"),
    "col.ok": ("통과", "OK"),
    "col.metric": ("지표", "Metric"),
    "col.current": ("현재 설정", "Current"),
    "col.edited": ("수정안", "Edited"),
    # order plan
    "plan.title": ("주문 계획", "Order plan"),
    "plan.decision.READY": ("준비됨: 아래 주문을 실행할 수 있습니다.",
                            "READY: the orders below can be executed."),
    "plan.decision.EMPTY": ("오늘은 주문이 없습니다.", "No orders today."),
    "plan.decision.BLOCKED": ("계획이 차단되었습니다.", "The plan is BLOCKED."),
    "plan.why": ("이유", "Why"),
    "plan.would_change": ("무엇이 바뀌면 달라지나", "What would change it"),
    "plan.cash_before": ("현재 현금", "Cash now"),
    "plan.cash_after": ("주문 후 예상 현금", "Est. cash after"),
    "plan.equity": ("평가 총액", "Equity"),
    "plan.reserve": ("현금 보유 하한", "Cash reserve"),
    "plan.guardrails": ("가드레일", "Guardrails"),
    "plan.no_checks": ("가드레일 검사 결과가 없습니다.", "No guardrail checks recorded."),
    "plan.id": ("계획 {plan_id} · 기준일 {asof} · 리비전 P{p}/S{s}",
                "Plan {plan_id} · as of {asof} · revisions P{p}/S{s}"),
    "plan.synthetic": ("합성 데이터로 만든 계획입니다.", "Planned on synthetic data."),
    # what would change a blocked / empty plan
    "change.CHOP_BLOCK": (
        "ADX가 임계값({threshold}) 이상으로 오르면(추세 형성) 신규 매수가 허용됩니다.",
        "Entries resume when ADX rises above the threshold ({threshold}) — a trend forms.",
    ),
    "change.BEAR_BLOCK": (
        "벤치마크가 장기 이동평균 위로 올라가 강세로 전환되면 매수가 허용됩니다.",
        "Entries resume when the benchmark climbs back above its long SMA (BULL regime).",
    ),
    "change.REGIME_UNKNOWN": (
        "국면 판단에 필요한 과거 데이터가 쌓이면 계획이 생깁니다.",
        "A plan appears once enough history exists to judge the regime.",
    ),
    "change.RSI_NOT_LOW": (
        "유니버스 종목의 RSI가 매수 기준({buy}) 아래로 내려오면 매수 신호가 납니다.",
        "A universe ticker's RSI dropping below the buy level ({buy}) gives an entry.",
    ),
    "change.NO_SLOT": (
        "보유 종목이 매도되어 자리가 나면 신규 매수가 가능합니다.",
        "A sale freeing a position slot allows new entries.",
    ),
    "change.DATA_STALE": (
        "최신 시장 데이터가 들어오면 다시 계획됩니다 (사이클 재실행).",
        "Fresh market data re-plans it (run the cycle again).",
    ),
    "change.EMERGENCY_STOP": (
        "긴급 정지를 끄면 다시 계획됩니다.",
        "Turning the emergency stop off re-plans it.",
    ),
    "plan.buys_held_back": (
        "가드레일 위반으로 매수를 보류했습니다. 매도는 그대로 실행됩니다: {reasons}.",
        "A guardrail held the buys back; the sells still go: {reasons}.",
    ),
    "change.GUARDRAIL": (
        "가드레일 한도(설정 페이지)를 조정하거나 포트폴리오를 바꾸면 달라집니다.",
        "Adjusting the guardrail limits (Strategy page) or the portfolio changes it.",
    ),
    "change.HOLIDAY": (
        "다음 거래일에 사이클이 계획을 만듭니다.",
        "The next trading session's cycle makes a plan.",
    ),
    "change.default": (
        "입력(포트폴리오, 설정, 시장 데이터)이 바뀌면 OCI가 다시 계획합니다.",
        "OCI re-plans when its inputs (portfolio, settings, market data) change.",
    ),
    # portfolio
    "pf.title": ("포트폴리오", "Portfolio"),
    "pf.cash": ("현금 (원)", "Cash (KRW)"),
    "pf.holdings": ("보유 종목", "Holdings"),
    "pf.save": ("로컬 작업본에 저장", "Save to the local workspace"),
    "pf.saved": ("작업본에 저장됨: 변경 {n}건 (아직 OCI에 전송 안 됨)",
                 "Saved to the workspace: {n} change(s) (not yet on OCI)"),
    "pf.discard": ("로컬 수정 버리기", "Discard local edits"),
    "pf.discarded": ("로컬 수정을 버렸습니다.", "Local edits discarded."),
    "pf.invalid_row": ("보유 종목 {row}행: {message}", "Holdings row {row}: {message}"),
    "diff.title": ("PULL한 리비전 {rev} 대비 변경", "Changes against pulled revision {rev}"),
    "diff.none": ("변경 없음 (작업본 = PULL한 내용)", "No changes (workspace = pulled)"),
    "push.title": ("PUSH (OCI로 보내기)", "PUSH (send to OCI)"),
    "push.reason": ("사유 (필수, 감사 기록에 남음)", "Reason (required, kept in the audit trail)"),
    "push.button": ("PUSH", "PUSH"),
    "push.need_reason": ("PUSH하려면 사유를 입력하세요.", "Enter a reason to PUSH."),
    "push.nothing": ("보낼 변경이 없습니다.", "Nothing to push."),
    "push.done": (
        "OCI 응답: 새 리비전 {revision} (변경: {changed}){visible}",
        "OCI answered: new revision {revision} (changed: {changed}){visible}",
    ),
    "push.visible": (" — 스냅샷에서 확인됨", " — visible in the snapshot"),
    "push.replan": (" · OCI가 재계획 중", " · OCI is re-planning"),
    "conflict.title": ("충돌 해결 (기준 / 내 값 / OCI 값)",
                       "Resolve conflicts (base / mine / OCI's)"),
    "conflict.pick": ("선택", "Keep"),
    "conflict.mine": ("내 값", "mine"),
    "conflict.theirs": ("OCI 값", "OCI's"),
    "conflict.apply": ("선택 적용", "Apply choices"),
    "conflict.resolved": ("충돌 해결됨: 남은 충돌 {n}건", "Resolved: {n} conflict(s) left"),
    # strategy
    "st.title": ("전략 및 설정", "Strategy & settings"),
    "st.params": ("전략 파라미터", "Strategy parameters"),
    "st.universe": ("유니버스", "Universe"),
    "st.benchmark": ("벤치마크", "Benchmark"),
    "st.guardrails": ("가드레일", "Guardrails"),
    "st.mode": ("실행 모드", "Execution mode"),
    "st.notify": ("알림 URL (한 줄에 하나)", "Notification URLs (one per line)"),
    "st.save": ("로컬 작업본에 저장", "Save to the local workspace"),
    "st.calendar": ("임시 휴장·개장 지연 (exchange_calendars보다 먼저)",
                    "Ad-hoc closures and late opens (ahead of exchange_calendars)"),
    "st.closed_dates": ("휴장일 (한 줄에 하나, YYYY-MM-DD)",
                        "Closed dates (one per line, YYYY-MM-DD)"),
    "st.late_opens": ("개장 지연 (한 줄에 하나, YYYY-MM-DD HH:MM, 예: 수능일 10:00)",
                      "Late opens (one per line, YYYY-MM-DD HH:MM, e.g. the CSAT day 10:00)"),
    "st.whatif": ("What-if 백테스트 (수정안 vs 현재)", "What-if backtest (edited vs current)"),
    "st.whatif_run": ("What-if 실행", "Run what-if"),
    "st.whatif_window": ("기간", "Window"),
    "st.whatif_same": (
        "수정안이 현재 설정과 같습니다: 파라미터를 바꾸고 저장한 뒤 실행하세요.",
        "The edited parameters equal the current ones: change and save some first.",
    ),
    "st.whatif_done": ("같은 기간 {start} → {end}, {sessions}거래일",
                       "Same window {start} → {end}, {sessions} sessions"),
    "st.whatif_stale": (
        "What-if 결과가 지금 작업본과 다릅니다: 다시 실행하세요.",
        "The what-if result is for other parameters than the workspace: run it again.",
    ),
    # tickets
    "tk.title": ("티켓", "Tickets"),
    "tk.draft": ("현재 계획으로 초안 작성", "Draft from the current plan"),
    "tk.redraft": ("다시 초안 작성", "Re-draft"),
    "tk.discard": ("초안 삭제", "Discard the draft"),
    "tk.preview": ("미리보기: {ticket_id} ({mode}, 기준일 {asof})",
                   "Preview: {ticket_id} ({mode}, as of {asof})"),
    "tk.copy": ("HTS/MTS 복사용 텍스트", "Copy-paste text for HTS/MTS"),
    "tk.confirm": ("위 주문을 확인했고 OCI로 보내는 데 동의합니다.",
                   "I checked these orders and want them sent to OCI."),
    "tk.submit": ("OCI로 제출", "Submit to OCI"),
    "tk.need_confirm": ("제출하려면 먼저 확인란을 체크하세요.", "Tick the confirmation first."),
    "tk.submitted": ("OCI 응답: 티켓 {ticket_id} → {state}",
                     "OCI answered: ticket {ticket_id} → {state}"),
    "tk.stale": (
        "⚠️ 이 초안은 현재 계획({current})이 아닌 {plan_id}로 작성되었습니다. 다시 작성하세요.",
        "⚠️ This draft was made from plan {plan_id}, not the current plan {current}. Re-draft it.",
    ),
    "tk.no_plan_ready": (
        "초안을 작성할 READY 계획이 없습니다 (계획: {decision}).",
        "No READY plan to draft from (plan: {decision}).",
    ),
    "tk.list": ("티켓 목록", "Ticket list"),
    "tk.none": ("아직 티켓이 없습니다.", "No tickets yet."),
    "tk.timeline": ("상태 기록", "State timeline"),
    "tk.fills": ("체결", "Fills"),
    "tk.pick": ("티켓 선택", "Pick a ticket"),
    "tk.record": ("체결 기록 (MANUAL 모드)", "Record fills (MANUAL mode)"),
    "tk.final": ("마지막 체결 (더 이상 없음)", "Final (no more fills will follow)"),
    "tk.record_btn": ("체결 기록", "Record fills"),
    "tk.recorded": ("OCI 응답: {ticket_id} → {state}", "OCI answered: {ticket_id} → {state}"),
    "tk.no_fills": ("수량이 0보다 큰 행을 하나 이상 입력하세요.",
                    "Enter at least one row with a quantity above 0."),
    "tk.refresh": ("새로 고침", "Refresh"),
    "tk.draft_made": ("초안 작성됨: {ticket_id}", "Drafted: {ticket_id}"),
    # backtest
    "bt.title": ("백테스트 및 스윕", "Backtest & sweep"),
    "bt.start": ("시작일", "Start"),
    "bt.end": ("종료일", "End"),
    "bt.run": ("백테스트 실행", "Run backtest"),
    "bt.running": ("백테스트 실행 중…", "Running the backtest…"),
    "bt.metrics": ("지표", "Metrics"),
    "bt.trades": ("거래", "Trades"),
    "bt.per_year": ("연도별", "Per year"),
    "bt.csv": ("거래 CSV 내려받기", "Download trades CSV"),
    "bt.equity_csv": ("자산곡선 CSV 내려받기", "Download equity CSV"),
    "bt.html": ("HTML 보고서 내려받기", "Download the HTML report"),
    "bt.sweep": ("파라미터 스윕", "Parameter sweep"),
    "bt.sweep_x": ("파라미터 X", "Parameter X"),
    "bt.sweep_y": ("파라미터 Y", "Parameter Y"),
    "bt.sweep_values": ("값 (쉼표로 구분)", "Values (comma separated)"),
    "bt.objective": ("목표 지표", "Objective"),
    "bt.sweep_run": ("스윕 실행", "Run sweep"),
    "bt.sweep_running": ("스윕 실행 중…", "Running the sweep…"),
    "bt.sweep_csv": ("스윕 CSV 내려받기", "Download sweep CSV"),
    "bt.wf": ("워크포워드 요약", "Walk-forward summary"),
    "bt.wf_run": ("워크포워드 실행", "Run walk-forward"),
    "bt.wf_running": ("워크포워드 실행 중…", "Running the walk-forward…"),
    "bt.wf_train": ("학습 기간 (개월)", "Train months"),
    "bt.wf_test": ("검증 기간 (개월)", "Test months"),
    "bt.wf_step": ("이동 간격 (개월)", "Step months"),
    "bt.wf_gap": ("IS − OOS 차이", "Gap (IS − OOS)"),
    "bt.wf_windows": ("비교된 구간", "Windows compared"),
    "bt.wf_grid": ("그리드: 스윕의 {name} = {values}", "Grid: the sweep's {name} = {values}"),
    "bt.wf_unavailable": (
        "PC 백엔드에 워크포워드 경로가 없습니다: `krx walkforward`를 사용하세요.",
        "The PC backend has no walk-forward route: use `krx walkforward`.",
    ),
    "bt.bad_values": ("{name}: 숫자 목록이 아닙니다 ({value})",
                      "{name}: not a list of numbers ({value})"),
    "bt.bad_window": ("시작일이 종료일보다 앞서야 합니다.", "Start must be before end."),
    "bt.progress": ("{step}/{total}: {what}", "{step}/{total}: {what}"),
    # audit
    "au.title": ("감사 기록", "Audit trail"),
    "au.action": ("종류", "Action"),
    "au.target": ("대상 포함 문자열", "Target contains"),
    "au.since": ("이후 날짜", "Since"),
    "au.limit": ("최대 건수", "Limit"),
    "au.path": ("필드 이력", "Field history"),
    "au.all": ("전체", "all"),
    "au.none": ("조건에 맞는 기록이 없습니다.", "No entries match."),
    "au.changes": ("필드별 변경 (이전 → 이후)", "Field-level changes (before → after)"),
    "au.history": ("{path}의 전체 이력", "Whole history of {path}"),
    # misc
    "misc.loading": ("불러오는 중…", "Loading…"),
    "misc.working": ("PC 백엔드와 OCI에 요청하는 중…", "Asking the PC backend and OCI…"),
    "st.whatif_running": ("What-if 백테스트 실행 중 (현재 설정, 수정안)…",
                          "Running the what-if backtests (current, edited)…"),
    "severity.CRITICAL": ("심각", "CRITICAL"),
    "severity.WARN": ("주의", "WARN"),
    "severity.INFO": ("참고", "INFO"),
    # risks, worded from their code + params (krx_common.words.risk_text); `.plain` when the
    # risk carries no params (the detail then shows as code)
    "risk.SYNTHETIC_DATA": ("시장 데이터가 합성(데모) 데이터입니다: 실제 가격이 아닙니다.",
                            "Market data is SYNTHETIC (demo provider): not real prices."),
    "risk.REPLAY": ("재현(replay) 데이터 루트입니다: 실제 상태가 아닙니다. 표시: `{label}`",
                    "REPLAY data root: not live state. Label: `{label}`"),
    "risk.EMERGENCY_STOP": ("긴급 정지 켜짐 ({at}부터, {by}): {reason}",
                            "Emergency stop on since {at} by {by}: {reason}"),
    "risk.LIVE_MODE_REFUSED": (
        "실행 모드 LIVE에는 연결된 증권사가 없어 티켓이 거부됩니다.",
        "Execution mode LIVE has no broker: tickets will be refused.",
    ),
    "risk.DATA_MISSING": ("{ticker}: 시장 데이터({provider})에 봉이 없습니다.",
                          "{ticker}: {provider} returned no bars."),
    "risk.DATA_MISSING.plain": ("시장 데이터를 불러오지 못했습니다.",
                                "The market data could not be loaded."),
    "risk.DATA_INVALID.plain": ("시장 데이터가 검증을 통과하지 못했습니다.",
                                "The market data failed validation."),
    "risk.TRADING_HALT": ("{ticker}: {day} 거래정지", "{ticker}: trading halt on {day}"),
    "risk.DATA_STALE": ("데이터가 오래되었습니다: {expected} 봉이 필요한데 마지막 봉은 {last}.",
                        "Stale data: expected bars for {expected}, got {last}."),
    "risk.DATA_LAGGING": (
        "봉이 {expected}가 아니라 {decide_on}에서 끝납니다 (허용 {max_age}거래일 이내): "
        "{decide_on} 종가로 결정합니다.",
        "Bars end at {decide_on}, not {expected} (within {max_age} sessions allowed): the "
        "plan decides on {decide_on}'s close.",
    ),
    "risk.REGIME_BEAR": ("벤치마크 국면이 {days}거래일째 약세입니다.",
                         "Benchmark regime BEAR for {days} sessions."),
    "risk.CHOP": ("ADX {adx}가 기준 미만(횡보)이라 신규 매수가 없습니다.",
                  "ADX {adx} below the threshold (chop): no new entries."),
    "risk.CASH_LIMIT.plain": ("보유 하한 위 현금이 부족해 매수 수량이 줄거나 체결되지 않을 수 "
                              "있습니다.",
                              "The cash above the reserve may cut or skip a buy."),
    "risk.HOLIDAY": ("{day}은(는) 거래일이 아닙니다: 오늘은 계획이 없습니다.",
                     "{day} is not a trading session: no plan today."),
    "risk.CLOCK_SKEW": (
        "시스템 시계({now})로는 마지막 거래일이 {expected}인데, 마지막 사이클의 {last}보다 "
        "이릅니다: 거부했습니다. 시스템 시계(timedatectl, NTP)를 확인하세요.",
        "The clock ({now}) makes {expected} the last session, older than the last cycle's "
        "{last}: refused. Check the system clock (timedatectl, NTP).",
    ),
    "risk.CYCLE_FAILED.plain": ("일일 사이클이 실패했습니다.", "The daily cycle failed."),
    "risk.RESERVE_INCIDENT.plain": ("체결 후 현금이 보유 하한 아래로 내려갔습니다.",
                                    "Cash fell below the reserve after the fills."),
    "risk.MISSED_MORNING.plain": ("09:30 KST까지 오늘의 사이클이 실행되지 않았습니다.",
                                  "No cycle ran by 09:30 KST today."),
    "risk.unknown": ("알 수 없는 위험 코드입니다.", "Unknown risk code."),
    "risk.detail": ("세부: `{detail}`", "Detail: `{detail}`"),
    # guardrail checks, worded from code + value + limit (krx_common.words.guard_text)
    "guard_check.GUARDRAIL_MAX_ORDERS": ("주문 {value}건 (한도 {limit}건)",
                                         "{value} orders (limit {limit})"),
    "guard_check.GUARDRAIL_MAX_SINGLE_ORDER": (
        "가장 큰 매수: 평가 총액의 {value} (한도 {limit})",
        "Largest buy: {value} of equity (limit {limit})",
    ),
    "guard_check.GUARDRAIL_MAX_BUY_TURNOVER": (
        "전체 매수: 평가 총액의 {value} (한도 {limit})",
        "All buys: {value} of equity (limit {limit})",
    ),
    "guard_check.GUARDRAIL_ALLOW_LIST": ("유니버스 밖 매수 {value}건 (한도 {limit}건)",
                                         "{value} buys outside the universe (limit {limit})"),
    "guard_check.GUARDRAIL_MIN_CASH": ("주문 후 예상 현금 {value} (보유 하한 {limit})",
                                       "Est. cash after the orders {value} (reserve {limit})"),
    "guard_check.unknown": ("값 {value} (한도 {limit})", "value {value} (limit {limit})"),
    # plan reasons beyond the signal reason codes (krx_common.words.plan_reason_text)
    "reason.CASH_LIMIT": ("현금 한도: {ticker} 매수가 줄거나 체결되지 않을 수 있음",
                          "cash limit: the buy of {ticker} may be cut or skipped"),
    "reason.GUARDRAIL": ("가드레일 위반으로 매수 보류, 매도는 실행",
                         "a guardrail held the buys back; the sells still go"),
    "reason.DATA_STALE": ("시장 데이터가 오래되어 계획 차단", "market data stale: plan blocked"),
    "reason.DATA_MISSING": ("시장 데이터가 없어 계획 차단", "market data missing: plan blocked"),
    "reason.DATA_INVALID": ("시장 데이터 검증 실패로 계획 차단",
                            "market data invalid: plan blocked"),
    "reason.EMERGENCY_STOP": ("긴급 정지로 계획 차단", "emergency stop: plan blocked"),
    "reason.REPLAY": ("재현(replay) 데이터 루트의 계획", "planned on a replay data root"),
    "reason.unknown": ("기타 사유", "other reason"),
    # the ticket timeline: what each state means (OCI's own message is shown in English only)
    "tkstate.DRAFT": ("초안", "draft"),
    "tkstate.SUBMITTED": ("OCI가 티켓을 받았습니다", "OCI accepted the ticket"),
    "tkstate.PROCESSING": ("OCI가 처리 중입니다", "OCI is processing it"),
    "tkstate.AWAITING_NEXT_OPEN": ("다음 거래일 시가를 기다리는 중 (모의 체결)",
                                   "waiting for the next session's open (paper fill)"),
    "tkstate.DRY_RUN_FILLED": ("모의 체결 완료: 포트폴리오에 반영됨",
                               "paper-filled: the portfolio is updated"),
    "tkstate.AWAITING_MANUAL_EXECUTION": ("HTS/MTS에서 주문하고 체결을 기록하세요",
                                          "place it in HTS/MTS, then record the fills"),
    "tkstate.PARTIALLY_FILLED": ("일부 체결됨", "partially filled"),
    "tkstate.FILLS_RECORDED": ("체결 기록 완료", "fills recorded"),
    "tkstate.REJECTED": ("OCI가 거부했습니다", "OCI rejected it"),
    "tkstate.FAILED": ("처리 실패: 다시 초안을 작성하세요", "processing failed: re-draft it"),
    # validation errors shown to the operator, by pydantic error type (the field name is kept)
    "invalid.missing": ("값이 필요합니다", "a value is required"),
    "invalid.greater_than": ("{limit}보다 커야 합니다", "must be greater than {limit}"),
    "invalid.greater_than_equal": ("{limit} 이상이어야 합니다", "must be at least {limit}"),
    "invalid.less_than": ("{limit}보다 작아야 합니다", "must be less than {limit}"),
    "invalid.less_than_equal": ("{limit} 이하여야 합니다", "must be at most {limit}"),
    "invalid.int_parsing": ("정수가 아닙니다", "not a whole number"),
    "invalid.int_from_float": ("정수가 아닙니다", "not a whole number"),
    "invalid.float_parsing": ("숫자가 아닙니다", "not a number"),
    "invalid.date_from_datetime_parsing": ("날짜(YYYY-MM-DD)가 아닙니다",
                                           "not a date (YYYY-MM-DD)"),
    "invalid.date_parsing": ("날짜(YYYY-MM-DD)가 아닙니다", "not a date (YYYY-MM-DD)"),
    "invalid.string_pattern_mismatch": ("형식이 맞지 않습니다", "does not match the format"),
    "invalid.enum": ("허용된 값이 아닙니다: {expected}", "not one of: {expected}"),
    "invalid.literal_error": ("허용된 값이 아닙니다: {expected}", "not one of: {expected}"),
    "invalid.rsi_order": ("RSI 매수 기준은 매도 기준보다 낮아야 합니다",
                          "the RSI buy threshold must be below the sell threshold"),
    "invalid.duplicate": ("중복된 값이 있습니다", "holds a duplicate"),
    "invalid.other": ("올바르지 않은 값입니다", "invalid value"),
    # backtest metrics (`metric.<key>`; the key is shown small beside the words)
    "metric.total_return": ("총수익률", "Total return"),
    "metric.cagr": ("연평균 수익률 (CAGR)", "CAGR"),
    "metric.mdd": ("최대 낙폭 (MDD)", "Max drawdown"),
    "metric.sharpe": ("샤프 지수", "Sharpe ratio"),
    "metric.sortino": ("소르티노 지수", "Sortino ratio"),
    "metric.calmar": ("칼마 지수", "Calmar ratio"),
    "metric.volatility": ("변동성 (연율)", "Volatility (annualised)"),
    "metric.win_rate": ("승률", "Win rate"),
    "metric.profit_factor": ("손익비 (profit factor)", "Profit factor"),
    "metric.n_trades": ("거래 수", "Trades"),
    "metric.exposure": ("투자 비중 (기간 대비)", "Exposure"),
    "metric.avg_hold_days": ("평균 보유 기간 (일)", "Average hold (days)"),
    "metric.turnover": ("회전율", "Turnover"),
    "metric.final_equity": ("최종 자산", "Final equity"),
    "metric.benchmark_return": ("벤치마크 수익률", "Benchmark return"),
    "metric.fees": ("총 비용", "Total fees"),
    "metric.avg_holding_days": ("평균 보유 기간 (거래일)", "Average holding (sessions)"),
    "metric.total_costs": ("총 비용", "Total costs"),
    "metric.total_commission": ("총 수수료", "Total commission"),
    "metric.total_tax": ("총 세금", "Total tax"),
    "metric.total_slippage": ("총 슬리피지", "Total slippage"),
    "metric.n_fills": ("체결 수", "Fills"),
    "metric.return": ("수익률", "Return"),
    "metric.year": ("연도", "Year"),
    "col.exit_date": ("매도일", "Exit date"),
    "col.entry_price": ("매수가", "Entry price"),
    "col.exit_price": ("매도가", "Exit price"),
    "col.pnl": ("손익 (원)", "P&L (KRW)"),
    "col.holding_days": ("보유 거래일", "Sessions held"),
    "col.entry_reason": ("매수 사유", "Entry reason"),
    "col.exit_reason": ("매도 사유", "Exit reason"),
    "col.market_value": ("평가액", "Market value"),
    "col.unrealized_pnl": ("평가손익", "Unrealised P&L"),
    "col.date": ("날짜", "Date"),
    "col.costs": ("비용", "Costs"),
    # chart legends
    "chart.strategy": ("전략", "Strategy"),
    "chart.regime_bull": ("강세 국면", "Regime BULL"),
    "chart.regime_bear": ("약세 국면", "Regime BEAR"),
    "chart.regime_unknown": ("국면 미정", "Regime UNKNOWN"),
    "chart.chop_strip": ("횡보 (위쪽 띠)", "CHOP (top strip)"),
    "chart.axis_equity": ("자산 (원)", "Equity (KRW)"),
    "chart.axis_price": ("가격 (원)", "Price (KRW)"),
    "chart.title_equity": ("자산 곡선과 벤치마크", "Equity vs benchmark"),
    "chart.title_drawdown": ("낙폭", "Drawdown"),
    "chart.title_trades": ("거래", "Trades"),
    "chart.no_fills": ("체결 없음", "no fills"),
    "chart.close": ("종가", "close"),
    "chart.benchmark": ("벤치마크 (매수 후 보유)", "Benchmark (buy and hold)"),
    # Streamlit's own widget words
    "widget.choose": ("선택하세요", "Choose an option"),
    "widget.select": ("선택…", "Select…"),
    "chop_action.block_entries": ("신규 매수만 막기", "block new entries"),
    "chop_action.exit_all": ("전부 매도", "sell everything"),
    # the `krx daily` morning text (oci_backend.render); English is what the CLI printed
    "am.head": ("KRX Alertor 일일 사이클 - 실행 {at}", "KRX Alertor daily cycle - run {at}"),
    "am.status": ("상태 {status} . 단계 {stage} . 모드 {mode} . 기준일 {asof}",
                  "status {status} . stage {stage} . mode {mode} . as-of {asof}"),
    "am.synthetic": ("*** 합성(데모) 시장 데이터 - 실제 가격이 아닙니다 ***",
                     "*** SYNTHETIC MARKET DATA (demo) - not real prices ***"),
    "am.regime": ("국면 {regime}", "regime {regime}"),
    "am.regime_line": (
        " (후보 {candidate}) . {bench} 종가 {close} . {long} {long_v} . {short} {short_v} . "
        "{chop}",
        " (candidate {candidate}) . {bench} close {close} . {long} {long_v} . {short} "
        "{short_v} . {chop}",
    ),
    "am.adx_unknown": ("ADX {adx}: 아직 계산 불가, 횡보 여부 모름 (신규 매수 없음)",
                       "ADX {adx}: not yet defined, chop unknown (no entries)"),
    "am.adx_chop": ("ADX {adx} < {thr} (횡보)", "ADX {adx} < {thr} (chop)"),
    "am.adx_trend": ("ADX {adx} >= {thr} (추세)", "ADX {adx} >= {thr} (trending)"),
    "am.sma_long": ("장기 SMA", "SMA long"),
    "am.sma_short": ("단기 SMA", "SMA short"),
    "am.unknown": ("UNKNOWN: {long} 또는 {short}가 아직 계산되지 않음 (준비 기간); 신규 매수 없음",
                   "UNKNOWN: {long} or {short} not yet defined (warm-up); no entries"),
    "am.cmp": ("종가 {close} {op} {long} {sma} ({gap})", "close {close} {op} {long} {sma} ({gap})"),
    "am.cross": ("{short} {short_v} {op} {long} {long_v}: 골든크로스 {state}",
                 "{short} {short_v} {op} {long} {long_v}: golden cross {state}"),
    "am.on": ("켜짐", "on"),
    "am.off": ("꺼짐", "off"),
    "am.golden": ("골든크로스", "golden cross"),
    "am.or": ("또는", "or"),
    "am.bull": ("BULL: {cmp}; 골든크로스 없이 종가 < {long}인 첫 거래일에 BEAR로 바뀜",
                "BULL: {cmp}; turns BEAR the first session close < {long} without a golden "
                "cross"),
    "am.bull_golden": (
        "골든크로스 예외로 BULL 유지: {cmp}, 하지만 {cross}; 종가가 아래에 있는 동안 {short} <= "
        "{long}가 되면 바로 BEAR",
        "BULL held by the golden-cross override: {cmp}, but {cross}; turns BEAR as soon as "
        "{short} <= {long} while close stays below",
    ),
    "am.bear_days": ("BEAR {n}거래일째", "BEAR for {n} session(s)"),
    "am.bear_hold": (
        "{days}: 후보 BULL ({why})이지만 골든크로스 예외 없음; BEAR는 진입 후 {hold}거래일 "
        "유지: 후보가 BULL로 남으면 {more}거래일 뒤 BULL ({cmp})",
        "{days}: candidate BULL ({why}) but no golden-cross override; BEAR holds {hold} "
        "sessions after entering it: BULL after {more} more session(s) if the candidate stays "
        "BULL ({cmp})",
    ),
    "am.bear_wait": ("{days}: 후보 BULL ({why}); 최소 BEAR 유지 기간을 기다리는 중 ({cmp})",
                     "{days}: candidate BULL ({why}); waiting out the minimum BEAR hold ({cmp})"),
    "am.bear": ("{days}: {cmp}; {cross}; BULL 조건: {need}",
                "{days}: {cmp}; {cross}; BULL needs {need}"),
    "am.why.RSI_NOT_LOW": ("RSI {rsi} >= 매수 기준 {buy}: 눌림 아님",
                           "RSI {rsi} >= buy threshold {buy}: no dip"),
    "am.why.rank": (", 순위 {rank}", ", rank {rank}"),
    "am.why.RSI_DIP_ENTRY": ("RSI {rsi} < 매수 기준 {buy}: 눌림 매수 (점수 {score}{rank})",
                             "RSI {rsi} < buy threshold {buy}: dip entry (score {score}{rank})"),
    "am.why.needs": (" (봉 {n}개 필요)", " (needs {n} bars)"),
    "am.why.RSI_UNKNOWN": ("RSI 아직 계산 불가{needs}: 매수 없음, 이익 실현 없음",
                           "RSI not yet defined{needs}: no entry, no take profit"),
    "am.why.CHOP_BLOCK_unknown": (
        "ADX 아직 계산 불가: 횡보 여부 모름, 신규 매수 차단 (RSI {rsi})",
        "ADX not yet defined: chop unknown, entries blocked (RSI {rsi})",
    ),
    "am.why.CHOP_BLOCK": ("ADX {adx} < {thr} (횡보): 신규 매수 차단 (RSI {rsi})",
                          "ADX {adx} < {thr} (chop): entries blocked (RSI {rsi})"),
    "am.why.CHOP_EXIT": ("ADX {adx} < {thr} (횡보), chop_action exit_all: 전부 매도",
                         "ADX {adx} < {thr} (chop) with chop_action exit_all: sell all"),
    "am.why.BEAR_BLOCK": ("국면 BEAR ({days}거래일): 신규 매수 차단 (RSI {rsi})",
                          "regime BEAR ({days} session(s)): entries blocked (RSI {rsi})"),
    "am.why.BEAR_EXIT": ("국면 BEAR: 종가 {close} < SMA {sma}: 전부 매도",
                         "regime BEAR: close {close} < SMA {sma}: sell all"),
    "am.why.REGIME_UNKNOWN": ("국면 UNKNOWN (SMA 아직 계산 불가): 신규 매수 차단",
                              "regime UNKNOWN (SMAs not yet defined): entries blocked"),
    "am.why.slots": ("{max}개 중 {held}개 보유", "{held} of {max} positions held"),
    "am.why.every_slot": ("모든 자리 사용 중", "every slot taken"),
    "am.why.NO_SLOT": ("RSI {rsi} < 매수 기준 {buy}, 하지만 빈 자리가 없음 ({slots})",
                       "RSI {rsi} < buy threshold {buy}, but no free slot ({slots})"),
    "am.why.QTY_ZERO": (
        "RSI {rsi} < 매수 기준 {buy}, 하지만 {close}의 1주가 종목당 예산(자산 / 최대 보유 "
        "종목 수)을 넘음: 수량 0",
        "RSI {rsi} < buy threshold {buy}, but 1 share at {close} exceeds the slot budget "
        "(equity / max positions): qty 0",
    ),
    "am.why.STOP_LOSS": ("종가 {close} <= 손절가 {stop} (매수가 {entry} x (1 - {pct} %)): 손절",
                         "close {close} <= stop {stop} (entry {entry} x (1 - {pct} %)): stop "
                         "loss"),
    "am.why.RSI_TAKE_PROFIT": ("RSI {rsi} > 매도 기준 {sell}: 이익 실현",
                               "RSI {rsi} > sell threshold {sell}: take profit"),
    "am.why.HOLDING": ("보유: RSI {rsi} <= 매도 {sell}, 종가 {close} > 손절가 {stop}",
                       "held: RSI {rsi} <= sell {sell}, close {close} > stop {stop}"),
    "am.held_none": ("보유 종목: 없음", "held positions: none"),
    "am.held": ("보유 종목:", "held positions:"),
    "am.col.code": ("코드", "code"),
    "am.col.name": ("종목명", "name"),
    "am.col.qty": ("수량", "qty"),
    "am.col.entry_date": ("매수일", "entry date"),
    "am.col.entry": ("매수가", "entry"),
    "am.col.close": ("종가", "close"),
    "am.col.pnl_krw": ("손익 원", "P&L KRW"),
    "am.col.pnl_pct": ("손익 %", "P&L %"),
    "am.col.stop": ("손절가", "stop"),
    "am.col.to_stop": ("손절까지", "to stop"),
    "am.col.ticker": ("종목", "ticker"),
    "am.col.held": ("보유", "held"),
    "am.col.action": ("액션", "action"),
    "am.col.reason": ("사유", "reason"),
    "am.unrealised": (
        "  평가손익 {total}원 (종가 대 매수가; '손절까지' = 종가가 손절가보다 얼마나 위에 있는지)",
        "  unrealised P&L {total} KRW (close vs entry; 'to stop' = how far the close sits "
        "above the stop)",
    ),
    "am.qty": (" -> 수량 {qty}", " -> qty {qty}"),
    "am.block.adx_unknown": (" (ADX 아직 계산 불가: 횡보 여부 모름)",
                             " (ADX not yet defined: chop unknown)"),
    "am.block.bear": (" (국면 BEAR {n}거래일째)", " (regime BEAR for {n} session(s))"),
    "am.block.unknown": (" (SMA 아직 계산 불가)", " (SMAs not yet defined)"),
    "am.plan": ("계획 {plan_id}: {decision}", "plan {plan_id}: {decision}"),
    "am.plan_cash": (" . 평가 총액 {equity} . 현금 {cash} . 주문 후 예상 현금 {after}",
                     " . equity {equity} . cash {cash} . est. cash after {after}"),
    "am.orders_head": ("{day}에 HTS에 입력할 주문 ({asof} 다음 거래일); 매도 먼저:",
                       "orders to type into the HTS on {day} (the session after {asof}); "
                       "sells first:"),
    # the HTS line (strategy.ticketing.hts_line) and the ticket's copy text
    "hts.side.BUY": ("매수", "BUY"),
    "hts.side.SELL": ("매도", "SELL"),
    "hts.line": (
        "[{side}] {name} ({ticker}) {qty}주 지정가 {limit}원 = {amount}원 "
        "(수수료·세금 약 {fees}원)",
        "[{side}] {name} ({ticker}) {qty} sh limit ₩{limit} = ₩{amount} (fees ~₩{fees})",
    ),
    "ticket.copy_head": ("KRX Alertor 주문 티켓 {ticket_id}",
                         "KRX Alertor order ticket {ticket_id}"),
    "ticket.copy_plan": ("계획 {plan_id} · 기준일 {asof} · 모드 {mode}",
                         "Plan {plan_id} · as of {asof} · mode {mode}"),
    "ticket.cash_cap": (
        "매수 현금 한도 {cap} (수수료 포함, 순위대로 적용: 넘으면 수량을 줄입니다)",
        "Cash cap of the buys {cap} (fees included, in rank order: a buy over it is cut)",
    ),
    "ticket.copy_totals": ("매도 {sell} · 매수 {buy} · 예상 수수료·세금 {fees}",
                           "Sells {sell} · buys {buy} · est. fees {fees}"),
    "unit.won": ("{value}원", "₩{value}"),
    "unit.shares": ("{value}주", "{value} sh"),
    "misc.refresh": ("새로 고침", "Refresh"),
    "ov.stage_live": ("OCI 현재 단계 ({at} 확인)", "OCI's current stage (checked {at})"),
    "ov.stage_pulled": ("OCI에 연결되지 않아 PULL 시점({at}) 기준 단계입니다",
                        "OCI not reachable: stage as of the PULL at {at}"),
    "ov.stage_newer": ("OCI에 더 새로운 사이클 결과가 있습니다 ({at}): PULL로 나머지도 갱신하세요",
                       "OCI has a newer cycle ({at}): PULL to refresh the rest of the page"),
    # settings fields (`param.<StrategyParams field>`, `guard.<Guardrails field>`,
    # `notify.<NotificationPrefs flag>`); the page shows the field name small beside them
    "param.regime_ma_long": ("국면 판단 장기 이동평균 (거래일)",
                             "Regime long moving average (sessions)"),
    "param.ma_short_period": ("단기 이동평균 (거래일)", "Short moving average (sessions)"),
    "param.golden_cross_override": ("골든크로스 시 강세 전환",
                                    "Golden cross turns the regime bull"),
    "param.adx_period": ("ADX 기간 (거래일)", "ADX period (sessions)"),
    "param.adx_threshold": ("ADX 횡보 기준 (미만이면 횡보)", "ADX chop threshold (below = chop)"),
    "param.chop_action": ("횡보장 대응", "Action in chop"),
    "param.min_regime_hold_days": ("약세 최소 유지 거래일 (강세 복귀 전)",
                                   "Minimum bear sessions before bull"),
    "param.rsi_period": ("RSI 기간 (거래일)", "RSI period (sessions)"),
    # strict, as strategy.rules compares them (RSI_BUY_BELOW / RSI_SELL_ABOVE)
    "param.rsi_buy_threshold": ("RSI 매수 기준 (미만 매수)", "RSI buy threshold (buy below)"),
    "param.rsi_sell_threshold": ("RSI 매도 기준 (초과 매도)", "RSI sell threshold (sell above)"),
    "param.stop_loss_pct": ("손절 비율 (0.12 = 12%)", "Stop loss (0.12 = 12%)"),
    "param.max_positions": ("최대 보유 종목 수", "Maximum positions"),
    "param.min_cash_pct": ("현금 유보 비율 (자산 대비)", "Cash reserve (share of equity)"),
    "param.commission": ("수수료율 (편도)", "Commission rate (per side)"),
    "param.slippage": ("슬리피지율", "Slippage rate"),
    "param.initial_capital": ("백테스트 초기 자본 (원)", "Backtest initial capital (KRW)"),
    "guard.max_orders": ("계획당 최대 주문 수", "Maximum orders per plan"),
    "guard.max_single_order_pct": ("1건 주문 최대 비중 (자산 대비)",
                                   "Maximum single order (share of equity)"),
    "guard.max_buy_turnover_pct": ("매수 회전율 한도 (자산 대비)",
                                   "Buy turnover limit (share of equity)"),
    "guard.max_data_age_sessions": ("허용 데이터 지연 (거래일)", "Allowed data age (sessions)"),
    "notify.daily_summary": ("일일 요약 알림", "Daily summary notifications"),
    "notify.incidents": ("장애 알림", "Incident notifications"),
    # ---- s3-i18n (issue 16 item 5): 422 words, ticket events, risks, Telegram, morning ----
    # a refused field (krx_common.words.invalid_field_text): label, field name, words, type
    "err.invalid_named": ("입력 오류 — {label} `{field}`: {message} [{code}]",
                          "Invalid input — {label} `{field}`: {message} [{code}]"),
    "err.invalid_coded": ("입력 오류 — `{field}`: {message} [{code}]",
                          "Invalid input — `{field}`: {message} [{code}]"),
    "invalid.ma_order": ("단기 이동평균({short})은 장기 이동평균({long})보다 짧아야 합니다",
                         "the short moving average ({short}) must be shorter than the long "
                         "one ({long})"),
    "invalid.value_error": ("올바르지 않은 값입니다", "invalid value"),
    "invalid.extra_forbidden": ("알 수 없는 항목입니다", "unknown field"),
    "invalid.too_short": ("항목이 너무 적습니다 (최소 {min_length}개)",
                          "too few items (at least {min_length})"),
    "invalid.too_long": ("항목이 너무 많습니다 (최대 {max_length}개)",
                         "too many items (at most {max_length})"),
    "invalid.string_too_short": ("너무 짧습니다 (최소 {min_length}자)",
                                 "too short (at least {min_length} characters)"),
    "invalid.string_too_long": ("너무 깁니다 (최대 {max_length}자)",
                                "too long (at most {max_length} characters)"),
    "invalid.string_type": ("문자열이어야 합니다", "must be text"),
    "invalid.int_type": ("정수여야 합니다", "must be a whole number"),
    "invalid.float_type": ("숫자여야 합니다", "must be a number"),
    "invalid.bool_type": ("참/거짓(true/false)이어야 합니다", "must be true or false"),
    "invalid.bool_parsing": ("참/거짓(true/false)이어야 합니다", "must be true or false"),
    "invalid.list_type": ("목록이어야 합니다", "must be a list"),
    "invalid.dict_type": ("객체(키와 값)여야 합니다", "must be an object"),
    "invalid.model_type": ("객체(키와 값)여야 합니다", "must be an object"),
    "invalid.finite_number": ("유한한 숫자여야 합니다", "must be a finite number"),
    "invalid.json_invalid": ("본문이 올바른 JSON이 아닙니다", "the body is not valid JSON"),
    "invalid.date_type": ("날짜(YYYY-MM-DD)가 아닙니다", "not a date (YYYY-MM-DD)"),
    "invalid.datetime_parsing": ("시각(ISO 8601)이 아닙니다", "not a date-time (ISO 8601)"),
    "invalid.timezone_aware": ("시간대가 있는 시각이어야 합니다",
                               "must be a date-time with a time zone"),
    # risks worded from the params given where they are raised (krx_common.words.risk_text)
    "risk.DATA_INVALID": (
        "{ticker}: 시장 데이터({source})가 검증을 통과하지 못했습니다: 오류 {n}건, 첫 오류 "
        "{day} `{issue}`. 데이터를 고친 뒤 사이클을 다시 실행하세요.",
        "{ticker}: the market data ({source}) failed validation: {n} error(s), the first on "
        "{day} `{issue}`. Fix the data, then run the cycle again.",
    ),
    "risk.DATA_MISSING.no_provider": (
        "`--data {spec}`: 설치된 실시간 시장 데이터 제공자가 없습니다. "
        "`pip install -e '.[live-data]'`로 설치하거나 `--data csv:DIR` 또는 `--data demo`를 "
        "쓰세요.",
        "`--data {spec}`: no live market-data provider installed; run "
        "`pip install -e '.[live-data]'` (or use `--data csv:DIR` or `--data demo`).",
    ),
    "risk.CYCLE_FAILED": ("일일 사이클이 실패했습니다: `{error}`. OCI 로그를 확인하세요.",
                          "The daily cycle failed: `{error}`. See the OCI log."),
    "risk.CASH_LIMIT": (
        "{ticker} 매수: 보유 하한 위 현금으로는 {sized}주 중 약 {est}주만 체결될 수 있습니다 "
        "(체결가에서 줄입니다).",
        "Buy of {ticker}: the cash above the reserve may fill only about {est} of {sized} "
        "shares (cut at the fill price).",
    ),
    "risk.GUARDRAIL_MIN_CASH_BREACHED": (
        "티켓 {ticket}: 체결 후 현금 {cash}원이 계획의 보유 하한 {reserve}원보다 적습니다 "
        "(증권사에서 이미 체결되어 기록했습니다).",
        "Ticket {ticket}: cash ₩{cash} after the fills is below the plan's reserve ₩{reserve} "
        "(recorded: the trade happened at the broker).",
    ),
    "risk.GUARDRAIL_MIN_CASH_BREACHED.plain": (
        "체결 후 현금이 보유 하한 아래로 내려갔습니다.",
        "Cash fell below the reserve after the fills.",
    ),
    "risk.BROKER_DRIFT": (
        "증권사 잔고와 장부가 {n}건 다릅니다: `{fields}`. 증권사 대사 화면에서 어느 쪽을 "
        "채택할지 고르세요.",
        "The broker and the book differ in {n} field(s): `{fields}`. Choose which to keep on "
        "the broker reconciliation page.",
    ),
    "risk.BROKER_DRIFT.plain": ("증권사 잔고와 장부가 다릅니다.",
                                "The broker and the book differ."),
    "risk.BROKER_LIVE": (
        "실행 모드 BROKER_LIVE: 제출한 티켓은 실제 주문으로 증권사에 전송됩니다.",
        "Execution mode BROKER_LIVE: submitted tickets are sent to the broker as real orders.",
    ),
    # ticket events, worded from the event's code + params (krx_common.words.ticket_event_text)
    "tkevent.submitted": ("제출됨 (제출자 {actor})", "submitted by {actor}"),
    "tkevent.resubmitted": ("다시 제출됨 (제출자 {actor}, 이전 상태 {before})",
                            "submitted again by {actor} (after {before})"),
    "tkevent.claimed": ("처리기가 티켓을 가져갔습니다", "claimed by the processor"),
    "tkevent.returned": ("복구(recover)가 제출 상태로 되돌렸습니다",
                         "returned to submitted by recover"),
    "tkevent.refused": ("허용되지 않아 거부했습니다", "refused"),
    "tkevent.refused.EmergencyStopped": ("긴급 정지 중이라 거부했습니다",
                                         "refused: the emergency stop is on"),
    "tkevent.refused.StaleTicket": (
        "계획·포트폴리오·설정이 바뀌어 거부했습니다: 현재 계획으로 다시 초안을 작성하세요",
        "refused: the plan, portfolio or settings changed; re-draft from the current plan"),
    "tkevent.refused.ModeRefused": ("이 실행 모드로는 처리할 수 없어 거부했습니다",
                                    "refused: the execution mode cannot run it"),
    "tkevent.refused.TicketRejected": ("티켓 내용이 규칙에 맞지 않아 거부했습니다",
                                       "refused: the ticket breaks a rule"),
    "tkevent.no_broker": ("증권사가 설정되지 않아 거부했습니다", "no broker configured"),
    "tkevent.sending": ("주문 {n}건을 증권사로 보내는 중", "sending {n} orders to the broker"),
    "tkevent.placed": ("증권사에 주문 {total}건 중 {placed}건 접수 (주문번호 {order_nos})",
                       "{placed} of {total} orders placed at the broker (order no "
                       "{order_nos})"),
    "tkevent.none_placed": ("증권사에 접수된 주문이 없습니다", "no order placed"),
    "tkevent.broker_fills": ("증권사 체결 {n}건: 주문 {ordered}주 중 {filled}주 체결",
                             "{n} fill(s) from the broker; {filled} of {ordered} shares "
                             "filled"),
    "tkevent.fills_recorded": ("체결 {n}건 기록 (기록자 {actor}, 모두 {total}건)",
                               "{n} fill(s) recorded by {actor} ({total} in total)"),
    "tkevent.failed": ("처리 실패: `{error}` — 다시 초안을 작성하세요",
                       "processing failed: `{error}`; re-draft"),
    "tkevent.awaiting_manual": ("운영자가 HTS/MTS에서 주문하고 체결을 기록하기를 기다리는 중",
                                "waiting for the operator to trade by hand and record the "
                                "fills"),
    "tkevent.awaiting_open": ("데이터에 {session} 시가(계획 다음 거래일)가 들어오기를 기다리는 중",
                              "waiting for the open of {session} (the session after the plan) "
                              "in the data"),
    "tkevent.paper_filled": ("{session} 시가 ± 슬리피지로 주문 {total}건 중 {n}건 모의 체결",
                             "paper-filled {n} of {total} orders at the open of {session} "
                             "± slippage"),
    "tkevent.paper_filled_recover": ("모의 체결 (복구가 리비전 {revision}에서 마무리)",
                                     "paper-filled (completed by recover at revision "
                                     "{revision})"),
    "tkevent.final": (" — 최종", " — final"),
    "tkevent.note": (" · 세부: `{note}`", " · detail: `{note}`"),
    "tkevent.unknown": ("이벤트 `{code}`", "event `{code}`"),
    # the Telegram bot's labels (oci_backend.telegram.texts reads `tg.<key>`)
    "tg.help": (
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
    "tg.unknown": ("알 수 없는 명령입니다. /help", "Unknown command. /help"),
    "tg.rate": ("명령이 너무 많습니다. 잠시 후 다시 시도하세요.",
                "Too many commands; try again in a minute."),
    "tg.no_summary": ("아직 사이클 기록이 없습니다.", "No cycle has run yet."),
    "tg.no_plan": ("현재 주문 계획이 없습니다.", "There is no current plan."),
    "tg.stage": ("단계", "stage"),
    "tg.last_cycle": ("최근 사이클", "last cycle"),
    "tg.mode": ("모드", "mode"),
    "tg.stop_on": ("비상정지: 켜짐", "emergency stop: ON"),
    "tg.stop_off": ("비상정지: 꺼짐", "emergency stop: off"),
    "tg.fresh": ("데이터", "data"),
    "tg.data_stale": ("오래됨", "STALE"),
    "tg.ok": ("최신", "fresh"),
    "tg.risks": ("위험", "risks"),
    "tg.none": ("없음", "none"),
    "tg.plan": ("주문 계획", "order plan"),
    "tg.guardrails": ("가드레일", "guardrails"),
    "tg.no_orders": ("주문 없음", "no orders"),
    "tg.cash": ("현금", "cash"),
    "tg.holdings": ("보유", "holdings"),
    "tg.equity": ("평가액", "equity"),
    "tg.pnl": ("평가손익", "P&L"),
    "tg.stop_dist": ("손절까지", "to stop"),
    "tg.draft": ("주문표 초안", "ticket draft"),
    "tg.draft_next": ("제출하려면 /approve", "to submit: /approve"),
    "tg.no_draft": ("작성된 주문표가 없습니다: 먼저 /draft", "No ticket drafted: /draft first"),
    "tg.approve_q": ("이 주문표를 제출할까요? (10분 유효)",
                     "Submit this ticket? (valid 10 minutes)"),
    "tg.approve_btn": ("✅ 제출", "✅ Submit"),
    "tg.confirm_btn": ("✅ 확인", "✅ Confirm"),
    "tg.cancel_btn": ("취소", "Cancel"),
    "tg.cancelled": ("취소했습니다.", "Cancelled."),
    "tg.submitted": ("제출됨", "submitted"),
    "tg.already": ("이미 제출된 주문표입니다 (같은 멱등키)",
                   "already submitted (same idempotency key)"),
    "tg.refused": ("거부", "refused"),
    "tg.used": ("이미 처리된 버튼입니다.", "This button was already used."),
    "tg.expired": ("만료된 버튼입니다 (10분). 다시 /approve 하세요.",
                   "This button has expired (10 minutes). /approve again."),
    "tg.unknown_btn": ("알 수 없는 버튼입니다 (봇이 재시작되었을 수 있음).",
                       "Unknown button (the bot may have restarted)."),
    "tg.plan_stale": ("계획이 바뀌었습니다: 다시 /draft 하세요", "the plan changed: /draft again"),
    "tg.not_yours": ("이 버튼은 다른 사용자의 것입니다.", "This button belongs to another user."),
    "tg.no_tickets": ("오늘 주문표가 없습니다.", "No tickets today."),
    "tg.fills": ("체결", "fills"),
    "tg.need_reason": ("사유를 적어 주세요: /stop 사유", "Give a reason: /stop REASON"),
    "tg.need_reason_resume": ("사유를 적어 주세요: /resume 사유", "Give a reason: /resume REASON"),
    "tg.stop_q": ("비상정지를 켤까요?", "Switch the emergency stop ON?"),
    "tg.resume_q": ("비상정지를 끌까요?", "Switch the emergency stop off?"),
    "tg.stopped": ("비상정지를 켰습니다.", "Emergency stop is ON."),
    "tg.resumed": ("비상정지를 껐습니다.", "Emergency stop is off."),
    "tg.fill_usage": ("사용법: /fill 종목 수량 가격", "Usage: /fill TICKER QTY PRICE"),
    "tg.fill_manual": ("/fill 은 MANUAL 모드에서만 씁니다.", "/fill is for MANUAL mode only."),
    "tg.fill_no_ticket": ("이 종목의 열린 주문표가 없습니다.",
                          "No open ticket orders this ticker."),
    "tg.fill_q": ("이 체결을 기록할까요?", "Record this fill?"),
    "tg.fill_done": ("체결을 기록했습니다.", "Fill recorded."),
    "tg.audit_usage": ("사용법: /audit [N] (1..50)", "Usage: /audit [N] (1..50)"),
    "tg.lang_set": ("언어: 한국어", "Language: English"),
    "tg.error": ("처리 중 오류가 났습니다 (로그 확인).", "Something failed (see the bot's log)."),
    # ---- end of the s3-i18n block ----
}


def text(key: str, lang: str = DEFAULT_LANG, /, **values: Any) -> str:
    """The words of `key` in `lang` with `values` filled in; the key itself when unknown."""
    pair = TEXT.get(key)
    if pair is None:
        return key
    words = pair[1] if lang == "en" else pair[0]
    if values:
        try:
            return words.format(**values)
        except (KeyError, IndexError, ValueError):
            return words
    return words


def has(key: str) -> bool:
    """Whether the catalogue has `key` (for callers choosing between a code's words and a
    generic fallback)."""
    return key in TEXT


LANG_ENV = "KRX_LANG"


def lang_from_env(environ: Mapping[str, str], fallback: str = "en") -> str:
    """The operator's language from the environment: `$KRX_LANG` (ko | en), else the process
    locale (`LC_ALL`, then `LC_MESSAGES`, then `LANG`, as POSIX orders them: `ko_KR*` → ko,
    any other set locale → en), else `fallback`. There is no language setting in
    `contracts.settings`; a `--lang` flag goes before all of these."""
    chosen = environ.get(LANG_ENV, "").strip().lower()
    if chosen in LANGS:
        return chosen
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        locale = environ.get(var, "").strip()
        if locale:
            return "ko" if locale.lower().startswith("ko") else "en"
    return fallback


def normal_lang(lang: str | None) -> str:
    """`lang` when it is one of LANGS, else the default (Korean)."""
    return lang if lang in LANGS else DEFAULT_LANG
