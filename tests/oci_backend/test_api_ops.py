"""The cycle trigger over HTTP on the real KRX data: replay, refusals, busy lock, holiday,
stale data, and the stage shown in the snapshot."""

from __future__ import annotations

import time

import httpx
import pytest
from filelock import FileLock
from oci_server import OciServer, ServerFactory, error_of, hash_tree, wait_replanned

from contracts.ops import CycleResponse, Health
from contracts.plan import OrderPlan
from contracts.summary import OverallStatus, Stage
from contracts.sync import SyncSnapshot

pytestmark = pytest.mark.integration

REPLAY = "2025-12-29"  # the last session of the real data set


@pytest.fixture
def replay_server(oci_server_factory: ServerFactory, tmp_path) -> OciServer:
    """A server on a replay data root (created explicitly, as `krx replay` does)."""
    from contracts.settings import Settings
    from oci_backend.paths import data_paths
    from oci_backend.replay_root import create_replay_root

    root = tmp_path / "replay-root"
    create_replay_root(data_paths(root), label="api test", data_spec="csv", settings=Settings())
    return oci_server_factory(data_dir=root)


def _cycle(c: httpx.Client, body: dict | None = None) -> httpx.Response:
    return c.post("/api/v1/ops/cycle", json=body) if body is not None else c.post(
        "/api/v1/ops/cycle")


def _snapshot(c: httpx.Client) -> SyncSnapshot:
    r = c.get("/api/v1/sync/snapshot")
    assert r.status_code == 200, r.text
    return SyncSnapshot.model_validate_json(r.content)


def _set_mode(c: httpx.Client, mode: str) -> None:
    r = c.get("/api/v1/sync/snapshot")
    settings = r.json()["settings"]
    settings["execution_mode"] = mode
    push = c.post("/api/v1/sync/push", json={"settings": settings, "reason": f"mode {mode}"},
                  headers={"If-Match": r.headers["etag"]})
    assert push.status_code == 200, push.text
    wait_replanned(c, push.json()["revision"])


def test_cycle_replay_root_replays_in_dry_run_and_manual_a_live_root_refuses(
    replay_server: OciServer, oci_server: OciServer,
) -> None:
    with oci_server.client() as live:
        before = hash_tree(oci_server.data_dir)
        refused = _cycle(live, {"asof": REPLAY})
        assert refused.status_code == 409
        err = error_of(refused)
        assert err["error"] == "ASOF_REPLAY_REFUSED" and err["field"] == "asof"
        assert "live data root" in err["message"] and "krx replay" in err["message"]
        assert hash_tree(oci_server.data_dir) == before
    with replay_server.client() as c:
        assert c.get("/api/v1/plans/current").status_code == 404
        r = _cycle(c, {"asof": REPLAY})
        assert r.status_code == 200, r.text
        res = CycleResponse.model_validate_json(r.content)
        s = res.summary
        assert str(s.asof) == REPLAY and s.freshness is not None and not s.freshness.stale
        assert s.freshness.provider == "csv" and s.freshness.synthetic is False
        assert s.status in (OverallStatus.OK, OverallStatus.WARN)
        assert res.exit_code == (0 if s.status is OverallStatus.OK else 2)  # WARN exits 2
        assert s.stage is Stage.PLAN_READY  # 2025-12-29: BULL, one RSI-dip buy (305720)
        assert s.signals is not None and len(s.signals.tickers) == 5

        plan = OrderPlan.model_validate_json(c.get("/api/v1/plans/current").content)
        assert plan.plan_id == res.plan_id and str(plan.asof) == REPLAY
        assert c.get(f"/api/v1/plans/{plan.plan_id}").json()["plan_id"] == plan.plan_id
        snap = _snapshot(c)
        assert snap.summary is not None and snap.summary.stage == s.stage
        assert snap.plan is not None and snap.plan.plan_id == plan.plan_id
        health = Health.model_validate_json(c.get("/health").content)
        assert health.last_cycle is not None and str(health.last_cycle.asof) == REPLAY
        assert health.last_cycle.status == s.status and health.revision == 1
        assert any(r.code == "REPLAY" for r in s.risks)  # labelled

        # Same inputs → same content-addressed plan id.
        again = CycleResponse.model_validate_json(_cycle(c, {"asof": REPLAY}).content)
        assert again.plan_id == res.plan_id

        _set_mode(c, "MANUAL")
        manual = _cycle(c, {"asof": REPLAY})
        assert manual.status_code == 200, manual.text
        assert CycleResponse.model_validate_json(manual.content).summary.execution_mode.value \
            == "MANUAL"


def test_cycle_is_409_while_another_holds_the_cycle_lock(replay_server: OciServer) -> None:
    oci_server = replay_server
    with oci_server.client() as c:
        before = hash_tree(oci_server.data_dir)
        with FileLock(str(oci_server.paths.cycle_lock)):
            r = _cycle(c, {"asof": REPLAY})
            assert r.status_code == 409
            assert error_of(r)["error"] == "CYCLE_BUSY"
        assert hash_tree(oci_server.data_dir) == before
        assert _cycle(c, {"asof": REPLAY}).status_code == 200


@pytest.mark.parametrize(("asof", "why"), [
    ("2025-12-25", "not an XKRX session"),  # Christmas
    ("2025-12-27", "not an XKRX session"),  # Saturday
    ("2031-01-03", "has not closed yet"),
    ("1999-01-04", "outside the XKRX calendar"),
    ("29-12-2025", "date"),
])
def test_cycle_bad_asof_is_422_and_changes_nothing(replay_server: OciServer, asof: str,
                                                   why: str) -> None:
    oci_server = replay_server
    with oci_server.client() as c:
        before = hash_tree(oci_server.data_dir)
        r = _cycle(c, {"asof": asof})
        assert r.status_code == 422, r.text
        err = error_of(r)
        assert err["field"] == "asof" and why in err["message"], err
        extra = _cycle(c, {"asof": REPLAY, "when": "now"})
        assert extra.status_code == 422 and error_of(extra)["field"] == "when"
    assert hash_tree(oci_server.data_dir) == before


def test_cycle_without_asof_on_old_data_is_blocked_data_stale(
    oci_server_factory: ServerFactory,
) -> None:
    # Tuesday 2026-01-06: the last completed session is 2026-01-05, the data ends 2025-12-29.
    server = oci_server_factory(env={"KRX_OCI_NOW": "2026-01-06T10:00:00+09:00"})
    with server.client() as c:
        r = _cycle(c)
        assert r.status_code == 200, r.text
        res = CycleResponse.model_validate_json(r.content)
        s = res.summary
        assert res.exit_code == 2
        assert s.status is OverallStatus.BLOCKED and s.stage is Stage.BLOCKED
        assert str(s.asof) == "2026-01-05"
        assert s.freshness is not None and s.freshness.stale
        assert s.plan is not None and "DATA_STALE" in s.plan.reasons
        assert any(risk.code == "DATA_STALE" for risk in s.risks)
        plan = c.get("/api/v1/plans/current").json()
        assert plan["decision"] == "BLOCKED" and plan["orders"] == []
        assert _snapshot(c).summary.stage is Stage.BLOCKED  # type: ignore[union-attr]


def test_cycle_on_a_holiday_writes_a_holiday_summary_and_no_plan(
    oci_server_factory: ServerFactory,
) -> None:
    server = oci_server_factory(env={"KRX_OCI_NOW": "2026-01-01T09:05:00+09:00"})
    with server.client() as c:
        r = _cycle(c)
        assert r.status_code == 200, r.text
        res = CycleResponse.model_validate_json(r.content)
        s = res.summary
        assert s.holiday and s.asof is None and s.plan is None and res.plan_id is None
        assert s.stage is Stage.NO_ACTION_TODAY and res.exit_code == 2
        assert any(risk.code == "HOLIDAY" for risk in s.risks)
        missing = c.get("/api/v1/plans/current")
        assert missing.status_code == 404 and error_of(missing)["error"] == "NO_PLAN"
        assert c.get("/health").json()["last_cycle"]["status"] == "WARN"


def test_stage_transitions_visible_in_the_snapshot(oci_server_factory: ServerFactory) -> None:
    # Tuesday 2025-12-30 10:00 KST: the last completed session is the data's last one.
    server = oci_server_factory(env={"KRX_OCI_NOW": "2025-12-30T10:00:00+09:00"})
    with server.client() as c:
        res = CycleResponse.model_validate_json(_cycle(c).content)
        ready = res.summary.stage
        assert ready is Stage.PLAN_READY
        assert _snapshot(c).summary.stage is ready  # type: ignore[union-attr]

        on = c.post("/api/v1/emergency-stop", json={"on": True, "reason": "drill", "by": "qa"})
        assert on.status_code == 200 and on.json()["on"] is True
        snap = _snapshot(c)
        assert snap.emergency_stop.on and snap.summary.stage is Stage.STOPPED  # type: ignore

        # A cycle while stopped plans BLOCKED with the reason.
        blocked = CycleResponse.model_validate_json(_cycle(c).content)
        assert blocked.summary.stage is Stage.STOPPED
        assert "EMERGENCY_STOP" in blocked.summary.plan.reasons  # type: ignore[union-attr]

        off = c.post("/api/v1/emergency-stop", json={"on": False, "reason": "drill over"})
        assert off.status_code == 200 and off.json()["on"] is False
        # Switching off re-plans in the background; wait until the stage leaves STOPPED.
        deadline = time.monotonic() + 60
        while (snap := _snapshot(c)).summary.stage is Stage.STOPPED:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "stop off was never re-planned"
            time.sleep(0.05)
        assert snap.summary.stage is ready and snap.plan.plan_id == res.plan_id  # type: ignore
        assert c.get("/api/v1/emergency-stop").json()["on"] is False
        stops = c.get("/api/v1/audit", params={"action": "EMERGENCY_STOP"}).json()
        assert [e["changes"][0]["after"] for e in stops] == [True, False]
