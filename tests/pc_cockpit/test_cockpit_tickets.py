"""Tickets page: draft → preview (HTS/MTS text) → explicit confirmation → submit, OCI's
record with its timeline, the DRY_RUN fill, a stale draft re-drafted, the emergency stop
refusing a submit, MANUAL fills recorded — against a real PC backend and OCI."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cockpit_stack import REPO_DAILY, Stack, pull, texts
from latin_text import latin_sentences

pytestmark = pytest.mark.integration


def process_tickets(stack: Stack) -> str:
    """One OCI ticket-processor pass (the server's own processor is off in tests)."""
    res = subprocess.run(
        [sys.executable, "-m", "krx_cli.main", "oci", "process-tickets",
         "--data-dir", str(stack.oci.data_dir), "--data", f"csv:{REPO_DAILY}"],
        capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def push_settings(stack: Stack, reason: str, **changes: object) -> None:
    with stack.pc_client() as c:
        settings = c.get("/api/v1/workspace/settings").json()
        for path, value in changes.items():
            section, _, name = path.partition("__")
            if name:
                settings[section][name] = value
            else:
                settings[section] = value
        assert c.put("/api/v1/workspace/settings", json=settings).status_code == 200
        r = c.post("/api/v1/push", json={"reason": reason})
        assert r.status_code == 200, r.text


def oci_tickets(stack: Stack) -> list[dict]:
    with stack.oci_client() as c:
        return c.get("/api/v1/tickets").json()


def draft_and_preview(at):  # noqa: ANN001, ANN201
    at.button(key="tk_draft").click().run()
    assert not at.exception
    return at


def test_ticket_draft_confirm_submit_then_dry_run_fill(fresh_stack: Stack, cockpit):
    pull(fresh_stack)
    at = draft_and_preview(cockpit(fresh_stack, page="tickets"))
    with fresh_stack.pc_client() as c:
        stored = c.get("/api/v1/tickets/draft").json()
    ticket = stored["ticket"]
    assert any(ticket["ticket_id"] in s.value for s in at.subheader)
    copy = at.code[0].value
    assert "[매수]" in copy and "305720" in copy  # the HTS/MTS text
    submit = at.button(key="tk_submit")
    assert submit.disabled  # no confirmation yet
    assert oci_tickets(fresh_stack) == []
    at.checkbox(key="tk_confirm").check().run()
    at.button(key="tk_submit").click().run()
    records = oci_tickets(fresh_stack)
    assert [r["ticket"]["ticket_id"] for r in records] == [ticket["ticket_id"]]
    said = [s.value for s in at.success
            if f"OCI 응답: 티켓 {ticket['ticket_id']} → {records[0]['state']}" in s.value]
    assert len(said) == 1, texts(at)  # the submit's answer, said once (issue 16, item 19)
    assert sum(ticket["ticket_id"] in e.value
               for kind in ("success", "info", "warning", "error")
               for e in getattr(at, kind)) == 1, texts(at)
    process_tickets(fresh_stack)
    at.button(key="tk_refresh").click().run()
    listed = next(d.value for d in at.dataframe if "티켓" in d.value.columns)
    assert listed.iloc[0]["상태"] == "모의 체결 완료: 포트폴리오에 반영됨 (DRY_RUN_FILLED)"
    page = texts(at)
    # the timeline: the state in words, its code beside them, no English event message
    assert "**OCI가 티켓을 받았습니다** (`SUBMITTED`)" in page, page
    assert "**모의 체결 완료: 포트폴리오에 반영됨** (`DRY_RUN_FILLED`)" in page, page
    assert "submitted by" not in page
    # each event in Korean words from its code + params (the actor, the session, the counts)
    timeline = [line for line in page.splitlines() if line.startswith(("•", "✅", "❌"))]
    assert len(timeline) == 3, page
    assert "— 제출됨 (제출자 " in timeline[0], timeline
    assert "— 처리기가 티켓을 가져갔습니다" in timeline[1], timeline
    assert "시가 ± 슬리피지로 주문 1건 중 1건 모의 체결" in timeline[2], timeline
    assert latin_sentences("\n".join(timeline)) == [], timeline
    assert listed.iloc[0]["메시지"].endswith("1건 중 1건 모의 체결"), listed.iloc[0]
    records = oci_tickets(fresh_stack)
    assert [e["code"] for e in records[0]["events"]] == ["submitted", "claimed", "paper_filled"]
    assert records[0]["events"][2]["params"]["n"] == 1
    fills = next(d.value for d in at.dataframe if "가격" in d.value.columns)
    assert list(fills["종목코드"]) == ["305720"]


def test_emergency_stop_refuses_the_submit_and_says_why(fresh_stack: Stack, cockpit):
    pull(fresh_stack)
    at = draft_and_preview(cockpit(fresh_stack, page="tickets"))
    with fresh_stack.pc_client() as c:
        r = c.post("/api/v1/emergency-stop", json={"on": True, "reason": "drill"})
        assert r.status_code == 200
    at.checkbox(key="tk_confirm").check().run()
    at.button(key="tk_submit").click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "긴급 정지가 켜져 있어 OCI가 거부했습니다" in errors, texts(at)
    assert oci_tickets(fresh_stack) == []


def test_stale_draft_is_flagged_and_redrafted_from_the_current_plan(fresh_stack, cockpit):
    pull(fresh_stack)
    at = draft_and_preview(cockpit(fresh_stack, page="tickets"))
    with fresh_stack.pc_client() as c:
        old = c.get("/api/v1/tickets/draft").json()["ticket"]["plan_id"]
    push_settings(fresh_stack, "smaller slippage", strategy__slippage=0.0004)
    with fresh_stack.pc_client() as c:
        current = c.get("/api/v1/plan").json()["plan_id"]
    assert current != old
    at = cockpit(fresh_stack, page="tickets")
    assert any(old in w.value and current in w.value for w in at.warning), texts(at)
    at.button(key="tk_redraft").click().run()
    with fresh_stack.pc_client() as c:
        assert c.get("/api/v1/tickets/draft").json()["ticket"]["plan_id"] == current
    assert not any("⚠️" in w.value for w in at.warning)


def test_manual_mode_fills_are_recorded_from_the_form(fresh_stack: Stack, cockpit):
    pull(fresh_stack)
    push_settings(fresh_stack, "trade by hand", execution_mode="MANUAL")
    at = draft_and_preview(cockpit(fresh_stack, page="tickets"))
    at.checkbox(key="tk_confirm").check().run()
    at.button(key="tk_submit").click().run()
    process_tickets(fresh_stack)
    at.button(key="tk_refresh").click().run()
    record = oci_tickets(fresh_stack)[0]
    assert record["state"] == "AWAITING_MANUAL_EXECUTION"
    tid = record["ticket"]["ticket_id"]
    order = record["ticket"]["orders"][0]
    half = max(1, order["qty"] // 2)
    at.number_input(key=f"fill_qty_{tid}_0").set_value(half)
    next(b for b in at.button if b.label == "체결 기록").click().run()
    record = oci_tickets(fresh_stack)[0]
    assert record["state"] == "PARTIALLY_FILLED"
    assert [(f["ticker"], f["qty"]) for f in record["fills"]] == [(order["ticker"], half)]
    assert any(f"OCI 응답: {tid} → PARTIALLY_FILLED" in s.value for s in at.success), texts(at)

    # issue 16 item 13: what remains is shown and is the most the form takes
    left = order["qty"] - half
    at = cockpit(fresh_stack, page="tickets", tk_selected=tid)
    assert f"남은 수량 {left:,}주 / 주문 {order['qty']:,}주" in texts(at, "caption"), texts(at)
    qty = at.number_input(key=f"fill_qty_{tid}_0")
    assert qty.max == left
    with fresh_stack.oci_client() as c:  # the fills are the operator's, not "api"'s
        audit = c.get("/api/v1/audit", params={"target": tid}).json()
    fill_entries = [e for e in audit if e["details"].get("to") == "PARTIALLY_FILLED"]
    assert fill_entries and {e["actor"] for e in fill_entries} == {"operator"}, audit


def test_discarding_a_draft_removes_it_and_offers_a_new_draft(stack: Stack, cockpit):
    pull(stack)
    at = draft_and_preview(cockpit(stack, page="tickets"))
    at.button(key="tk_discard").click().run()
    with stack.pc_client() as c:
        assert c.get("/api/v1/tickets/draft").status_code == 404
    assert not at.button(key="tk_draft").disabled  # the READY plan can be drafted again
