"""Ad-hoc market closures ahead of exchange_calendars, through the real OCI API: an override
PUSHed in the settings is audited naming its field, and the cycle of that date on a replay
root is a HOLIDAY; the session before it plans orders for the session after it."""

from __future__ import annotations

import pytest
from oci_server import OciServer, wait_replanned
from test_api_ops import replay_server  # noqa: F401  (the fixture)

from contracts.ops import CycleResponse
from contracts.summary import Stage
from contracts.sync import SyncSnapshot

pytestmark = pytest.mark.integration

CLOSED = "2025-12-29"  # an XKRX session (the real data's last one), closed by the operator


def test_calendar_override_pushed_audited_and_cycle_is_holiday(
    replay_server: OciServer,  # noqa: F811
) -> None:
    with replay_server.client() as c:
        r = c.get("/api/v1/sync/snapshot")
        snap, etag = SyncSnapshot.model_validate_json(r.content), r.headers["etag"]
        settings = snap.settings.model_dump(mode="json")
        settings["calendar"] = {"closed_dates": [CLOSED], "late_opens": {"2025-11-13": "10:00"}}
        r = c.post("/api/v1/sync/push", headers={"If-Match": etag}, json={
            "settings": settings, "reason": "KRX closes on 2025-12-29 (not yet in XKRX)",
            "actor": "pytest"})
        assert r.status_code == 200, r.text
        revision = r.json()["revision"]
        if r.json()["replan"] == "scheduled":
            wait_replanned(c, revision)

        audit = c.get("/api/v1/audit", params={"limit": 20}).json()
        pushed = [e for e in audit if "calendar.closed_dates" in str(e)]
        assert pushed, audit
        assert "calendar.late_opens" in str(pushed[-1])

        r = c.post("/api/v1/ops/cycle", json={"asof": CLOSED})
        assert r.status_code == 200, r.text
        s = CycleResponse.model_validate_json(r.content).summary
        assert s.holiday is True and s.stage is Stage.NO_ACTION_TODAY and s.asof is None
        assert [k.code for k in s.risks] == ["HOLIDAY"]
        assert "closed_dates" in s.risks[0].message and CLOSED in s.message
        assert c.get("/api/v1/sync/snapshot").json()["settings"]["calendar"][
            "closed_dates"] == [CLOSED]


def test_calendar_override_moves_the_trade_date_of_the_morning_text() -> None:
    """The session the plan's orders are typed on skips a closed date."""
    from datetime import date

    from contracts.settings import Settings
    from oci_backend.render import trade_date

    closed = Settings.model_validate({"calendar": {"closed_dates": ["2025-12-29"]}})
    assert trade_date(date(2025, 12, 26), None) == date(2025, 12, 29)
    assert trade_date(date(2025, 12, 26), Settings()) == date(2025, 12, 29)
    assert trade_date(date(2025, 12, 26), closed) == date(2025, 12, 30)
