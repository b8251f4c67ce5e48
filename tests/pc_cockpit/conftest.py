"""Fixtures of the cockpit page tests: a REAL OCI backend and a REAL PC backend (`krx pc serve
--direct`) on loopback, and the cockpit driven in-process by `streamlit.testing` AppTest.

The OCI backend runs on the in-repo KRX bars with its clock frozen on 2025-09-03 10:00 KST, so
the cycle plans the session of 2025-09-02, whose plan is READY (one BUY of 305720). The ticket
processor is off: the tests run what they need explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cockpit_stack import APP, Stack, start_stack, stop_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """OCI + PC backend shared by the tests of one module (each test PULLs what it needs)."""
    s = start_stack(tmp_path_factory.mktemp("stack"))
    yield s
    stop_stack(s)


@pytest.fixture
def fresh_stack(tmp_path: Path) -> Iterator[Stack]:
    """OCI + PC backend of one test (for tests that stop or break one of them)."""
    s = start_stack(tmp_path)
    yield s
    stop_stack(s)


@pytest.fixture
def cockpit(monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    """`cockpit(stack, page=None, lang="ko", **state)` → an AppTest of the cockpit, pointed at
    `stack`'s PC backend (its real token file), run once on `page` (a file under pages/)."""
    from streamlit.testing.v1 import AppTest

    def make(stack: Stack | None, page: str | None = None, lang: str = "ko",
             pc_url: str | None = None, token_file: Path | None = None,
             **state: object) -> AppTest:
        url = pc_url or (stack.pc.base_url if stack else "http://127.0.0.1:9")
        token = token_file or (stack.pc.workspace / "pc_token" if stack else Path("/nonexistent"))
        monkeypatch.setenv("KRX_COCKPIT_PC_URL", url)
        monkeypatch.setenv("KRX_COCKPIT_TOKEN_FILE", str(token))
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.session_state["lang_en"] = lang == "en"
        for key, value in state.items():
            at.session_state[key] = value
        at.run()
        if page is not None:
            at.switch_page(f"pages/{page}.py")
            at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return make
