"""OCI in BROKER_PAPER against the KIS fake, both real processes over HTTP: the mode guard,
a ticket sent once and filled, reconciliation (clean, then drift caught with the fields
named), the emergency stop cancelling open orders, and no secret outside the two 0600 files.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from broker_stack import (
    SESSION,
    broker_env,
    broker_ticket,
    push_mode,
    register,
    replay_root,
    submit,
    wait_state,
    write_credentials,
)
from oci_server import error_of

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "broker"))
from fake_kis_server import running_fake_kis  # noqa: E402

pytestmark = pytest.mark.integration


def test_broker_modes_are_refused_without_credentials_naming_the_field(oci_server):
    with oci_server.client() as c:
        before = c.get("/api/v1/sync/snapshot").headers["etag"]
        for mode in ("BROKER_PAPER", "BROKER_LIVE"):
            r = push_mode(c, mode, live_trading_acknowledged=True)
            assert r.status_code == 422, r.text
            body = error_of(r)
            assert body["field"] == "settings.execution_mode"
            assert "KRX_KIS_CREDENTIALS_FILE" in body["message"]
        assert c.get("/api/v1/sync/snapshot").headers["etag"] == before
        r = c.get("/api/v1/broker/status")
        assert r.status_code == 200 and r.json()["configured"] is False
        r = c.post("/api/v1/broker/reconcile")
        assert r.status_code == 409 and error_of(r)["error"] == "BROKER_NOT_CONFIGURED"


def test_server_refuses_to_start_on_a_credentials_file_open_to_others(tmp_path):
    from oci_backend.broker_link import open_broker
    from oci_backend.config import ConfigError, OciConfig
    from oci_backend.paths import data_paths

    keys = write_credentials(tmp_path, mode=0o644)
    cfg = OciConfig(token="x" * 30, kis_credentials_file=keys.path)
    with pytest.raises(ConfigError) as exc:
        open_broker(cfg, data_paths(tmp_path / "d"))
    assert "chmod 600" in str(exc.value) and keys.app_secret not in str(exc.value)


def test_a_paper_key_on_the_real_domain_fails_at_start_up(oci_server_factory, tmp_path):
    keys = write_credentials(tmp_path)
    with running_fake_kis(tmp_dir=tmp_path, domain="real", session_date=SESSION) as kis:
        register(kis, keys)
        with pytest.raises(RuntimeError) as exc:
            oci_server_factory(env=broker_env(kis, keys),
                               data_dir=replay_root(tmp_path / "root"))
    out = str(exc.value)
    assert "EGW02004" in out and "paper" in out
    assert keys.app_key not in out and keys.app_secret not in out


def test_broker_paper_ticket_is_sent_once_filled_reconciled_and_drift_is_caught(
        oci_server_factory, tmp_path):
    keys = write_credentials(tmp_path)
    with running_fake_kis(tmp_dir=tmp_path, session_date=SESSION, cash=10_000_000) as kis:
        register(kis, keys)
        server = oci_server_factory(env=broker_env(kis, keys, KRX_OCI_RECONCILE_EVERY_S="1"),
                                    data_dir=replay_root(tmp_path / "root"))
        with server.client() as c:
            # BROKER_LIVE with paper credentials (and without the acknowledgement): refused
            r = push_mode(c, "BROKER_LIVE")
            assert r.status_code == 422 and error_of(r)["field"] == "settings.execution_mode"
            r = push_mode(c, "BROKER_PAPER")
            assert r.status_code == 200, r.text
            modes = c.get("/api/v1/audit", params={"action": "MODE_CHANGE"}).json()
            assert [e["details"]["to"] for e in modes] == ["BROKER_PAPER"]

            ticket = broker_ticket(c)
            assert ticket["mode"] == "BROKER_PAPER"
            r = submit(c, ticket)
            assert r.status_code == 201, r.text
            rec = wait_state(c, ticket["ticket_id"], {"FILLED", "CANCELLED", "BROKER_REJECTED"})
            assert rec["state"] == "FILLED", rec["message"]
            lines = rec["broker_lines"]
            assert lines and all(ln["order_no"] and ln["state"] == "FILLED" for ln in lines)
            # one order per line at the fake, none twice
            orders = [o for o in kis.state()["orders"] if o["source"] != "hts"]
            assert sorted(o["odno"] for o in orders) == sorted(ln["order_no"] for ln in lines)

            r = c.post("/api/v1/broker/reconcile")
            assert r.status_code == 200, r.text
            clean = r.json()
            assert clean["clean"] is True, clean["diffs"]

            # drift 1: a sell placed directly at the broker ("at the HTS")
            held = clean["broker_holdings"][0]
            from contracts.instruments import instrument
            from strategy.ticketing import krx_tick

            kind = instrument(held["ticker"]).kind
            tick = krx_tick(held["avg_price"], kind)
            limit = int(held["avg_price"] * 0.9) // tick * tick  # marketable: fills at the open
            r = kis.control("hts-order", side="SELL", ticker=held["ticker"], qty=1, limit=limit)
            assert "odno" in r, r
            # caught by the processor's own reconciliation within one cycle
            deadline = time.monotonic() + 20
            while True:
                last = c.get("/api/v1/broker/status").json()["last_reconciliation"]
                if last is not None and not last["clean"]:
                    break
                assert time.monotonic() < deadline, last
                time.sleep(0.2)
            assert {"cash", f"holdings[{held['ticker']}].qty"} <= {
                d["field"] for d in last["diffs"]}
            drift = c.post("/api/v1/broker/reconcile").json()
            fields = {d["field"] for d in drift["diffs"]}
            assert drift["clean"] is False
            assert {"cash", f"holdings[{held['ticker']}].qty"} <= fields
            snap = c.get("/api/v1/sync/snapshot").json()
            assert any(r["code"] == "BROKER_DRIFT" and r["severity"] == "CRITICAL"
                       for r in snap["summary"]["risks"])
            incidents = c.get("/api/v1/audit", params={"action": "INCIDENT"}).json()
            # raised once, however often it was found again
            assert [e["details"]["incident"] for e in incidents] == ["BROKER_DRIFT"]
            # resolved by taking the broker's: a PUSH with the reason; clean again
            r = c.post("/api/v1/broker/reconcile/resolve",
                       json={"choice": "take_broker", "reason": "sold at the HTS"})
            assert r.status_code == 200 and r.json()["clean"] is True, r.text

            # drift 2: a hand-edited book
            snap = c.get("/api/v1/sync/snapshot")
            portfolio = snap.json()["portfolio"]
            portfolio["holdings"][0]["avg_price"] += 100
            r = c.post("/api/v1/sync/push", json={"portfolio": portfolio, "reason": "typo"},
                       headers={"If-Match": snap.headers["etag"]})
            assert r.status_code == 200, r.text
            drift = c.post("/api/v1/broker/reconcile").json()
            t = portfolio["holdings"][0]["ticker"]
            assert [d["field"] for d in drift["diffs"]] == [f"holdings[{t}].avg_price"]

        # no secret in the server's output or any file but the two 0600 ones
        secrets_ = (keys.app_key, keys.app_secret)
        assert not any(s in server.output() for s in secrets_)
        token_cache = server.paths.kis_token_cache
        for path in [*server.data_dir.rglob("*"), *tmp_path.rglob("*.log")]:
            if path.is_file() and path not in (keys.path, token_cache):
                text = path.read_bytes()
                assert not any(s.encode() in text for s in secrets_), path
        if token_cache.exists():
            assert token_cache.stat().st_mode & 0o077 == 0


def test_emergency_stop_cancels_every_open_broker_order(oci_server_factory, tmp_path):
    keys = write_credentials(tmp_path)
    # "preopen": limits rest unfilled until the fake steps into the open
    with running_fake_kis(tmp_dir=tmp_path, session_date=SESSION, cash=10_000_000,
                          phase="preopen") as kis:
        register(kis, keys)
        server = oci_server_factory(env=broker_env(kis, keys),
                                    data_dir=replay_root(tmp_path / "root"))
        with server.client() as c:
            assert push_mode(c, "BROKER_PAPER").status_code == 200
            ticket = broker_ticket(c)
            assert submit(c, ticket).status_code == 201
            rec = wait_state(c, ticket["ticket_id"], {"SENT"})
            assert all(ln["state"] == "SENT" for ln in rec["broker_lines"])
            r = c.post("/api/v1/emergency-stop", json={"on": True, "reason": "drill"})
            assert r.status_code == 200, r.text
            rec = c.get(f"/api/v1/tickets/{ticket['ticket_id']}").json()
            assert rec["state"] == "CANCELLED"
            state = kis.state()
            mine = [o for o in state["orders"] if o["source"] != "hts" and not o["cancels"]]
            assert mine and all(o["remaining"] == 0 and o["filled"] == 0 for o in mine)
            before = c.get("/api/v1/sync/snapshot").json()["portfolio"]
            kis.control("session", phase="open")  # nothing can fill any more
            kis.control("step")
            time.sleep(1.0)  # several processor passes
            after = c.get("/api/v1/sync/snapshot").json()["portfolio"]
            assert after == before and after["holdings"] == []


def test_manual_mode_with_credentials_imports_the_hts_fills_of_the_ticket(
        oci_server_factory, tmp_path):
    keys = write_credentials(tmp_path)
    with running_fake_kis(tmp_dir=tmp_path, session_date=SESSION, cash=10_000_000) as kis:
        register(kis, keys)
        server = oci_server_factory(env=broker_env(kis, keys),
                                    data_dir=replay_root(tmp_path / "root"))
        with server.client() as c:
            assert push_mode(c, "MANUAL").status_code == 200
            ticket = broker_ticket(c)
            assert ticket["mode"] == "MANUAL"
            assert submit(c, ticket).status_code == 201
            wait_state(c, ticket["ticket_id"], {"AWAITING_MANUAL_EXECUTION"})
            # the operator types the orders at the HTS; OCI places nothing itself
            for o in ticket["orders"]:
                r = kis.control("hts-order", side=o["side"], ticker=o["ticker"], qty=o["qty"],
                                limit=o["limit_price"])
                assert "odno" in r, r
            rec = wait_state(c, ticket["ticket_id"], {"FILLS_RECORDED"})
            assert sorted((f["side"], f["ticker"], f["qty"]) for f in rec["fills"]) == sorted(
                (o["side"], o["ticker"], o["qty"]) for o in ticket["orders"])
            assert all(o["source"] == "hts" for o in kis.state()["orders"])
            r = c.post("/api/v1/broker/reconcile")
            assert r.status_code == 200 and r.json()["clean"] is True, r.text
