"""Korean means Korean (issue 16, item 5): the morning in a real browser (`krx demo --replay`
on the synthetic market, Debian's headless chromium) with a READY plan, a submitted ticket
and a backtest run; every page is rendered in Korean, screenshotted under the test's tmp dir,
and its visible text (main area, sidebar, chart legends and titles) must hold no Latin-alphabet
sentence outside the small allowlist below. The tickets page shows the submitted ticket's
timeline (events worded from their codes) and the strategy page a refused value (RSI buy
above sell: the error worded by field and type, as a 422 from the backends is). Code spans
(`code`, the HTS copy block) are codes, shown beside the words on purpose, and are not read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from demo_stack import CHROMIUM, DemoStack, require_chromium, start_demo, stop_demo, wait_until
from latin_text import latin_sentences

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TIMEOUT = 60_000
PAGES = (("개요", "overview"), ("주문 계획", "order_plan"), ("포트폴리오", "portfolio"),
         ("전략 및 설정", "strategy"), ("티켓", "tickets"), ("백테스트 및 스윕", "backtest"),
         ("감사 기록", "audit"))

READ_TEXT = """() => {
  const out = [];
  for (const root of document.querySelectorAll(
      '[data-testid="stMain"], [data-testid="stSidebar"]')) {
    const copy = root.cloneNode(true);
    copy.querySelectorAll('code, pre, [data-testid="stCode"], svg, canvas, style, script')
        .forEach(n => n.remove());
    out.push(copy.innerText);
  }
  for (const n of document.querySelectorAll(
      '.legendtext, .gtitle, .xtitle, .ytitle, .g-xtitle, .g-ytitle')) {
    out.push(n.textContent);
  }
  for (const n of document.querySelectorAll('input[placeholder], textarea[placeholder]')) {
    out.push(n.getAttribute('placeholder'));
  }
  return out.join('\\n');
}"""


def test_latin_sentence_detector_flags_english_and_spares_codes():
    assert latin_sentences("WARN · SYNTHETIC_DATA: market data is SYNTHETIC") == \
        ["SYNTHETIC_DATA: market data is SYNTHETIC"]
    assert latin_sentences("submitted by api") == ["submitted by api"]
    assert latin_sentences("no entries: CHOP_BLOCK (no entries: CHOP_BLOCK)") != []
    assert "Choose an option" in latin_sentences("Choose an option")
    assert latin_sentences("Select…") == ["Select…"]
    assert latin_sentences("KRX Alertor 콕핏 · DRY_RUN MANUAL LIVE · PULL (OCI에서 가져오기)") == []
    assert latin_sentences("KODEX 200 (069500) 83주 지정가 29,855원") == []


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


def ready_ticket(stack: DemoStack) -> None:
    """A READY plan (a replayed past session), PULLed, drafted and submitted through the PC
    backend, so the plan, ticket and audit pages have their full content."""
    from datetime import datetime

    from krx_common.defaults import KST
    from strategy import calendar

    day = calendar.previous_session(datetime.now(KST).date())
    with stack.pc() as c:
        for _ in range(250):
            r = c.post("/api/v1/ops/cycle", json={"asof": day.isoformat()})
            assert r.status_code == 200, r.text
            plan = r.json()["summary"].get("plan") or {}
            if plan.get("decision") == "READY" and plan.get("n_buys", 0) > 0:
                break
            day = calendar.previous_session(day)
        else:
            pytest.fail("no READY session in 250")
        assert c.post("/api/v1/pull").status_code == 200
        assert c.post("/api/v1/tickets/draft").status_code in (200, 201)
        r = c.post("/api/v1/tickets/submit", json={"confirm": True})
        assert r.status_code in (200, 201), r.text


def settle(page) -> None:  # noqa: ANN001
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=TIMEOUT)


@pytest.mark.timeout(1200)
def test_every_page_in_korean_has_no_english_sentence(browser, tmp_path: Path):
    stack = start_demo(tmp_path / "root", "--replay")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    found: dict[str, list[str]] = {}
    try:
        ready_ticket(stack)
        context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                      locale="ko-KR")
        page = context.new_page()
        page.goto(stack.url)
        page.get_by_role("heading", name="개요", level=1).wait_for(timeout=TIMEOUT)
        for name, file in PAGES:
            page.get_by_role("link", name=name, exact=True).click()
            page.get_by_role("heading", name=name, exact=True, level=1).wait_for(
                timeout=TIMEOUT)
            if file == "backtest":  # metrics, charts and the trade table on the page
                page.get_by_role("button", name="백테스트 실행").click()
                page.locator('[data-testid="stPlotlyChart"]').first.wait_for(
                    timeout=240_000)
            settle(page)
            if file == "overview":
                wait_until(lambda: "오늘의 단계" in page.inner_text("body"), 60,
                           "the overview's stage")
            if file == "tickets":  # the submitted ticket's timeline, each event in words
                wait_until(lambda: "제출됨 (제출자 " in page.inner_text("body"), 60,
                           "the ticket timeline's events in Korean")
            if file == "strategy":  # a refused value: the error by field and type, in Korean
                rsi = page.get_by_label("RSI 매수 기준 (미만 매수)", exact=True)
                rsi.fill("95")
                rsi.press("Tab")
                page.get_by_role("button", name="로컬 작업본에 저장").click()
                settle(page)
                alert = page.locator('[data-testid="stAlert"]', has_text="입력 오류").first
                alert.wait_for(timeout=TIMEOUT)
                said = alert.inner_text()
                assert "입력 오류 — RSI 매수 기준" in said and "매도 기준보다 낮아야" in said, said
            page.screenshot(path=str(shots / f"{file}.png"), full_page=True)
            assert (shots / f"{file}.png").stat().st_size > 10_000
            text = page.evaluate(READ_TEXT)
            assert len(text) > 50, (file, text)
            bad = latin_sentences(text)
            if bad:
                found[file] = bad
        context.close()
    finally:
        assert stop_demo(stack) == 0, stack.output()
    assert not found, f"English in the Korean cockpit (screenshots: {shots}): {found}"
