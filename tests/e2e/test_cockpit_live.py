"""The morning's first screen and a page that follows the connection on its own, in a real
browser on `krx demo` (issue 16 items 2 and 3).

- Opened in a fresh browser, the cockpit PULLs by itself (nothing is unpushed): the Overview
  shows the stage, the signals and the risks without a click, and every page says where its
  data comes from (the last PULL, or live from OCI).
- An idle Overview follows OCI going away and coming back (the OCI process stopped with
  SIGSTOP by its PID, then continued): the sidebar badge and the stage change within seconds,
  without a click (Streamlit fragments with `run_every`).
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import psutil
import pytest
from demo_stack import DemoStack, start_demo, stop_demo
from test_cockpit_e2e import TIMEOUT, browser, goto, see  # noqa: F401  (browser: fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The badge refreshes every `pc_cockpit.ui.LIVE_REFRESH_S` (3 s); OCI's probe times out after
# 2 s: a change shows within ~5 s. The bound leaves room for a busy 2-core machine.
FOLLOW_MS = 15_000


def oci_process(stack: DemoStack) -> psutil.Process:
    port = stack.oci_url.rsplit(":", 1)[1]
    for child in stack.children:
        cmd = " ".join(child.cmdline())
        if " oci " in f" {cmd} " and port in cmd:
            return child
    raise AssertionError(f"no OCI child of krx demo on port {port}: "
                         f"{[c.cmdline() for c in stack.children]}")


def test_cockpit_opens_on_the_morning_and_follows_oci_without_a_click(browser,  # noqa: F811
                                                                     tmp_path: Path):
    stack = start_demo(tmp_path / "root")
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="ko-KR")
    page = context.new_page()
    oci = None
    try:
        page.goto(stack.url)
        page.get_by_role("heading", name="개요", level=1).wait_for(timeout=TIMEOUT)
        # no click: the cockpit pulled when it opened
        see(page, "자동으로 PULL함")
        see(page, re.compile(r"오늘의 단계: "))
        page.get_by_role("heading", name="위험").wait_for(timeout=TIMEOUT)
        page.get_by_role("heading", name="종목 신호").wait_for(timeout=TIMEOUT)
        with stack.oci() as c:
            revision = c.get("/api/v1/sync/snapshot").json()["revision"]
        see(page, f"출처: 마지막 PULL (리비전 {revision},")
        pulled, live = "출처: 마지막 PULL", "출처: OCI 실시간"
        for name, source in (("주문 계획", pulled), ("포트폴리오", pulled),
                             ("전략 및 설정", pulled), ("티켓", live), ("감사 기록", live)):
            goto(page, name)
            see(page, source)
        goto(page, "개요")
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("OCI 지연").first.wait_for(timeout=TIMEOUT)
        assert "OCI 응답 없음" not in sidebar.inner_text()

        oci = oci_process(stack)
        os.kill(oci.pid, signal.SIGSTOP)  # OCI goes away; the page sits idle
        t0 = time.monotonic()
        sidebar.get_by_text("OCI 응답 없음").first.wait_for(timeout=FOLLOW_MS)
        went = time.monotonic() - t0
        see(page, "PULL 시점", timeout=FOLLOW_MS)  # the stage now says it is the pulled one

        os.kill(oci.pid, signal.SIGCONT)  # and comes back
        oci = None
        t1 = time.monotonic()
        sidebar.get_by_text("OCI 응답 없음").first.wait_for(state="detached", timeout=FOLLOW_MS)
        see(page, "OCI 현재 단계", timeout=FOLLOW_MS)
        back = time.monotonic() - t1
        print(f"badge followed OCI: down in {went:.1f} s, up again in {back:.1f} s")
    finally:
        if oci is not None:
            os.kill(oci.pid, signal.SIGCONT)
        context.close()
        assert stop_demo(stack) == 0, stack.output()
