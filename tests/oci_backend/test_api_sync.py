"""PULL / PUSH over HTTP: ETag, If-Match (428/409), validation (422), concurrency, re-plan."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from filelock import FileLock
from oci_server import OciServer, error_of, hash_tree, wait_replanned

from contracts.audit import AuditAction, AuditEntry
from contracts.sync import PushResponse, SyncSnapshot

pytestmark = pytest.mark.integration


def _snapshot(c: httpx.Client) -> tuple[SyncSnapshot, str]:
    r = c.get("/api/v1/sync/snapshot")
    assert r.status_code == 200, r.text
    return SyncSnapshot.model_validate_json(r.content), r.headers["etag"]


def _portfolio_body(snap: SyncSnapshot, cash: float, reason: str = "test push") -> dict:
    portfolio = snap.portfolio.model_dump(mode="json")
    portfolio["cash"] = cash
    return {"portfolio": portfolio, "reason": reason, "actor": "pytest"}


def test_snapshot_bundle_and_etag(oci_server: OciServer) -> None:
    with oci_server.client() as c:
        snap, etag = _snapshot(c)
    assert etag == f'"{snap.revision}"' == '"1"'
    assert snap.portfolio.cash == 10_000_000
    assert snap.settings.execution_mode.value == "DRY_RUN"
    assert snap.summary is None and snap.plan is None and snap.tickets == []
    assert snap.emergency_stop.on is False
    assert [e.action for e in snap.audit_tail] == [AuditAction.INIT]


def test_push_bumps_revision_audits_and_replans(oci_server: OciServer) -> None:
    with oci_server.client() as c:
        snap, etag = _snapshot(c)
        r = c.post("/api/v1/sync/push", json=_portfolio_body(snap, 9_000_000, "deposit fix"),
                   headers={"If-Match": etag})
        assert r.status_code == 200, r.text
        body = PushResponse.model_validate_json(r.content)
        assert body.revision == 2 and body.changed == ["portfolio"]
        assert r.headers["etag"] == '"2"'
        # Re-planned in the background; today's plan on data ending 2025-12-29 is BLOCKED
        # DATA_STALE, but it ran against the pushed revision.
        assert body.replan == "scheduled"
        wait_replanned(c, 2)
        after, etag2 = _snapshot(c)
        assert etag2 == '"2"' and after.portfolio.cash == 9_000_000
        assert after.summary is not None and after.summary.plan is not None
        assert after.plan is not None and after.plan.plan_id == after.summary.plan.plan_id
        assert after.summary.portfolio_revision == 2 and after.plan.portfolio_revision == 2

        pushes = [AuditEntry.model_validate(e) for e in
                  c.get("/api/v1/audit", params={"action": "PUSH"}).json()]
    assert len(pushes) == 1
    entry = pushes[0]
    assert (entry.actor, entry.reason, entry.revision_before, entry.revision_after) == (
        "pytest", "deposit fix", 1, 2)
    assert [(ch.path, ch.before, ch.after) for ch in entry.changes] == [
        ("portfolio.cash", 10_000_000.0, 9_000_000.0)]


def test_push_without_if_match_is_428(oci_server: OciServer) -> None:
    with oci_server.client() as c:
        snap, _ = _snapshot(c)
        before = hash_tree(oci_server.data_dir)
        r = c.post("/api/v1/sync/push", json=_portfolio_body(snap, 1.0))
        assert r.status_code == 428
        err = error_of(r)
        assert err["error"] == "PRECONDITION_REQUIRED" and err["field"] == "If-Match"
        assert "If-Match" in err["message"]
        bad = c.post("/api/v1/sync/push", json=_portfolio_body(snap, 1.0),
                     headers={"If-Match": "latest"})
        assert bad.status_code == 422 and error_of(bad)["field"] == "If-Match"
    assert hash_tree(oci_server.data_dir) == before


def test_push_with_stale_if_match_is_409_with_current_revision(oci_server: OciServer) -> None:
    with oci_server.client() as c:
        snap, etag = _snapshot(c)
        assert c.post("/api/v1/sync/push", json=_portfolio_body(snap, 5e6),
                      headers={"If-Match": etag}).status_code == 200
        wait_replanned(c, 2)
        before = hash_tree(oci_server.data_dir)
        for stale in (etag, '"0"', "7", 'W/"1"'):
            r = c.post("/api/v1/sync/push", json=_portfolio_body(snap, 4e6),
                       headers={"If-Match": stale})
            assert r.status_code == 409, (stale, r.text)
            err = error_of(r)
            assert err["error"] == "STALE_REVISION" and err["field"] == "If-Match"
            assert err["revision"] == 2 and r.headers["etag"] == '"2"'
            assert "PULL" in err["message"]
    assert hash_tree(oci_server.data_dir) == before


BAD_PUSHES = [
    # (name, body, expected field)
    ("negative qty", {"holdings": [{"ticker": "069500", "qty": -5, "avg_price": 100.0}]},
     "portfolio.holdings.0.qty"),
    ("unknown ticker", {"holdings": [{"ticker": "999999", "qty": 5, "avg_price": 100.0}]},
     "portfolio.holdings.0.ticker"),
    ("cash not a number", {"cash": "lots"}, "portfolio.cash"),
    ("negative cash", {"cash": -1}, "portfolio.cash"),
    ("unknown field", {"positions": []}, "portfolio.positions"),
]


@pytest.mark.parametrize(("name", "change", "field"), BAD_PUSHES, ids=[b[0] for b in BAD_PUSHES])
def test_push_schema_errors_are_422_naming_the_field(
    oci_server: OciServer, name: str, change: dict, field: str
) -> None:
    with oci_server.client() as c:
        snap, etag = _snapshot(c)
        body = _portfolio_body(snap, 1e6)
        body["portfolio"].update(change)
        before = hash_tree(oci_server.data_dir)
        r = c.post("/api/v1/sync/push", json=body, headers={"If-Match": etag})
        assert r.status_code == 422, r.text
        err = error_of(r)
        assert err["error"] == "VALIDATION_ERROR"
        assert err["field"] == field, err
        assert err["message"].startswith(field)
    assert hash_tree(oci_server.data_dir) == before


def test_push_invalid_json_and_empty_push_are_422(oci_server: OciServer) -> None:
    with oci_server.client() as c:
        _, etag = _snapshot(c)
        before = hash_tree(oci_server.data_dir)
        headers = {"If-Match": etag, "Content-Type": "application/json"}
        r = c.post("/api/v1/sync/push", content=b'{"reason": "x", "portfolio": {', headers=headers)
        assert r.status_code == 422
        assert error_of(r)["error"] == "INVALID_JSON" and error_of(r)["field"] == "body"
        r = c.post("/api/v1/sync/push", json={"reason": "nothing"}, headers={"If-Match": etag})
        assert r.status_code == 422 and error_of(r)["field"] == "body"
        assert "portfolio" in error_of(r)["message"]
        r = c.post("/api/v1/sync/push", json={"settings": {"universe": []}, "reason": "x"},
                   headers={"If-Match": etag})
        assert r.status_code == 422 and error_of(r)["field"] == "settings.universe"
        r = c.post("/api/v1/sync/push", json={"portfolio": {"cash": 1}}, headers={"If-Match": etag})
        assert r.status_code == 422 and error_of(r)["field"] == "reason"
    assert hash_tree(oci_server.data_dir) == before


def test_push_unchanged_content_keeps_the_revision(oci_server: OciServer) -> None:
    with oci_server.client() as c:
        snap, etag = _snapshot(c)
        r = c.post("/api/v1/sync/push", headers={"If-Match": etag},
                   json={"portfolio": snap.portfolio.model_dump(mode="json"), "reason": "noop"})
        assert r.status_code == 200
        assert r.json() == {"revision": 1, "changed": [], "replan": "none"}


def test_concurrent_pushes_with_one_revision_exactly_one_wins(oci_server: OciServer) -> None:
    n = 16
    with oci_server.client() as c:
        snap, etag = _snapshot(c)
    barrier = threading.Barrier(n)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def push(i: int) -> None:
        with oci_server.client() as client:  # one connection per client
            body = _portfolio_body(snap, 1_000_000 + i, f"racer {i}")
            barrier.wait()
            r = client.post("/api/v1/sync/push", json=body, headers={"If-Match": etag})
            with lock:
                results.append((r.status_code, r.json()))

    threads = [threading.Thread(target=push, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    codes = sorted(code for code, _ in results)
    assert codes == [200] + [409] * (n - 1), results
    winner = next(body for code, body in results if code == 200)
    assert winner["revision"] == 2
    assert all(body["revision"] == 2 for code, body in results if code == 409)
    with oci_server.client() as c:
        pushes = c.get("/api/v1/audit", params={"action": "PUSH"}).json()
        final, etag = _snapshot(c)
    assert len(pushes) == 1 and etag == '"2"'
    assert final.portfolio.cash == 1_000_000 + int(pushes[0]["reason"].split()[-1])


def test_push_while_a_cycle_runs_answers_at_once_and_replans_after_it(
    oci_server: OciServer,
) -> None:
    with oci_server.client() as c:
        snap, etag = _snapshot(c)
        lock = FileLock(str(oci_server.paths.cycle_lock))
        with lock:
            t0 = time.monotonic()
            r = c.post("/api/v1/sync/push", json=_portfolio_body(snap, 2e6),
                       headers={"If-Match": etag})
            assert time.monotonic() - t0 < 5  # not held up by the running cycle
            assert r.status_code == 200
            assert r.json()["revision"] == 2 and r.json()["replan"] == "scheduled"
            time.sleep(0.5)
            held = _snapshot(c)[0].summary
            assert held is None or held.portfolio_revision < 2  # waits for the cycle lock
        # The cycle finished: the re-plan is not lost, it runs now.
        after = wait_replanned(c, 2)
        assert after["summary"]["portfolio_revision"] == 2
