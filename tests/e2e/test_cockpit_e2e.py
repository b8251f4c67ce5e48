"""The operator's morning in a real browser: `krx demo` (OCI backend on the synthetic market in
DRY_RUN, PC backend, cockpit) driven by Playwright on Debian's headless chromium.

PULL; edit cash and PUSH with a reason (OCI's new revision shown); change a parameter, run the
what-if backtest and PUSH it; draft a ticket, confirm, submit and see the DRY_RUN paper fill;
PULL the filled holding and edit its qty in the holdings grid (a negative qty refused naming
the field, nothing pushed; then a real one saved, diffed, PUSHed, on OCI and in its audit);
the audit trail with the parameter change and its reason; the emergency stop refusing a
submit; a screenshot of every page in Korean and English (test-output/cockpit/, git-ignored);
Ctrl-C leaves no process behind. Run once with `--direct` and once through a real sshd tunnel.

A DRY_RUN paper fill waits for the open of the session after the plan's as-of in the market
data; on the synthetic market (generated up to today) the test replays a past session through
the ops route (`krx demo --replay` makes the demo root a replay root, the only kind that
accepts an `asof` cycle) so that bar exists, and OCI's own ticket processor fills it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from demo_stack import (
    CHROMIUM,
    DemoStack,
    require_chromium,
    screenshot_dir,
    start_demo,
    stop_demo,
    wait_until,
)

from krx_common.defaults import KST
from pc_cockpit.i18n import field_label

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAGES_KO = ("개요", "주문 계획", "포트폴리오", "전략 및 설정", "티켓", "백테스트 및 스윕",
            "감사 기록")
PAGES_EN = ("Overview", "Order plan", "Portfolio", "Strategy & settings", "Tickets",
            "Backtest & sweep", "Audit trail")
FILES = ("overview", "order_plan", "portfolio", "strategy", "tickets", "backtest", "audit")
TIMEOUT = 60_000  # ms, for Playwright's waits


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


def ready_replay(stack: DemoStack) -> dict:
    """Replay past sessions through the PC backend's ops route (DRY_RUN) until one plans a
    READY buy; returns its cycle answer."""
    from strategy import calendar

    day = calendar.previous_session(datetime.now(KST).date())
    with stack.pc() as c:
        for _ in range(250):
            r = c.post("/api/v1/ops/cycle", json={"asof": day.isoformat()})
            assert r.status_code == 200, r.text
            body = r.json()
            plan = body["summary"].get("plan") or {}
            if plan.get("decision") == "READY" and plan.get("n_buys", 0) > 0:
                return body
            day = calendar.previous_session(day)
    pytest.fail("no READY session found on the demo market in 250 sessions")


def goto(page, name: str) -> None:  # noqa: ANN001
    page.get_by_role("link", name=name, exact=True).click()
    page.get_by_role("heading", name=name, exact=True, level=1).wait_for(timeout=TIMEOUT)


def see(page, text: str | re.Pattern[str], timeout: int = TIMEOUT):  # noqa: ANN001, ANN201
    """The first element whose text matches, once visible."""
    loc = page.get_by_text(text).first
    loc.wait_for(state="visible", timeout=timeout)
    return loc


def in_table(page, text: str) -> None:  # noqa: ANN001
    """A cell of an st.dataframe (a canvas grid: its cells are in the DOM for accessibility,
    not visible as elements)."""
    page.locator('[data-testid="stDataFrame"] [role="gridcell"]', has_text=text).first \
        .wait_for(state="attached", timeout=TIMEOUT)


def settle(page) -> None:  # noqa: ANN001
    """Wait until Streamlit finished the current run (its status widget is gone)."""
    page.wait_for_timeout(150)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=TIMEOUT)


def operator_morning(stack: DemoStack, page, shots: bool,  # noqa: ANN001
                     whatif: bool = True, holdings: bool = True) -> None:
    page.goto(stack.url)
    page.get_by_role("heading", name="개요").wait_for(timeout=TIMEOUT)
    replay = ready_replay(stack)
    asof = replay["summary"]["asof"]

    # PULL: OCI's revision is what the page says
    page.get_by_role("button", name="PULL (OCI에서 가져오기)").click()
    with stack.oci() as c:
        revision = c.get("/api/v1/sync/snapshot").json()["revision"]
    see(page, f"OCI 응답: 리비전 {revision} ")
    see(page, "주문 계획 준비됨")
    see(page, asof)

    # Portfolio: edit cash, PUSH with a reason, see OCI's new revision
    goto(page, "포트폴리오")
    cash = page.get_by_label("현금 (원)")
    cash.fill("20000000")
    cash.press("Tab")
    page.get_by_role("button", name="로컬 작업본에 저장").click()
    see(page, "작업본에 저장됨: 변경 1건")
    page.get_by_label("사유 (필수, 감사 기록에 남음)").fill("e2e: deposit 10M")
    page.get_by_role("button", name="PUSH", exact=True).click()
    pushed = see(page, re.compile(r"OCI 응답: 새 리비전 (\d+)")).inner_text()
    new_rev = int(re.search(r"새 리비전 (\d+)", pushed).group(1))  # type: ignore[union-attr]
    with stack.oci() as c:
        snap = c.get("/api/v1/sync/snapshot").json()
    assert snap["revision"] == new_rev and snap["portfolio"]["cash"] == 20_000_000.0
    settle(page)

    # Strategy: change a parameter, what-if backtest against the current one, PUSH it
    goto(page, "전략 및 설정")
    sell = page.get_by_label(field_label("param", "rsi_sell_threshold", "ko"), exact=True)
    sell.fill("75")
    sell.press("Tab")
    page.get_by_role("button", name="로컬 작업본에 저장").click()
    see(page, "작업본에 저장됨: 변경 1건")
    if whatif:  # PC-local (no OCI call): the tunnel run skips it
        page.get_by_role("button", name="What-if 실행").click()
        see(page, re.compile(r"같은 기간 .* → .*거래일"), timeout=180_000)
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=TIMEOUT)
    page.get_by_label("사유 (필수, 감사 기록에 남음)").fill("e2e: let winners run")
    page.get_by_role("button", name="PUSH", exact=True).click()
    see(page, re.compile(r"OCI 응답: 새 리비전 \d+"))
    with stack.oci() as c:
        assert c.get("/api/v1/sync/snapshot").json()["settings"]["strategy"][
            "rsi_sell_threshold"] == 75.0
    settle(page)

    # Tickets: draft and preview; the emergency stop (sidebar, confirmed) refuses the submit
    goto(page, "티켓")
    page.get_by_role("button", name="현재 계획으로 초안 작성").click()
    see(page, "HTS/MTS 복사용 텍스트")
    see(page, "[매수]")
    toggle_stop(page, "긴급 정지 켜기", "정말 긴급 정지를 켤까요?", "e2e drill")
    see(page, re.compile("긴급 정지 중 .*e2e drill"))
    with stack.oci() as c:
        assert c.get("/api/v1/emergency-stop").json()["on"] is True
        assert c.get("/api/v1/tickets").json() == []
    confirm_and_submit(page)
    see(page, "긴급 정지가 켜져 있어 OCI가 거부했습니다")
    with stack.oci() as c:
        assert c.get("/api/v1/tickets").json() == []
    toggle_stop(page, "긴급 정지 끄기", "정말 긴급 정지를 끌까요?", "e2e drill over")
    see(page, "OCI 응답: 긴급 정지 꺼짐")

    # ... and with the stop off the submit goes through; OCI's processor fills it (DRY_RUN)
    confirm_and_submit(page)
    submitted = see(page, re.compile(r"OCI 응답: 티켓 (\S+) →")).inner_text()
    ticket_id = re.search(r"티켓 (\S+) →", submitted).group(1)  # type: ignore[union-attr]

    def filled() -> bool:
        with stack.oci() as c:
            return c.get(f"/api/v1/tickets/{ticket_id}").json()["state"] == "DRY_RUN_FILLED"

    wait_until(filled, 90, f"the DRY_RUN fill of {ticket_id}")
    page.get_by_role("button", name="새로 고침").click()
    in_table(page, "DRY_RUN_FILLED")
    settle(page)

    if holdings:  # the paper fill is a holding on OCI: PULL it and edit it in the grid
        holding = edit_holdings_in_the_grid(stack, page)

    # Audit: the parameter change with its reason, field by field; the stop and the ticket
    goto(page, "감사 기록")
    in_table(page, "e2e: let winners run")
    in_table(page, "settings.strategy.rsi_sell_threshold")
    in_table(page, "e2e: deposit 10M")
    in_table(page, "EMERGENCY_STOP")
    in_table(page, ticket_id)
    if holdings:
        in_table(page, "e2e: broker statement says more")
        in_table(page, f"holdings[{holding}].qty")

    if shots:
        shoot_every_page(page, "ko", PAGES_KO)
        page.locator('[data-testid="stSidebar"]').get_by_text("English").click()
        page.get_by_role("heading", name="Audit trail").wait_for(timeout=TIMEOUT)
        shoot_every_page(page, "en", PAGES_EN)


def edit_grid_cell(page, grid, row: int, column: int, value: str) -> None:  # noqa: ANN001
    """Type `value` into a cell of an st.data_editor (a canvas grid): select the row's first
    cell, move right `column` cells, open the cell's editor (Enter), replace its text, commit
    (Enter); until the grid's accessibility table shows the value (a commit that races the
    editor's input is typed again)."""
    header = row_height = 35  # Streamlit's grid: header and rows 35 px high
    cell = grid.locator('[role="row"]').nth(row + 1).locator('[role="gridcell"]').nth(column)
    for _ in range(3):
        box = grid.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 60, box["y"] + header + row_height * row + row_height / 2)
        for _ in range(column):
            page.keyboard.press("ArrowRight")
        page.keyboard.press("Enter")
        page.wait_for_timeout(300)  # the overlay editor opens
        page.keyboard.press("End")
        for _ in range(15):
            page.keyboard.press("Backspace")
        page.keyboard.type(value, delay=50)
        page.wait_for_timeout(300)
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if cell.inner_text().strip() == value:
                return
            page.wait_for_timeout(100)
    pytest.fail(f"the grid cell ({row}, {column}) does not show {value!r}: "
                f"{cell.inner_text()!r}")


def save_grid_edit(page, qty: str) -> None:  # noqa: ANN001
    """Type `qty` into the first holding and save it to the workspace. A pixel-driven canvas
    edit on a loaded CI box can land in the wrong cell (the save then names that field) or be
    lost: each attempt starts from a freshly rendered grid (away and back to the page, which
    drops the editor's state), checks the row's other cells are untouched, and a failure after
    three attempts shows what the page said."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):
        goto(page, "개요")
        goto(page, "포트폴리오")
        grid = page.locator('[data-testid="stForm"] [data-testid="stDataFrame"]').first
        grid.wait_for(timeout=TIMEOUT)
        cells = grid.locator('[role="row"]').nth(1).locator('[role="gridcell"]')
        cells.nth(1).wait_for(state="attached", timeout=TIMEOUT)
        before = [t.strip() for t in cells.all_inner_texts()]
        edit_grid_cell(page, grid, 0, 1, qty)
        after = [t.strip() for t in cells.all_inner_texts()]
        if [a for i, a in enumerate(after) if i != 1] != [b for i, b in enumerate(before)
                                                         if i != 1]:
            continue  # another cell was typed into: start again from a fresh grid
        page.get_by_role("button", name="로컬 작업본에 저장").click()
        try:
            see(page, "작업본에 저장됨: 변경 1건", timeout=15_000)
            return
        except PlaywrightTimeout:
            settle(page)
    main = page.locator("body").inner_text()
    pytest.fail(f"saving the holdings edit never reported one change; the page says: "
                f"{main[-1500:]!r}")


def edit_holdings_in_the_grid(stack: DemoStack, page) -> str:  # noqa: ANN001
    """PULL the filled holding; a negative qty typed in the holdings grid is refused naming
    the holding's field, nothing saved or pushed; a real qty is saved (the diff names the
    field), PUSHed with a reason, and OCI's portfolio and audit show it. The holding's ticker."""
    goto(page, "개요")
    page.get_by_role("button", name="PULL (OCI에서 가져오기)").click()
    with stack.oci() as c:
        snap = c.get("/api/v1/sync/snapshot").json()
    see(page, f"OCI 응답: 리비전 {snap['revision']} ")
    first = snap["portfolio"]["holdings"][0]
    ticker, qty = first["ticker"], int(first["qty"])
    settle(page)
    goto(page, "포트폴리오")
    grid = page.locator('[data-testid="stForm"] [data-testid="stDataFrame"]').first
    grid.wait_for(timeout=TIMEOUT)
    in_table(page, ticker)

    edit_grid_cell(page, grid, 0, 1, "-5")
    page.get_by_role("button", name="로컬 작업본에 저장").click()
    see(page, f"입력 오류 — holdings[{ticker}].qty: 0보다 커야 합니다")  # in words, field kept
    with stack.pc() as c:
        assert c.get("/api/v1/diff").json()["changes"] == []  # nothing reached the workspace
    with stack.oci() as c:
        assert c.get("/api/v1/sync/snapshot").json()["revision"] == snap["revision"]
    settle(page)

    save_grid_edit(page, str(qty + 7))
    in_table(page, f"holdings[{ticker}].qty")  # the diff, field by field
    page.get_by_label("사유 (필수, 감사 기록에 남음)").fill("e2e: broker statement says more")
    page.get_by_role("button", name="PUSH", exact=True).click()
    pushed = see(page, re.compile(r"OCI 응답: 새 리비전 (\d+)")).inner_text()
    new_rev = int(re.search(r"새 리비전 (\d+)", pushed).group(1))  # type: ignore[union-attr]
    with stack.oci() as c:
        after = c.get("/api/v1/sync/snapshot").json()
        entry = c.get("/api/v1/audit", params={"action": "PUSH"}).json()[-1]
    assert after["revision"] == new_rev
    held = {h["ticker"]: h for h in after["portfolio"]["holdings"]}
    assert held[ticker]["qty"] == qty + 7
    assert entry["reason"] == "e2e: broker statement says more"
    assert [(ch["path"], ch["before"], ch["after"]) for ch in entry["changes"]] == \
        [(f"portfolio.holdings[{ticker}].qty", qty, qty + 7)]
    settle(page)
    return str(ticker)


def toggle_stop(page, button: str, question: str, reason: str) -> None:  # noqa: ANN001
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_role("button", name=button).click()
    see(page, question)
    field = sidebar.get_by_label("사유 (필수)")
    field.fill(reason)
    field.press("Tab")
    settle(page)
    sidebar.get_by_role("button", name="확인", exact=True).click()
    settle(page)


def confirm_and_submit(page) -> None:  # noqa: ANN001
    page.get_by_text("위 주문을 확인했고 OCI로 보내는 데 동의합니다.").click()
    settle(page)
    page.get_by_role("button", name="OCI로 제출").click()


def shoot_every_page(page, lang: str, names: tuple[str, ...]) -> None:  # noqa: ANN001
    out = screenshot_dir(lang)
    for name, file in zip(names, FILES, strict=True):
        goto(page, name)
        settle(page)
        page.screenshot(path=str(out / f"{file}.png"), full_page=True)
        assert (out / f"{file}.png").stat().st_size > 10_000


def run_morning(stack: DemoStack, browser, shots: bool,  # noqa: ANN001
                whatif: bool = True, holdings: bool = True) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="ko-KR")
    page = context.new_page()
    try:
        operator_morning(stack, page, shots, whatif, holdings)
    except BaseException:
        try:  # best effort: the original error is what matters
            page.screenshot(path=str(stack.root.parent / "failure.png"), full_page=True)
        except Exception as exc:  # noqa: BLE001
            print(f"no failure screenshot: {exc}")
        raise
    finally:
        context.close()


def assert_stopped_cleanly(stack: DemoStack) -> None:
    assert stop_demo(stack) == 0, stack.output()
    assert len(stack.children) == 3
    assert not [c.pid for c in stack.children if c.is_running()]


def test_operator_morning_in_the_browser_direct(browser, tmp_path: Path):
    stack = start_demo(tmp_path / "root", "--replay")
    try:
        run_morning(stack, browser, shots=True)
    finally:
        assert_stopped_cleanly(stack)


def test_operator_morning_in_the_browser_through_an_sshd_tunnel(browser, tmp_path: Path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pc_backend"))
    from demo_stack import free_port
    from sshd import make_sshd, require_sshd

    require_sshd()
    sshd = make_sshd(tmp_path / "ssh")
    sshd.start()
    oci_port = free_port()
    env_file = tmp_path / "pc.env"
    settings = {**sshd.env(), "KRX_PC_REMOTE_PORT": str(oci_port),
                "KRX_PC_TUNNEL_PORT": str(free_port())}
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()), encoding="utf-8")
    try:
        stack = start_demo(tmp_path / "root", "--replay", "--pc-env-file", str(env_file),
                           oci_port=oci_port)
        try:
            with stack.pc() as c:
                status = wait_until(
                    lambda: (s := c.get("/api/v1/status").json())["tunnel"]["state"] == "UP"
                    and s, 60, "the tunnel to come up")
            assert status["oci"]["reachable"] is True
            assert status["oci_url"] != stack.oci_url  # OCI is reached at the tunnel's end
            assert stack.oci_url.endswith(f":{oci_port}")
            run_morning(stack, browser, shots=False, whatif=False, holdings=False)
            with stack.pc() as c:  # everything above crossed the tunnel
                assert c.get("/api/v1/status").json()["tunnel"]["state"] == "UP"
        finally:
            assert_stopped_cleanly(stack)
    finally:
        sshd.stop()
