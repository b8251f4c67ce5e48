"""Bad input to every PC route: the right 4xx, a message naming the field, and every workspace
file (and OCI's state) byte-identical afterwards. Plus the local guard: token and Host."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from oci_server import OciServer, error_of, hash_tree  # noqa: I001
from pc_server import REPO, PcServer, hash_files, pc_env

pytestmark = pytest.mark.integration

PORTFOLIO_BAD = [
    ({"cash": -1, "holdings": []}, "cash"),
    ({"cash": 1e6, "holdings": [{"ticker": "005930", "qty": 0, "avg_price": 1.0}]},
     "holdings.0.qty"),
    ({"cash": 1e6, "holdings": [{"ticker": "999999", "qty": 1, "avg_price": 1.0}]},
     "holdings.0.ticker"),
    ({"cash": 1e6, "holdings": [], "bonus": 1}, "bonus"),
    ({"holdings": []}, "cash"),
]


def _settings_with(c: httpx.Client, path: str, value: object) -> dict:
    s = c.get("/api/v1/workspace/settings").json()
    node = s
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return s


def test_pc_bad_input_to_every_route_names_the_field_and_changes_nothing(
    oci: OciServer, pc: PcServer,
) -> None:
    with pc.client() as c:
        # before the first pull
        assert error_of(c.get("/api/v1/workspace/portfolio"))["error"] == "NOT_PULLED"
        assert error_of(c.post("/api/v1/tickets/draft"))["error"] == "NOT_PULLED"
        assert error_of(c.post("/api/v1/push", json={"reason": "x"}))["error"] == "NOT_PULLED"
        # a workspace with something in every file: edits, a pulled plan, a draft
        assert c.post("/api/v1/ops/cycle").status_code == 200
        assert c.post("/api/v1/pull").status_code == 200
        assert c.put("/api/v1/workspace/settings",
                     json=_settings_with(c, "strategy.rsi_period", 33)).status_code == 200
        assert c.post("/api/v1/tickets/draft").status_code == 200
        ws_before, oci_before = hash_files(pc.workspace), hash_tree(oci.data_dir)
        assert {"snapshot.json", "workspace.json", "working/settings.json", "draft.json",
                "pc_token"} <= set(ws_before)

        cases: list[tuple[str, str, dict, int, str | None]] = []
        for body, field in PORTFOLIO_BAD:
            cases.append(("PUT", "/workspace/portfolio", {"json": body}, 422, field))
        for path, value in (("strategy.rsi_period", 1), ("execution_mode", "YOLO"),
                            ("universe", []), ("guardrails.max_orders", 0),
                            ("strategy.ma_short_period", 500)):
            # the cross-field rule names its field too (contracts.common.rule_error)
            cases.append(("PUT", "/workspace/settings",
                          {"json": _settings_with(c, path, value)}, 422, path))
        cases += [
            ("PUT", "/workspace/settings", {"content": b"{not json",
                                            "headers": {"content-type": "application/json"}},
             422, "body"),
            ("POST", "/push", {"json": {}}, 422, "reason"),
            ("POST", "/push", {"json": {"reason": ""}}, 422, "reason"),
            ("POST", "/push", {"json": {"reason": "x", "force": True}}, 422, "force"),
            ("POST", "/push", {"json": {"reason": "x", "actor": "a" * 101}}, 422, "actor"),
            ("POST", "/conflicts/resolve", {"json": {"choices": []}}, 422, "choices"),
            ("POST", "/conflicts/resolve", {"json": {"choices": [
                {"artifact": "settings", "path": "strategy.rsi_period", "pick": "both"}]}},
             422, "choices.0.pick"),
            ("POST", "/conflicts/resolve", {"json": {"choices": [
                {"artifact": "state", "path": "x", "pick": "mine"}]}}, 422,
             "choices.0.artifact"),
            ("POST", "/conflicts/resolve", {"json": {"choices": [
                {"artifact": "settings", "path": "strategy.rsi_period", "pick": "mine"}]}},
             422, "choices.0.path"),
            ("POST", "/tickets/draft", {"json": {"mode": "LIVE"}}, 422, "mode"),
            ("POST", "/tickets/submit", {"json": {}}, 422, "confirm"),
            ("POST", "/tickets/submit", {"json": {"confirm": "yes"}}, 422, "confirm"),
            ("POST", "/tickets/submit", {"json": {"confirm": False}}, 422, "confirm"),
            ("GET", "/tickets", {"params": {"limit": 0}}, 422, "limit"),
            ("GET", "/tickets", {"params": {"state": "DONE"}}, 422, "state"),
            ("GET", "/tickets/bad$id", {}, 422, "ticket_id"),
            ("POST", "/tickets/bad$id/fills", {"json": {"fills": []}}, 422, "fills"),
            ("POST", "/tickets/x1/fills", {"json": {"fills": [
                {"ticker": "005930", "side": "BUY", "qty": 0, "price": 1.0}]}}, 422,
             "fills.0.qty"),
            ("GET", "/tickets/20251229-tk000000000000", {}, 404, "ticket_id"),
            ("POST", "/emergency-stop", {"json": {"on": True}}, 422, "reason"),
            ("POST", "/emergency-stop", {"json": {"on": "maybe", "reason": "r"}}, 422, "on"),
            ("GET", "/audit", {"params": {"limit": 0}}, 422, "limit"),
            ("GET", "/audit", {"params": {"action": "HACK"}}, 422, "action"),
            ("GET", "/audit", {"params": {"since": "yesterday"}}, 422, "since"),
            ("GET", "/audit", {"params": {"since": "2025-12-29T09:00:00"}}, 422, "since"),
            ("POST", "/ops/cycle", {"json": {"asof": "2025-13-01"}}, 422, "asof"),
            ("POST", "/backtest", {"json": {"start": "2024-01-02"}}, 422, "end"),
            ("POST", "/sweep", {"json": {"start": "2024-01-02", "end": "2025-12-29",
                                         "grid": {}}}, 422, "grid"),
            ("POST", "/sweep", {"json": {"start": "2024-01-02", "end": "2025-12-29",
                                         "grid": {"rsi_period": [30]}, "top": 0}}, 422, "top"),
        ]
        for method, path, kw, status, field in cases:
            r = c.request(method, f"/api/v1{path}", **kw)
            assert r.status_code == status, (method, path, kw, r.text)
            body = error_of(r)
            if field is not None:
                assert body["field"] == field, (method, path, body)
                assert field.split(".")[0] in body["message"] or status == 404, body
        assert hash_files(pc.workspace) == ws_before
        assert hash_tree(oci.data_dir) == oci_before


def test_pc_guard_token_and_host(pc_offline: PcServer) -> None:
    pc = pc_offline
    url = pc.base_url
    assert httpx.get(f"{url}/health", trust_env=False).status_code == 200
    r = httpx.get(f"{url}/api/v1/status", trust_env=False)
    assert r.status_code == 401 and error_of(r)["field"] == "Authorization"
    r = httpx.get(f"{url}/api/v1/status", headers={"Authorization": "Bearer wrong"},
                  trust_env=False)
    assert r.status_code == 401
    with pc.client() as c:
        assert c.get("/api/v1/status").status_code == 200
        assert c.get("/api/v1/status", headers={"Host": "localhost"}).status_code == 200
        for host in ("evil.example", "127.0.0.1.evil.example:80", "10.0.0.1", ""):
            r = c.get("/api/v1/status", headers={"Host": host})
            assert r.status_code == 403, host
            assert error_of(r)["field"] == "Host"
        r = c.get("/health", headers={"Host": "evil.example"})
        assert r.status_code == 403  # even the open path: a rebinding page learns nothing
    mode = (pc.workspace / "pc_token").stat().st_mode & 0o777
    assert mode == 0o600


def test_pc_serve_refuses_a_non_loopback_bind_and_missing_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from krx_cli.main import main

    for var in [v for v in os.environ if v.startswith("KRX_PC_")]:
        monkeypatch.delenv(var)

    def serve(*args: str) -> str:
        code = main(["pc", "serve", "--workspace", str(tmp_path / "ws"), *args])
        assert code == 2
        return capsys.readouterr().err

    token = tmp_path / "tok"
    token.write_text("bad-input-test-Kq2LmZ8vR4wX7bN1", encoding="utf-8")
    token.chmod(0o600)
    assert "KRX_PC_OCI_TOKEN_FILE" in serve("--direct", "http://127.0.0.1:9")
    monkeypatch.setenv("KRX_PC_OCI_TOKEN_FILE", str(token))
    assert "--allow-remote" in serve("--host", "0.0.0.0", "--direct", "http://127.0.0.1:9")
    err = serve()
    assert "KRX_PC_SSH_HOST" in err and "--direct" in err
    assert "KRX_PC_OCI_URL" in serve("--direct", "ftp://x")
    monkeypatch.setenv("KRX_PC_PORT", "70000")
    assert "KRX_PC_PORT" in serve("--direct", "http://127.0.0.1:9")
    monkeypatch.delenv("KRX_PC_PORT")
    token.chmod(0o644)
    assert "chmod 600" in serve("--direct", "http://127.0.0.1:9")
    assert not (tmp_path / "ws").exists()
    # and as a real process: exit code 2, nothing listening
    r = subprocess.run([sys.executable, "-m", "krx_cli.main", "pc", "serve", "--workspace",
                        str(tmp_path / "ws"), "--host", "0.0.0.0", "--direct", "http://x:1"],
                       cwd=REPO, env=pc_env({"KRX_PC_OCI_TOKEN": "bad-input-tst-Kq2LmZ8vR4wX7bN2"}),
                       capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "--allow-remote" in r.stderr
