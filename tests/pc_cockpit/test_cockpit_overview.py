"""Overview page against a real PC backend and OCI: PULL, stage, regime, signals, risks, the
benchmark chart, running the cycle — in Korean and English."""

from __future__ import annotations

import json

import pytest
from cockpit_stack import PLAN_ASOF, Stack, pull, texts

pytestmark = pytest.mark.integration


def oci_revision(stack: Stack) -> int:
    with stack.oci_client() as c:
        return int(c.get("/api/v1/sync/snapshot").json()["revision"])


def test_overview_first_open_pulls_and_shows_the_morning_without_a_click(fresh_stack, cockpit):
    """Issue 16 item 3: the first screen shows the stage, the plan's lines and the risks; the
    source line says it is the last PULL, made when the cockpit opened."""
    with fresh_stack.pc_client() as c:
        assert c.get("/api/v1/status").json()["pulled_revision"] is None
    at = cockpit(fresh_stack)
    assert at.title[0].value == "개요"
    page = texts(at)
    assert not any("PULL을 눌러" in i.value for i in at.info), page
    rev = oci_revision(fresh_stack)
    assert f"출처: 마지막 PULL (리비전 {rev}," in page and "자동으로 PULL함" in page, page
    assert "주문 계획 준비됨" in page and "PLAN_READY" in page
    assert "305720" in set(at.dataframe[0].value["종목코드"])  # the plan's line
    assert "위험" in texts(at, "subheader")
    with fresh_stack.pc_client() as c:
        assert c.get("/api/v1/status").json()["pulled_revision"] == rev


def test_overview_open_with_unpushed_edits_does_not_pull(fresh_stack, cockpit):
    pulled = pull(fresh_stack)["revision"]
    with fresh_stack.pc_client() as c:
        portfolio = c.get("/api/v1/workspace/portfolio").json()
        portfolio["cash"] = 7_654_321
        assert c.put("/api/v1/workspace/portfolio", json=portfolio).status_code == 200
    with fresh_stack.oci_client() as c:  # OCI moves on meanwhile
        r = c.get("/api/v1/sync/snapshot")
        settings = r.json()["settings"]
        settings["guardrails"]["max_orders"] = 7
        push = c.post("/api/v1/sync/push", json={"settings": settings, "reason": "elsewhere"},
                      headers={"If-Match": r.headers["etag"]})
        assert push.status_code == 200, push.text
    at = cockpit(fresh_stack)
    page = texts(at)
    assert "미전송 수정·충돌 1건이 있어 자동 PULL하지 않음" in page, page
    assert f"OCI는 리비전 {push.json()['revision']}: PULL로 갱신하세요" in page
    with fresh_stack.pc_client() as c:
        status = c.get("/api/v1/status").json()
        assert status["pulled_revision"] == pulled and status["unpushed_edits"] == 1
        assert c.get("/api/v1/workspace/portfolio").json()["cash"] == 7_654_321


def test_overview_pull_button_shows_ocis_revision(fresh_stack, cockpit):
    at = cockpit(fresh_stack)
    at.button(key="ov_pull").click().run()
    assert not at.exception
    rev = oci_revision(fresh_stack)
    assert any(f"OCI 응답: 리비전 {rev} " in s.value for s in at.success), texts(at)
    page = texts(at)
    assert "주문 계획 준비됨" in page and "PLAN_READY" in page  # stage of the day
    assert "티켓 페이지에서 초안을 작성하세요" in page  # the next action in words
    assert PLAN_ASOF in page
    signals = at.dataframe[0].value
    assert "305720" in set(signals["종목코드"])
    assert "RSI 눌림 매수" in set(signals["사유"])  # the reason in words, not a code
    assert at.metric[0].value == "직접 연결"  # the connection badge: direct mode


def test_overview_in_english_with_regime_risks_and_the_benchmark_chart(stack, cockpit):
    at = cockpit(stack, lang="en")
    at.button(key="ov_pull").click().run()
    page = texts(at)
    assert at.title[0].value == "Overview"
    assert "Stage of the day: Plan ready" in page
    with stack.pc_client() as c:
        regime = c.get("/api/v1/snapshot").json()["summary"]["signals"]["regime"]
    shown = {m.label: m.value for m in at.metric}
    assert shown["Regime"] == regime["regime"]
    assert shown["ADX"] == f"{regime['adx']:,.1f}"
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    # issue 16 item 15: a real title, the strategy against buy-and-hold, a legend that
    # explains the shading, and a caption in words
    spec = json.loads(charts[0].proto.spec)
    title = spec["layout"]["title"]["text"]
    assert "strategy vs buy-and-hold" in title and "069500" in title, title
    names = [tr.get("name") for tr in spec["data"]]
    assert names[:2] == ["Strategy equity (backtest of the current settings)",
                         "Buy-and-hold 069500 (same initial capital)"]
    assert "BEAR regime" in names and "BULL regime" in names
    assert spec["layout"]["showlegend"] is True
    assert "red = BEAR" in texts(at, "caption")
    assert "Risks" in page


def test_overview_run_cycle_shows_ocis_answer(stack, cockpit):
    at = cockpit(stack)
    at.button(key="ov_pull").click().run()
    label = at.date_input(key="ov_replay").label
    assert "DRY_RUN 전용" not in label and "리플레이 데이터 루트에서만" in label  # item 13
    at.button(key="ov_run_cycle").click().run()
    with stack.oci_client() as c:
        plan_id = c.get("/api/v1/plans/current").json()["plan_id"]
        status = c.get("/api/v1/sync/snapshot").json()["summary"]["status"]
    words = {"OK": "종료 코드 0 = 정상 (OK)", "WARN": "종료 코드 2 = 경고 (WARN)"}[status]
    assert any(words in s.value and plan_id in s.value for s in at.success), texts(at)


def test_overview_run_cycle_blocked_says_what_exit_2_means(fresh_stack, cockpit):
    with fresh_stack.oci_client() as c:
        r = c.post("/api/v1/emergency-stop", json={"on": True, "reason": "drill", "by": "ops"})
        assert r.status_code == 200, r.text
    at = cockpit(fresh_stack)
    at.button(key="ov_run_cycle").click().run()
    shown = " ".join(s.value for s in at.success)
    assert "종료 코드 2 = 차단 (BLOCKED): 오늘은 주문이 나가지 않습니다" in shown, texts(at)
    assert "EMERGENCY_STOP" in shown  # why, from OCI's summary


def test_overview_stage_is_ocis_current_one_without_a_pull_else_as_of_the_pull(fresh_stack,
                                                                                 cockpit):
    # A fresh session each time: AppTest reruns only the page script, not the sidebar that
    # asks the PC backend for its status (a browser reruns both).
    from oci_server import stop_server

    from pc_cockpit import fmt

    at = cockpit(fresh_stack)
    at.button(key="ov_pull").click().run()
    assert "주문 계획 준비됨" in texts(at)
    with fresh_stack.oci_client() as c:  # OCI moves on; nothing is pulled
        r = c.post("/api/v1/emergency-stop", json={"on": True, "reason": "drill", "by": "ops"})
        assert r.status_code == 200, r.text
    at = cockpit(fresh_stack, _auto_pulled=True)  # a session that pulled earlier
    assert "오늘의 단계: 긴급 정지** (STOPPED)" in texts(at, "error"), texts(at)
    assert "OCI 현재 단계" in texts(at, "caption")
    with fresh_stack.pc_client() as c:
        assert c.get("/api/v1/snapshot").json()["summary"]["stage"] == "PLAN_READY"
        pulled_at = c.get("/api/v1/status").json()["last_pull_at"]

    stop_server(fresh_stack.oci)  # unreachable: the pulled stage, said to be as of the PULL
    at = cockpit(fresh_stack, _auto_pulled=True)
    assert "오늘의 단계: 주문 계획 준비됨** (PLAN_READY)" in texts(at, "success"), texts(at)
    assert f"PULL 시점({fmt.kst(pulled_at)}) 기준" in texts(at, "caption")
