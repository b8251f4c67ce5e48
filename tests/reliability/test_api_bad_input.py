"""Bad input against a real `krx oci serve`: the right 4xx naming what is wrong, and every
stored file byte-identical after (issue 11, defects 1, 4, 5, 7, 10 and section 2's hand-made
inputs that schemathesis does not generate)."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
from oci_server import error_of, hash_tree

pytestmark = pytest.mark.integration

PUSH = "/api/v1/sync/push"


def _push_raw(server, body: bytes, *, content_type: str = "application/json",
              if_match: str | None = None) -> httpx.Response:
    with server.client() as c:
        rev = if_match or c.get("/api/v1/sync/snapshot").headers["ETag"]
        return c.post(PUSH, content=body, headers={"Content-Type": content_type,
                                                    "If-Match": rev})


def _settings_body(server, capital: str) -> bytes:
    return (b'{"reason": "probe", "settings": {"strategy": {"initial_capital": '
            + capital.encode() + b"}}}")


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    (b'{"reason": "probe", "settings": {"strategy": {"initial_capital": 1e309}}}',
     422, "INVALID_NUMBER", "body"),
    (b'{"reason": "probe", "settings": {"strategy": {"initial_capital": Infinity}}}',
     422, "INVALID_NUMBER", "body"),
    (b'{"reason": "probe", "portfolio": {"cash": NaN}}', 422, "INVALID_NUMBER", "body"),
    (b'{"reason": "a", "reason": "b", "portfolio": {"cash": 1}}', 422, "DUPLICATE_KEY", "reason"),
    ('{"reason": "utf16", "portfolio": {"cash": 1}}'.encode("utf-16"), 422,
     "INVALID_ENCODING", "body"),
    (b'{"reason": "\xff\xfe", "portfolio": {"cash": 1}}', 422, "INVALID_ENCODING", "body"),
    (b"[" * 100_000 + b"]" * 100_000, 422, "TOO_DEEP", "body"),
    (b'{"reason": "x", "portfolio": ' + b'{"a": ' * 40 + b"1" + b"}" * 41, 422, "TOO_DEEP",
     "body"),
    (b'{"reason": "probe", "portfolio": {"cash": 1e308}}', 422, "VALIDATION_ERROR",
     "portfolio.cash"),
    (b'{"reason": "probe", "portfolio": {"cash": 1, "holdings": [{"ticker": "005930", '
     b'"qty": 9223372036854775808, "avg_price": 1}]}}', 422, "VALIDATION_ERROR",
     "portfolio.holdings.0.qty"),
    (b'{"reason": "probe", "portfolio": {"cash": 1, "holdings": [{"ticker": "005930", '
     b'"qty": 1, "avg_price": 1, "entry_date": "2099-99-99"}]}}', 422, "VALIDATION_ERROR",
     "portfolio.holdings.0.entry_date"),
    (b'{"reason": "probe", "portfolio": {"cash": 1, "asof": "0001-01-01T00:00:00+01:00"}}',
     422, "VALIDATION_ERROR", "portfolio.asof"),
    (b'{"reason": "probe", "portfolio": {"cash": 1, "asof": "9999-12-31T23:59:59-10:00"}}',
     422, "VALIDATION_ERROR", "portfolio.asof"),
])
def test_api_bad_push_body_is_refused_and_changes_nothing(shared_oci, body, status, code, field):
    before = hash_tree(shared_oci.data_dir / "state")
    r = _push_raw(shared_oci, body)
    err = error_of(r)
    assert (r.status_code, err["error"], err["field"]) == (status, code, field), err
    assert hash_tree(shared_oci.data_dir / "state") == before
    with shared_oci.client() as c:
        assert c.get("/api/v1/sync/snapshot").status_code == 200
        assert c.get("/health").json()["status"] == "ok"


@pytest.mark.parametrize("content_type", ["text/plain", "application/json; charset=utf-16"])
def test_api_non_json_media_type_is_415(shared_oci, content_type):
    r = _push_raw(shared_oci, b'{"reason": "x", "portfolio": {"cash": 1}}',
                  content_type=content_type)
    assert r.status_code == 415 and error_of(r)["field"] == "Content-Type"


@pytest.mark.parametrize("value", ['"true"', "1", '"on"'])
def test_api_emergency_stop_on_must_be_a_json_boolean(shared_oci, value):
    with shared_oci.client() as c:
        r = c.post("/api/v1/emergency-stop", content=f'{{"on": {value}, "reason": "x"}}',
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and error_of(r)["field"] == "on"


def test_api_auth_two_authorization_headers_are_refused(shared_oci):
    good = f"Bearer {shared_oci.token}"
    with httpx.Client(base_url=shared_oci.base_url, trust_env=False) as c:
        r = c.get("/api/v1/sync/snapshot",
                  headers=[("Authorization", good), ("Authorization", good)])
        assert r.status_code == 401 and "exactly one" in error_of(r)["message"]
        # the scheme is case-insensitive (RFC 7235), as the OpenAPI description says
        lower = c.get("/api/v1/sync/snapshot",
                      headers={"Authorization": f"bearer {shared_oci.token}"})
        assert lower.status_code == 200


@pytest.mark.parametrize("path", [
    "/api/v1/tickets/..%2F..%2Fstate%2Fportfolio", "/api/v1/tickets/%2e%2e",
    "/api/v1/tickets/%00abc", "/api/v1/tickets/%2Fetc%2Fpasswd", "/api/v1/plans/..%2Fx",
])
def test_api_traversal_ids_are_refused(shared_oci, path):
    before = hash_tree(shared_oci.data_dir)
    with shared_oci.client() as c:
        r = c.get(path)
        assert r.status_code in (404, 422), r.text
        assert shared_oci.token not in r.text
        r = c.post(path + "/fills", json={"fills": []})
        assert r.status_code in (404, 405, 422), r.text
    assert hash_tree(shared_oci.data_dir) == before


def test_api_64kb_authorization_header_is_431_before_auth(shared_oci):
    t0 = time.monotonic()
    with httpx.Client(base_url=shared_oci.base_url, trust_env=False) as c:
        r = c.get("/api/v1/sync/snapshot", headers={"Authorization": "Bearer " + "a" * 65_536})
    assert r.status_code == 431 and r.json()["error"] == "HEADERS_TOO_LARGE"
    assert time.monotonic() - t0 < 2.0
    with shared_oci.client() as c:  # a normal request with a real token still works
        assert c.get("/api/v1/sync/snapshot").status_code == 200


def test_api_endless_header_is_cut_off_and_health_stays_responsive(shared_oci):
    host, port = shared_oci.base_url.removeprefix("http://").split(":")
    sent = {"bytes": 0}
    closed = threading.Event()

    def flood() -> None:
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ")
            chunk = b"a" * 65_536
            try:
                for _ in range(3200):  # up to 200 MB
                    s.sendall(chunk)
                    sent["bytes"] += len(chunk)
            except OSError:
                closed.set()

    worker = threading.Thread(target=flood, daemon=True)
    worker.start()
    latencies = []
    with httpx.Client(base_url=shared_oci.base_url, trust_env=False, timeout=10) as c:
        for _ in range(10):
            t0 = time.monotonic()
            assert c.get("/health").status_code == 200
            latencies.append(time.monotonic() - t0)
    worker.join(timeout=30)
    assert closed.is_set(), "the server kept reading an endless header"
    assert sent["bytes"] < 50 * 1024 * 1024
    assert max(latencies) < 1.0, latencies


def test_api_openapi_documents_401_422_and_ticker_rules(shared_oci):
    with httpx.Client(base_url=shared_oci.base_url, trust_env=False) as c:
        spec = c.get("/openapi.json").json()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if path.startswith("/api/v1/"):
                assert {"401", "422", "500"} <= set(op["responses"]), (method, path)
    ticker = spec["components"]["schemas"]["Holding"]["properties"]["ticker"]
    assert ticker["pattern"] == "^[0-9A-Z]{6}$" and "005930" in ticker["enum"]
    assert "ErrorBody" in spec["components"]["schemas"]


def test_api_missing_state_file_is_reported_not_recreated(start_oci):
    server = start_oci()
    server.paths.portfolio.unlink()
    with server.client() as c:
        health = c.get("/health").json()
        assert health["status"] == "degraded" and "portfolio.json: missing" in health["error"]
        r = c.get("/api/v1/sync/snapshot")
        assert r.status_code == 500 and error_of(r)["error"] == "CORRUPT_FILE"
    assert not server.paths.portfolio.exists()
