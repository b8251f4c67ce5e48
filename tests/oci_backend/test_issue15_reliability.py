"""Issue 15 regression tests, one (or a few) per defect, named after it: the emergency stop
never fails open (1), the journal is verified before it is replayed (2), error answers never say
"nothing was changed" when something was (3), the plan race (13), the clock cannot rewind the
book (5), unreadable state is a clear degraded answer (4), secrets out of the audit log (10)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from oci_server import (
    REPO,
    OciServer,
    ServerFactory,
    error_of,
    start_limited_server,
    stop_server,
    wait_replanned,
)
from ticket_fixtures import ready_ticket, snapshot_of, switch_to_manual

from contracts.ops import Health
from contracts.ticket import Ticket

pytestmark = pytest.mark.integration

# Tuesday 2025-12-30 10:00 KST: the cycle plans 2025-12-29, the real data's last session.
NOW = {"KRX_OCI_NOW": "2025-12-30T10:00:00+09:00"}



def _health(c: httpx.Client) -> Health:
    r = c.get("/health")
    assert r.status_code == 200, r.text
    return Health.model_validate_json(r.content)



def _submit(c: httpx.Client, ticket: Ticket) -> httpx.Response:
    return c.post("/api/v1/tickets", json=ticket.model_dump(mode="json"),
                  headers={"Idempotency-Key": str(uuid.uuid4())})


def _stop(c: httpx.Client, on: bool) -> httpx.Response:
    return c.post("/api/v1/emergency-stop", json={"on": on, "reason": "issue 15 test",
                                                  "by": "tester"})


# -- defect 1: the emergency stop never fails open ------------------------------------------
def test_defect1_deleted_stop_file_fails_closed(oci_server_factory: ServerFactory) -> None:
    server: OciServer = oci_server_factory(env=NOW)
    assert server.paths.emergency_stop.exists(), "the stop file is created at initialisation"
    with server.client() as c:
        ticket = ready_ticket(c)
        assert _stop(c, True).status_code == 200
        server.paths.emergency_stop.unlink()

        refused = _submit(c, ticket)
        assert refused.status_code == 423, refused.text
        assert error_of(refused)["error"] == "EMERGENCY_STOP"
        assert "unreadable" in error_of(refused)["message"].lower()
        assert not list(server.paths.ticket_box("submitted").glob("*.json"))

        health = _health(c)
        assert health.status == "degraded" and health.emergency_stop is True
        assert health.error and str(server.data_dir) not in health.error
        assert snapshot_of(c).emergency_stop.on is True
        got = c.get("/api/v1/emergency-stop")
        assert got.status_code == 200 and got.json()["on"] is True


def test_defect1_corrupt_stop_file_can_always_be_engaged(
        oci_server_factory: ServerFactory) -> None:
    server: OciServer = oci_server_factory(env=NOW)
    with server.client() as c:
        server.paths.emergency_stop.write_text("{not json", encoding="utf-8")
        assert snapshot_of(c).emergency_stop.on is True, "a damaged stop counts as ON"
        assert _health(c).status == "degraded"

        released = _stop(c, False)  # releasing needs a valid file
        assert released.status_code >= 400
        assert server.paths.emergency_stop.read_text(encoding="utf-8") == "{not json"

        engaged = _stop(c, True)
        assert engaged.status_code == 200, engaged.text
        assert engaged.json()["on"] is True
        audit = c.get("/api/v1/audit", params={"action": "EMERGENCY_STOP"}).json()
        assert "rewrote_damaged_stop_file" in audit[-1]["details"]
        assert _health(c).status == "ok"

        assert _stop(c, False).status_code == 200
        snap = snapshot_of(c)
        assert snap.emergency_stop.on is False


# -- defect 2: the journal is verified before it is replayed ----------------------------------
def test_defect2_garbage_journal_over_http_is_refused_and_reported(
        oci_server_factory: ServerFactory) -> None:
    server: OciServer = oci_server_factory(env=NOW)
    with server.client() as c:
        before = server.paths.portfolio.read_bytes()
        etag = c.get("/api/v1/sync/snapshot").headers["etag"]
        server.paths.journal.write_text(
            '{"writes": [{"name": "portfolio", "text": "garbage"}], "audit": "{}"}',
            encoding="utf-8")
        snap = c.get("/api/v1/sync/snapshot")
        assert snap.status_code == 200 and snap.headers["etag"] == etag
        health = _health(c)
        assert health.status == "degraded" and health.error
        assert health.error.startswith("JOURNAL_REFUSED") and str(server.data_dir) not in \
            health.error
        assert server.paths.portfolio.read_bytes() == before
        assert list(server.paths.state_dir.glob("journal.refused-*.json"))


# -- defect 3: an error answer never says "nothing was changed" when something was ------------
def test_defect3_audit_append_efbig_answers_503_accepted_and_completes(tmp_path: Path) -> None:
    limit = 64 * 1024
    server = start_limited_server(tmp_path, limit)
    try:
        with server.client() as c:
            etag = c.get("/api/v1/sync/snapshot").headers["etag"]
            audit = server.paths.audit
            # Fill the audit log (blank lines: readers skip them) to just under the limit, so
            # the journal and the state files fit but the audit append does not.
            pad = limit - audit.stat().st_size - 200
            with open(audit, "ab") as fh:
                fh.write(b"\n" * pad)
            r = c.post("/api/v1/sync/push", headers={"If-Match": etag},
                       json={"reason": "efbig", "portfolio": {"cash": 1234.0}})
            assert r.status_code == 503, r.text
            err = error_of(r)
            assert err["error"] == "ACCEPTED_PENDING"
            assert "nothing was changed" not in err["message"]
            assert str(server.data_dir) not in err["message"]
            assert server.paths.journal.exists()
            health = _health(c)
            assert health.status == "degraded" and health.error
            assert health.error.startswith("JOURNAL_PENDING")

            # The stop does not overwrite the pending journal: it replays it first.
            stop = _stop(c, True)
            assert stop.status_code == 503, stop.text
            assert server.paths.journal.exists()

            # Space is freed: the accepted change lands, with its audit line.
            lines = [ln for ln in audit.read_bytes().split(b"\n") if ln.strip()]
            audit.write_bytes(b"\n".join(lines) + b"\n")
            snap = snapshot_of(c)
            assert snap.portfolio.cash == 1234.0 and snap.revision == int(etag.strip('"')) + 1
            pushes = c.get("/api/v1/audit", params={"action": "PUSH"}).json()
            assert pushes[-1]["revision_after"] == snap.revision
            assert not server.paths.journal.exists()
            assert _health(c).status == "ok"
    finally:
        stop_server(server)


def test_defect3_write_failure_names_its_cause() -> None:
    import errno

    from krx_common.atomic import WriteFailed

    ro = WriteFailed(Path("/data/state/portfolio.json"), OSError(errno.EROFS, "Read-only"))
    assert "read-only" in str(ro) and "free disk space" not in str(ro)
    assert "/data/state" not in str(ro)
    acc = WriteFailed(Path("/data/state/portfolio.json"), OSError(errno.EACCES, "Permission"))
    assert "permission" in str(acc) and "free disk space" not in str(acc)
    assert "free disk space" in str(WriteFailed(Path("x"), OSError(errno.ENOSPC, "full")))


# -- defect 13: recording MANUAL fills re-plans, as a PUSH does --------------------------------
def test_defect13_manual_fills_trigger_a_replan(oci_server_factory: ServerFactory) -> None:
    server: OciServer = oci_server_factory(env=NOW)
    with server.client() as c:
        assert c.post("/api/v1/ops/cycle").status_code == 200
        push = switch_to_manual(c)
        assert push.status_code == 200, push.text
        wait_replanned(c, push.json()["revision"])
        ticket = ready_ticket(c)
        assert _submit(c, ticket).status_code == 201
        out = subprocess.run([sys.executable, "-m", "krx_cli.main", "oci", "process-tickets",
                              "--data-dir", str(server.data_dir)], cwd=REPO,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        fills = [{"ticker": o.ticker, "side": o.side.value, "qty": o.qty,
                  "price": float(o.limit_price)} for o in ticket.orders]
        ok = c.post(f"/api/v1/tickets/{ticket.ticket_id}/fills",
                    json={"final": True, "fills": fills})
        assert ok.status_code == 200, ok.text
        revision = snapshot_of(c).portfolio.revision
        snap = wait_replanned(c, revision, timeout=30)
        assert snap["summary"]["portfolio_revision"] == revision
        plan = c.get("/api/v1/plans/current").json()
        assert plan["portfolio_revision"] == revision


# -- defect 4: unreadable state gives a clear degraded answer, never a crash loop -------------
def test_defect4_journal_as_a_directory_starts_degraded(oci_server_factory: ServerFactory,
                                                        tmp_path: Path) -> None:
    root = tmp_path / "root"
    first = oci_server_factory(env=NOW, data_dir=root)
    stop_server(first)
    (root / "state" / "journal.json").mkdir()
    server = oci_server_factory(env=NOW, data_dir=root)  # waits for /health 200
    with server.client() as c:
        health = _health(c)
        assert health.status == "degraded" and health.error
        assert health.error.startswith("JOURNAL_REFUSED") and str(root) not in health.error
        assert snapshot_of(c).revision == 1


def test_defect4_unreadable_state_file_is_degraded_with_a_code_and_no_path(
        oci_server_factory: ServerFactory) -> None:
    server: OciServer = oci_server_factory(env=NOW)
    portfolio = server.paths.portfolio
    portfolio.unlink()
    portfolio.mkdir()  # read_text fails with an OSError, as for a file it may not read
    with server.client() as c:
        r = c.get("/health")
        assert r.status_code == 200, r.text
        health = Health.model_validate_json(r.content)
        assert health.status == "degraded" and health.error
        assert health.error.startswith("CORRUPT_FILE: portfolio.json")
        assert str(server.data_dir) not in r.text
        snap = c.get("/api/v1/sync/snapshot")
        assert snap.status_code == 500
        assert error_of(snap)["error"] == "CORRUPT_FILE"
        assert error_of(snap)["file"] == "portfolio.json"
        assert str(server.data_dir) not in snap.text and "/state/" not in snap.text
        # The stop can still be engaged.
        assert _stop(c, True).status_code == 200
    portfolio.rmdir()
    restarted = oci_server_factory(env=NOW, data_dir=server.data_dir)
    with restarted.client() as c:
        assert _health(c).status == "degraded"  # missing after init: refused, not recreated


# -- defect 10 (first half): apprise URL credentials out of the audit log and the snapshot ---
def test_defect10_apprise_credentials_are_masked_in_audit_and_snapshot(
        oci_server_factory: ServerFactory) -> None:
    secret = "123456789:AAHsecretBotTokenXYZ"
    url = f"tgram://{secret}/987654321"
    server: OciServer = oci_server_factory(env=NOW)
    with server.client() as c:
        r = c.get("/api/v1/sync/snapshot")
        settings = r.json()["settings"]
        settings["notifications"]["apprise_urls"] = [url]
        push = c.post("/api/v1/sync/push", json={"settings": settings, "reason": "notify"},
                      headers={"If-Match": r.headers["etag"]})
        assert push.status_code == 200, push.text
        audit = c.get("/api/v1/audit")
        snap = c.get("/api/v1/sync/snapshot")
        for text in (audit.text, snap.text,
                     server.paths.audit.read_text(encoding="utf-8")):
            assert secret not in text
        masked = snap.json()["settings"]["notifications"]["apprise_urls"]
        assert len(masked) == 1 and masked[0].startswith("tgram://***")
        # The stored URL is intact (notifications still work).
        assert url in server.paths.settings.read_text(encoding="utf-8")

        # A PULL pushed back unchanged restores the masked URL: nothing changes.
        same = c.post("/api/v1/sync/push", json={"settings": snap.json()["settings"],
                                                 "reason": "round trip"},
                      headers={"If-Match": snap.headers["etag"]})
        assert same.status_code == 200 and same.json()["changed"] == [], same.text
        assert url in server.paths.settings.read_text(encoding="utf-8")
        # A masked URL that masks nothing stored is refused, naming the field.
        bogus = snap.json()["settings"]
        bogus["notifications"]["apprise_urls"] = ["tgram://***00000000"]
        bad = c.post("/api/v1/sync/push", json={"settings": bogus, "reason": "x"},
                     headers={"If-Match": snap.headers["etag"]})
        assert bad.status_code == 422, bad.text
        assert error_of(bad)["field"] == "settings.notifications.apprise_urls[0]"
