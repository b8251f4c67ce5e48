"""PULL, edit, diff, PUSH through a real PC backend in front of a real OCI backend; a PUSH that
lost the race is rebased field by field, and a real conflict blocks it with nothing pushed."""

from __future__ import annotations

import httpx
import pytest
from oci_server import OciServer, error_of  # noqa: I001
from pc_server import PcFactory, hash_files, stop_pc
from sshd import Sshd

pytestmark = pytest.mark.integration


def _settings(c: httpx.Client) -> dict:
    r = c.get("/api/v1/workspace/settings")
    assert r.status_code == 200, r.text
    return r.json()


def test_pc_pull_edit_diff_push_lands_on_oci(oci: OciServer, pc_factory: PcFactory) -> None:
    first = pc_factory(oci)
    with first.client() as c:
        assert error_of(c.get("/api/v1/snapshot"))["error"] == "NOT_PULLED"
        assert c.post("/api/v1/pull").status_code == 200
        s = _settings(c)
        s["strategy"]["rsi_period"] = 35
        assert c.put("/api/v1/workspace/settings", json=s).status_code == 200
    stop_pc(first)  # the edit survives a restart of the PC backend
    pc = pc_factory(oci)
    with pc.client() as c, oci.client() as o:
        assert [d["path"] for d in c.get("/api/v1/diff").json()["changes"]] == [
            "strategy.rsi_period"]
        assert c.delete("/api/v1/workspace/edits").json()["changes"] == []
        pulled = c.post("/api/v1/pull")
        assert pulled.status_code == 200, pulled.text
        rev = pulled.json()["revision"]
        assert pulled.json()["rebased"] is False
        assert c.get("/api/v1/snapshot").json()["revision"] == rev

        s = _settings(c)
        s["strategy"]["rsi_period"] = 35
        r = c.put("/api/v1/workspace/settings", json=s)
        assert r.status_code == 200, r.text
        diff = c.get("/api/v1/diff").json()
        assert diff["base_revision"] == rev
        assert diff["changes"] == [{"artifact": "settings", "path": "strategy.rsi_period",
                                    "base": 40, "mine": 35}]
        status = c.get("/api/v1/status").json()
        assert status["tunnel"]["state"] == "DIRECT"
        assert status["oci"]["reachable"] is True
        assert status["unpushed_edits"] == 1
        assert status["pulled_revision"] == rev

        pushed = c.post("/api/v1/push", json={"reason": "slower RSI", "actor": "tester"})
        assert pushed.status_code == 200, pushed.text
        body = pushed.json()
        assert body["revision"] == rev + 1 and body["changed"] == ["settings"]
        assert body["replan"] == "scheduled" and body["visible"] is True
        snap = o.get("/api/v1/sync/snapshot").json()
        assert snap["settings"]["strategy"]["rsi_period"] == 35
        assert max(snap["summary"]["portfolio_revision"],
                   snap["summary"]["settings_revision"]) >= rev + 1
        # the PC's base is now the pushed revision and nothing is left to push
        assert c.get("/api/v1/diff").json()["changes"] == []
        assert c.get("/api/v1/status").json()["pulled_revision"] >= rev + 1
        audit = c.get("/api/v1/audit", params={"action": "PUSH"}).json()
        assert audit[-1]["reason"] == "slower RSI"
        assert audit[-1]["changes"][0]["path"] == "settings.strategy.rsi_period"


def test_pc_push_after_another_push_rebases_or_reports_conflicts(
    oci: OciServer, pc_factory: PcFactory, sshd: Sshd,
) -> None:
    # Alice reaches OCI through the real SSH tunnel, Bob directly.
    a, b = pc_factory(oci, "alice", via=sshd), pc_factory(oci, "bob")
    with a.client() as ca, b.client() as cb:
        assert ca.post("/api/v1/pull").status_code == 200
        assert cb.post("/api/v1/pull").status_code == 200
        # Bob pushes first: rsi_period and adx_threshold.
        sb = _settings(cb)
        sb["strategy"]["rsi_period"] = 30
        sb["strategy"]["adx_threshold"] = 20.0
        assert cb.put("/api/v1/workspace/settings", json=sb).status_code == 200
        assert cb.post("/api/v1/push", json={"reason": "bob"}).status_code == 200

        # Alice changed a field Bob did not touch: rebased and pushed.
        sa = _settings(ca)
        sa["strategy"]["stop_loss_pct"] = 0.1
        assert ca.put("/api/v1/workspace/settings", json=sa).status_code == 200
        r = ca.post("/api/v1/push", json={"reason": "alice, tighter stop"})
        assert r.status_code == 200, r.text
        assert r.json()["rebased"] is True
        with oci.client() as o:
            strat = o.get("/api/v1/sync/snapshot").json()["settings"]["strategy"]
        assert (strat["rsi_period"], strat["adx_threshold"], strat["stop_loss_pct"]) == (
            30, 20.0, 0.1)

        # Now Alice edits rsi_period (Bob's field) from a stale base after Bob pushes again.
        assert cb.post("/api/v1/pull").status_code == 200
        sa = _settings(ca)
        sa["strategy"]["rsi_period"] = 45
        sa["strategy"]["max_positions"] = 4
        assert ca.put("/api/v1/workspace/settings", json=sa).status_code == 200
        sb = _settings(cb)
        sb["strategy"]["rsi_period"] = 25
        assert cb.put("/api/v1/workspace/settings", json=sb).status_code == 200
        assert cb.post("/api/v1/push", json={"reason": "bob again"}).status_code == 200
        with oci.client() as o:
            before = o.get("/api/v1/sync/snapshot").json()
        r = ca.post("/api/v1/push", json={"reason": "alice"})
        assert r.status_code == 409, r.text
        body = error_of(r)
        assert body["error"] == "CONFLICT"
        assert body["conflicts"] == [{"artifact": "settings", "path": "strategy.rsi_period",
                                      "base": 30, "mine": 45, "theirs": 25}]
        with oci.client() as o:
            after = o.get("/api/v1/sync/snapshot").json()
        assert after["revision"] == before["revision"]  # nothing pushed
        # the local edits are kept (mine on the conflicting field, the clean one rebased)
        local = _settings(ca)["strategy"]
        assert (local["rsi_period"], local["max_positions"]) == (45, 4)
        # still blocked until a side is picked
        again = ca.post("/api/v1/push", json={"reason": "alice"})
        assert again.status_code == 409 and error_of(again)["error"] == "CONFLICT"
        # bad pick names the field and changes nothing
        files = hash_files(a.workspace)
        bad = ca.post("/api/v1/conflicts/resolve", json={"choices": [
            {"artifact": "settings", "path": "strategy.adx_period", "pick": "mine"}]})
        assert bad.status_code == 422 and error_of(bad)["field"] == "choices.0.path"
        assert hash_files(a.workspace) == files
        diff = ca.post("/api/v1/conflicts/resolve", json={"choices": [
            {"artifact": "settings", "path": "strategy.rsi_period", "pick": "theirs"}]})
        assert diff.status_code == 200, diff.text
        assert diff.json()["conflicts"] == []
        assert [c["path"] for c in diff.json()["changes"]] == ["strategy.max_positions"]
        r = ca.post("/api/v1/push", json={"reason": "alice, fewer positions"})
        assert r.status_code == 200, r.text
        with oci.client() as o:
            strat = o.get("/api/v1/sync/snapshot").json()["settings"]["strategy"]
        assert (strat["rsi_period"], strat["max_positions"]) == (25, 4)


def test_pc_status_carries_ocis_current_stage_without_a_pull(oci: OciServer,
                                                               pc_factory: PcFactory) -> None:
    from oci_server import stop_server

    pc = pc_factory(oci)
    with pc.client() as c, oci.client() as o:
        before = c.get("/api/v1/status").json()
        assert before["oci"]["reachable"] is True and before["oci_last_cycle"] is None
        assert o.post("/api/v1/ops/cycle").status_code == 200
        status = c.get("/api/v1/status").json()
        health = o.get("/health").json()
        summary = o.get("/api/v1/sync/snapshot").json()["summary"]
        assert status["oci_last_cycle"] == health["last_cycle"]
        assert status["oci_last_cycle"]["stage"] == summary["stage"]
        assert status["oci_revision"] == health["revision"]

        # OCI's stage moves on (the emergency stop) with nothing pulled: the status follows.
        r = o.post("/api/v1/emergency-stop", json={"on": True, "reason": "drill", "by": "ops"})
        assert r.status_code == 200, r.text
        status = c.get("/api/v1/status").json()
        assert status["oci_last_cycle"]["stage"] == "STOPPED" != summary["stage"]
        assert status["pulled_revision"] is None and status["last_pull_at"] is None

        stop_server(oci)  # OCI gone: no stale stage is reported as current
        down = c.get("/api/v1/status").json()
        assert down["oci"]["reachable"] is False
        assert down["oci_last_cycle"] is None and down["oci_revision"] is None
