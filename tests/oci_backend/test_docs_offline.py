"""`/docs` works with no network: Swagger UI's assets come from the installed package, and the
API description cites only files that exist in the repository.

A real `krx oci serve` on loopback, opened by Playwright with Debian's chromium
(`executable_path=/usr/bin/chromium`, never `playwright install`). Every request that is not to
the server is aborted and recorded; the page must still list every operation.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from oci_server import REPO, OciServer

from oci_backend.auth import DOCS_ASSETS, DOCS_STATIC

CHROMIUM = "/usr/bin/chromium"


def _need_chromium() -> None:
    if shutil.which(CHROMIUM) is None or not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (CI is set: the browser test must run)")
        pytest.skip(f"{CHROMIUM} not installed (set CI to make this a failure)")


def _operations(server: OciServer) -> set[tuple[str, str]]:
    spec = httpx.get(f"{server.base_url}/openapi.json", trust_env=False).json()
    return {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops
            if m in ("get", "post", "put", "patch", "delete")}


@pytest.mark.integration
def test_docs_page_lists_every_operation_with_no_network(oci_server: OciServer) -> None:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    expected = _operations(oci_server)
    assert ("POST", "/api/v1/sync/push") in expected and len(expected) >= 10
    server_host = urlparse(oci_server.base_url).netloc
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"],
        )
        try:
            context = browser.new_context(service_workers="block")

            def gate(route):  # type: ignore[no-untyped-def]
                if urlparse(route.request.url).netloc == server_host:
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            context.route("**/*", gate)
            page = context.new_page()
            page.goto(f"{oci_server.base_url}/docs", wait_until="networkidle")
            page.wait_for_selector(".opblock-summary", timeout=30_000)
            listed = page.eval_on_selector_all(
                ".opblock-summary",
                """els => els.map(e => [
                    e.querySelector('.opblock-summary-method').textContent.trim(),
                    (e.querySelector('.opblock-summary-path') || e).getAttribute('data-path')
                      || e.querySelector('.opblock-summary-path').textContent.trim()])""",
            )
            title = page.title()
        finally:
            browser.close()
    assert outside == []  # nothing was fetched from a CDN (or anywhere but the server)
    got = {(m.upper(), p.replace("\u200b", "")) for m, p in listed}
    assert got == expected
    assert "KRX Alertor" in title


def test_docs_assets_are_served_locally_without_a_token(oci_server: OciServer) -> None:
    html = httpx.get(f"{oci_server.base_url}/docs", trust_env=False).text
    assert "cdn" not in html.lower() and "https://" not in html
    for name in DOCS_ASSETS:
        r = httpx.get(f"{oci_server.base_url}{DOCS_STATIC}/{name}", trust_env=False)
        assert r.status_code == 200 and len(r.content) > 100, name
    # the asset paths are listed one by one: anything else under the prefix still needs auth
    r = httpx.get(f"{oci_server.base_url}{DOCS_STATIC}/other.js", trust_env=False)
    assert r.status_code == 401


def test_api_description_cites_only_files_in_the_repository(oci_server: OciServer) -> None:
    spec = json.dumps(httpx.get(f"{oci_server.base_url}/openapi.json", trust_env=False).json(),
                      ensure_ascii=False)
    cited = set(re.findall(r"[\w./-]+\.(?:md|py|sh|yaml|yml|toml)\b", spec))
    assert cited, "the description should point the reader somewhere"
    missing = [c for c in cited if not (REPO / c).exists()]
    assert missing == [], f"cited but not in the repository: {missing}"
