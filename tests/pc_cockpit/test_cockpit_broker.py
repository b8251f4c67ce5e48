"""The broker page and the mode badge against a real PC backend and OCI (no broker
credentials on this OCI: the page says so; the mode is shown on every page once pulled)."""

from __future__ import annotations

import pytest
from cockpit_stack import pull, texts

pytestmark = pytest.mark.integration


def test_broker_page_without_credentials_says_where_they_go_and_the_mode_is_shown(
        stack, cockpit):
    pull(stack)
    at = cockpit(stack, "broker", lang="en")
    page = texts(at)
    assert "Broker reconciliation" in page
    assert "No broker credentials on OCI (KRX_KIS_CREDENTIALS_FILE)" in page
    assert "Execution mode: DRY_RUN" in page
    at = cockpit(stack, "tickets")
    assert "실행 모드: DRY_RUN" in texts(at)
