"""Security checks as tests (issue 11, section 5) and a write that fails with EFBIG (section 1):
tokens never in logs, URLs, error bodies or data; 0600 files in a 0700 state dir; unsafe
tokens refused; PC refuses a non-loopback bind; CORS off; body limit; no key or token in the
tree."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time

import httpx
import pytest
from oci_server import (
    REPO,
    REPO_DAILY,
    error_of,
    free_port,
    hash_tree,
    new_token,
    serve_command,
    server_env,
    start_limited_server,
    stop_server,
)

from oci_backend.config import ConfigError, OciConfig

pytestmark = pytest.mark.integration


def test_security_token_never_in_logs_urls_error_bodies_or_data(start_oci):
    server = start_oci(env={"KRX_OCI_ACCESS_LOG": "all"})
    token = server.token
    bodies = []
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=30) as c:
        for path in (f"/api/v1/sync/snapshot?token={token}", f"/api/v1/audit?access_token={token}",
                     f"/nope?t={token}"):
            r = c.get(path)  # a confused client puts the token in the URL: ignored and masked
            assert r.status_code in (401, 404)
            bodies.append(r.text)
        r = c.get("/api/v1/sync/snapshot", headers={"Authorization": f"Bearer {token}x"})
        bodies.append(r.text)
        authed = {"Authorization": f"Bearer {token}"}
        r = c.post("/api/v1/sync/push", headers=authed | {"If-Match": '"1"'},
                   json={"reason": token, "portfolio": {"cash": -1}})
        bodies.append(r.text)
        assert c.get(f"/api/v1/tickets/{token}", headers=authed).status_code in (404, 422)
    assert all(token not in b for b in bodies[:-1])
    time.sleep(0.5)
    out = server.output()
    assert "GET /api/v1/sync/snapshot?***" in out  # the access log ran, with the query masked
    assert token not in out
    for path in server.data_dir.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_security_state_dir_is_0700_and_state_files_0600(start_oci):
    server = start_oci()
    with server.client() as c:
        etag = c.get("/api/v1/sync/snapshot").headers["ETag"]
        assert c.post("/api/v1/sync/push", headers={"If-Match": etag},
                      json={"reason": "perm", "portfolio": {"cash": 1.0}}).status_code == 200
        assert c.post("/api/v1/emergency-stop",
                      json={"on": False, "reason": "perm"}).status_code == 200
    state = server.paths.state_dir
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in ("portfolio.json", "settings.json", "audit.jsonl", "emergency_stop.json"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name


@pytest.mark.parametrize(("env", "message"), [
    ({}, "no API token"),
    ({"KRX_OCI_TOKEN": "short-token"}, "at least 24"),
    ({"KRX_OCI_TOKEN": "example-token-0123456789abcdef"}, "example or placeholder"),
    ({"KRX_OCI_TOKEN": "CHANGEME-CHANGEME-CHANGEME-1"}, "example or placeholder"),
])
def test_security_backend_refuses_missing_short_or_example_token(tmp_path, env, message):
    proc = subprocess.run(serve_command(free_port(), tmp_path, f"csv:{REPO_DAILY}"), cwd=REPO,
                          env=server_env(None, env), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr
    for value in env.values():
        assert value not in proc.stderr  # a refused token is not echoed either


def test_security_token_file_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "token"
    path.write_text(new_token(), encoding="utf-8")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        OciConfig(token_file=path).resolve_token()


def test_security_non_loopback_bind_warns(tmp_path):
    port = free_port()
    cmd = serve_command(port, tmp_path, f"csv:{REPO_DAILY}")
    cmd[cmd.index("--host") + 1] = "0.0.0.0"  # noqa: S104 (the point of the test)
    proc = subprocess.Popen(cmd, cwd=REPO, env=server_env(new_token()), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        seen = ""
        while time.monotonic() < deadline and "not a loopback address" not in seen:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            seen += line
        assert "not a loopback address" in seen
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_security_pc_backend_refuses_non_loopback_bind(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRX_")}
    env["KRX_PC_WORKSPACE"] = str(tmp_path / "ws")
    proc = subprocess.run([sys.executable, "-m", "krx_cli.main", "pc", "serve", "--host",
                           "0.0.0.0", "--port", str(free_port())], cwd=REPO, env=env,  # noqa: S104
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "loopback" in (proc.stdout + proc.stderr)


def test_security_cors_is_off_and_body_limit_enforced(start_oci):
    server = start_oci()
    origin = {"Origin": "https://evil.example"}
    with server.client() as c:
        pre = c.options("/api/v1/sync/push", headers=origin | {
            "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in pre.headers
        got = c.get("/api/v1/sync/snapshot", headers=origin)
        assert got.status_code == 200 and "access-control-allow-origin" not in got.headers
        big = c.post("/api/v1/sync/push", headers={"If-Match": '"1"'},
                     content=b'{"reason": "' + b"x" * 300_000 + b'"}',
                     )
        assert big.status_code == 413 and error_of(big)["error"] == "BODY_TOO_LARGE"


SECRET_PATTERNS = {
    "private key": re.compile(rb"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    "AWS key": re.compile(rb"AKIA[0-9A-Z]{16}"),
    "GitHub token": re.compile(rb"gh[pousr]_[A-Za-z0-9]{36}"),
    "Slack token": re.compile(rb"xox[baprs]-[0-9A-Za-z-]{10,}"),
    "Telegram bot token": re.compile(rb"\b[0-9]{8,10}:AA[0-9A-Za-z_-]{33}\b"),
    "token assignment": re.compile(
        rb"(?i)(?:KRX_OCI_TOKEN|KRX_PC_TOKEN|OPS_TOKEN|api_token)\s*[=:]\s*['\"]?"
        rb"(?!\$)[A-Za-z0-9_\-]{24,}"),
}


def test_security_tree_holds_no_key_or_token():
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.split(b"\0")
    found = []
    for name in filter(None, files):
        path = REPO / name.decode()
        if not path.is_file() or path.suffix in (".csv", ".png", ".npz"):
            continue
        data = path.read_bytes()
        for what, pattern in SECRET_PATTERNS.items():
            if pattern.search(data):
                found.append(f"{name.decode()}: {what}")
    assert found == []


def test_write_failing_with_efbig_is_a_clear_5xx_and_leaves_files_intact(tmp_path):
    server = start_limited_server(tmp_path, 16 * 1024)
    try:
        holdings = [{"ticker": code, "qty": 1, "avg_price": 1000.0 + i}
                    for i, code in enumerate(["005930", "035420", "035720", "051910", "069500",
                                              "091160", "102110", "114800", "122630", "229200",
                                              "233740", "252670", "261240", "305720"])]
        with server.client() as c:
            etag = c.get("/api/v1/sync/snapshot").headers["ETag"]
            before = hash_tree(server.paths.state_dir)
            big = c.post("/api/v1/sync/push", headers={"If-Match": etag}, json={
                "reason": "r" * 480, "portfolio": {"cash": 1.0, "holdings": holdings},
                "settings": {"notifications": {"apprise_urls": ["json://x/" + "u" * 1900] * 10}}})
            assert big.status_code == 500, big.text
            err = error_of(big)
            assert err["error"] == "STORE_ERROR" and "EFBIG" in err["message"]
            assert "previous version is intact" in err["message"]
            assert hash_tree(server.paths.state_dir) == before
            assert not list(server.paths.state_dir.glob(".*.tmp"))
            small = c.post("/api/v1/sync/push", headers={"If-Match": etag},
                           json={"reason": "small", "portfolio": {"cash": 2.0}})
            assert small.status_code == 200, small.text
            assert c.get("/health").json()["status"] == "ok"
    finally:
        stop_server(server)
