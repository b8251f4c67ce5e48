"""`GET /api/v1/audit` filters over HTTP."""

from __future__ import annotations

import pytest
from oci_server import OciServer, error_of, wait_replanned

pytestmark = pytest.mark.integration


def test_audit_filters_by_action_target_since_and_limit(oci_server: OciServer) -> None:
    with oci_server.client() as c:
        for i in range(3):
            r = c.get("/api/v1/sync/snapshot")
            portfolio = r.json()["portfolio"] | {"cash": 1_000_000 + i}
            assert c.post("/api/v1/sync/push", json={"portfolio": portfolio, "reason": f"p{i}"},
                          headers={"If-Match": r.headers["etag"]}).status_code == 200
        wait_replanned(c, 4)  # the background re-plans land before the stop
        assert c.post("/api/v1/emergency-stop", json={"on": True, "reason": "x"}).status_code == 200

        everything = c.get("/api/v1/audit").json()
        actions = [e["action"] for e in everything]
        assert actions[0] == "INIT" and actions.count("PUSH") == 3
        assert "DAILY_RUN" in actions and actions[-1] == "EMERGENCY_STOP"

        pushes = c.get("/api/v1/audit", params={"action": "PUSH", "limit": 2}).json()
        assert [e["reason"] for e in pushes] == ["p1", "p2"]  # newest 2, oldest first
        assert [e["target"] for e in c.get("/api/v1/audit",
                                           params={"target": "emergency"}).json()] == [
            "emergency_stop"]
        cut = pushes[0]["at"]
        since = c.get("/api/v1/audit", params={"since": cut, "action": "PUSH"}).json()
        assert [e["reason"] for e in since] == ["p1", "p2"]

        for params, field in (({"limit": 0}, "limit"), ({"action": "NOPE"}, "action"),
                              ({"since": "2025-12-29T09:00:00"}, "since")):
            r = c.get("/api/v1/audit", params=params)
            assert r.status_code == 422 and error_of(r)["field"] == field, r.text
