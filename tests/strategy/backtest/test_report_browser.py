"""The walk-forward report in a real browser at the operator's window width (issue 16 item 15):
the windows table fits the page instead of running off its right edge."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from contracts.settings import Settings
from strategy.backtest.report import write_walkforward_report
from strategy.backtest.walkforward import run_walkforward
from strategy.research import prepare_grid_run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
DAILY = Path(__file__).resolve().parents[3] / "data" / "krx" / "daily"


def test_report_walkforward_windows_table_fits_a_1400px_window(tmp_path: Path) -> None:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Debian chromium (/usr/bin/chromium) is needed for the browser tests")
        pytest.skip("Debian chromium (/usr/bin/chromium) is needed for the browser tests")
    from playwright.sync_api import sync_playwright

    grid = {"rsi_period": [30, 40], "rsi_buy_threshold": [40, 50]}
    start, end = date(2021, 1, 4), date(2025, 12, 29)
    setup = prepare_grid_run(Settings(), f"csv:{DAILY}", start, end, grid=grid,
                             objective="sharpe", today=date(2026, 1, 3))
    wf = run_walkforward(setup.bars, setup.settings, grid, start, end, train_months=12,
                         test_months=6, step_months=12, n_jobs=1)
    page_path = write_walkforward_report(wf, tmp_path / "wf.html")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(page_path.as_uri())
            sizes = page.evaluate("""() => {
                const s = document.querySelector('section#windows');
                return [s.scrollWidth, s.clientWidth, s.querySelectorAll('th').length];
            }""")
        finally:
            browser.close()
    scroll, client, n_headers = sizes
    assert n_headers == len(wf.windows.columns)  # every column is there
    assert scroll <= client, f"windows table {scroll} px wide in a {client} px page"
