"""Bearer-token authentication against a real server, and refusing unsafe start-ups."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest
from oci_server import (
    REPO,
    REPO_DAILY,
    OciServer,
    ServerFactory,
    error_of,
    free_port,
    hash_tree,
    new_token,
    serve_command,
    server_env,
)

pytestmark = pytest.mark.integration

PROTECTED = [
    ("GET", "/api/v1/sync/snapshot"),
    ("POST", "/api/v1/sync/push"),
    ("POST", "/api/v1/ops/cycle"),
    ("GET", "/api/v1/plans/current"),
    ("GET", "/api/v1/tickets"),
    ("POST", "/api/v1/tickets"),
    ("GET", "/api/v1/tickets/T1"),
    ("POST", "/api/v1/tickets/T1/fills"),
    ("GET", "/api/v1/emergency-stop"),
    ("POST", "/api/v1/emergency-stop"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/no-such-route"),
]


def test_auth_matrix_no_wrong_query_right_token(oci_server: OciServer) -> None:
    before = hash_tree(oci_server.data_dir)
    token = oci_server.token
    variants = {
        "none": {},
        "wrong": {"Authorization": "Bearer " + new_token()},
        "wrong-scheme": {"Authorization": f"Basic {token}"},
        "bare-token": {"Authorization": token},
        "prefix-of-right": {"Authorization": f"Bearer {token[:-1]}"},
    }
    with httpx.Client(base_url=oci_server.base_url, timeout=30, trust_env=False) as c:
        for method, path in PROTECTED:
            for name, headers in variants.items():
                r = c.request(method, path, headers=headers, json={"on": True, "reason": "x"})
                assert r.status_code == 401, (name, method, path, r.text)
                assert error_of(r)["error"] == "UNAUTHORIZED"
                assert r.headers["www-authenticate"].startswith("Bearer")
            # A token in the query string is ignored, whatever the parameter is called.
            for query in (f"token={token}", f"access_token={token}", token):
                r = c.request(method, f"{path}?{query}", json={"on": True, "reason": "x"})
                assert r.status_code == 401, (query, method, path)
        # No state was touched by any of that (the body would have switched the stop on).
        assert hash_tree(oci_server.data_dir) == before

        # /health and the API description are open.
        health = c.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        assert c.get("/openapi.json").status_code == 200

        # The right token, scheme case-insensitive.
        for scheme in ("Bearer", "bearer"):
            r = c.get("/api/v1/sync/snapshot", headers={"Authorization": f"{scheme} {token}"})
            assert r.status_code == 200, r.text
            assert r.headers["etag"] == '"1"'


def test_auth_token_never_in_server_output(oci_server: OciServer) -> None:
    token = oci_server.token
    with oci_server.client(authed=False) as c:
        c.get(f"/api/v1/sync/snapshot?token={token}")
        c.get(f"/api/v1/audit?limit=5&token={token}&x={token}")
        c.get(f"/health?{token}")
        c.get("/api/v1/sync/snapshot", headers={"Authorization": f"Bearer {token}"})
        c.post("/api/v1/sync/push", headers={"Authorization": f"Bearer {token}"},
               content=b"{broken")
    out = oci_server.output()
    assert "/api/v1/audit?limit=5" in out  # refused (401) requests are logged, known params kept
    assert "POST /api/v1/sync/push" in out  # writes are logged
    # successful reads are not (KRX_OCI_ACCESS_LOG=changes, the default)
    assert '"GET /api/v1/sync/snapshot HTTP/1.1" 200' not in out
    assert token not in out
    assert token[4:20] not in out


def _serve(tmp_path: Path, env_extra: dict[str, str], token: str | None) -> subprocess.Popen:
    cmd = serve_command(free_port(), tmp_path / "data", f"csv:{REPO_DAILY}")
    return subprocess.Popen(cmd, cwd=REPO, env=server_env(token, env_extra),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _refused(proc: subprocess.Popen) -> str:
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait(timeout=20)
        pytest.fail("the server started although its token set-up is unsafe")
    assert proc.returncode not in (0, None)
    return out


def test_serve_refuses_without_token(tmp_path: Path) -> None:
    out = _refused(_serve(tmp_path, {}, None))
    assert "no API token" in out and "KRX_OCI_TOKEN" in out


def test_serve_refuses_short_token(tmp_path: Path) -> None:
    out = _refused(_serve(tmp_path, {}, "x" * 23))
    assert "at least 24" in out
    assert "x" * 23 not in out  # not even a rejected token is echoed


def test_serve_refuses_group_readable_token_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(new_token() + "\n", encoding="utf-8")
    os.chmod(path, 0o640)
    out = _refused(_serve(tmp_path, {"KRX_OCI_TOKEN_FILE": str(path)}, None))
    assert "0640" in out and "chmod 600" in out


def test_serve_reads_token_file_with_mode_0600(oci_server_factory: ServerFactory,
                                               tmp_path: Path) -> None:
    token = new_token()
    path = tmp_path / "token"
    path.write_text(token + "\n", encoding="utf-8")
    os.chmod(path, 0o600)
    server = oci_server_factory(token_file=path)
    with httpx.Client(base_url=server.base_url, timeout=30, trust_env=False) as c:
        assert c.get("/api/v1/sync/snapshot").status_code == 401
        ok = c.get("/api/v1/sync/snapshot", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200


def test_access_log_modes_filter_successful_reads_only() -> None:
    import logging

    from krx_common.logmask import QuietReads, install_access_log_redaction

    def record(method: str, status: int) -> logging.LogRecord:
        return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                                 '%s - "%s %s HTTP/%s" %d',
                                 ("127.0.0.1:5", method, "/api/v1/x", "1.1", status), None)

    quiet = QuietReads()
    assert not quiet.filter(record("GET", 200))
    assert quiet.filter(record("GET", 401)) and quiet.filter(record("POST", 200))
    logger = logging.getLogger("uvicorn.access")
    install_access_log_redaction("changes")
    assert any(isinstance(f, QuietReads) for f in logger.filters)
    install_access_log_redaction("all")
    assert not any(isinstance(f, QuietReads) for f in logger.filters)
