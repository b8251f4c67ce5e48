"""Request body limit (413) before parsing, with and without Content-Length."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from oci_server import OciServer, error_of, hash_tree

pytestmark = pytest.mark.integration

LIMIT = 256 * 1024  # the default KRX_OCI_MAX_BODY_BYTES


def _big_push_body() -> bytes:
    # Valid JSON, so only the size can be the reason for the refusal.
    return json.dumps({"reason": "x" * (LIMIT + 10_000), "portfolio": {"cash": 1}}).encode()


def _chunks(data: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_oversized_body_with_content_length_is_413(oci_server: OciServer) -> None:
    before = hash_tree(oci_server.data_dir)
    with oci_server.client() as c:
        for path in ("/api/v1/sync/push", "/api/v1/tickets", "/api/v1/ops/cycle"):
            r = c.post(path, content=_big_push_body(),
                       headers={"If-Match": '"1"', "Content-Type": "application/json",
                                "Idempotency-Key": "k" * 16})
            assert r.status_code == 413, (path, r.text)
            err = error_of(r)
            assert err["error"] == "BODY_TOO_LARGE" and err["limit"] == LIMIT
        assert c.get("/health").status_code == 200
    assert hash_tree(oci_server.data_dir) == before


def test_oversized_chunked_body_without_content_length_is_413(oci_server: OciServer) -> None:
    before = hash_tree(oci_server.data_dir)
    with oci_server.client() as c:
        with c.stream("POST", "/api/v1/sync/push", content=_chunks(_big_push_body()),
                      headers={"If-Match": '"1"', "Content-Type": "application/json"}) as r:
            assert "content-length" not in {k.lower() for k in r.request.headers}
            assert r.request.headers["transfer-encoding"] == "chunked"
            r.read()
        assert r.status_code == 413, r.text
        assert error_of(r)["error"] == "BODY_TOO_LARGE"
    assert hash_tree(oci_server.data_dir) == before


def test_small_chunked_body_is_accepted(oci_server: OciServer) -> None:
    with oci_server.client() as c:
        snap = c.get("/api/v1/sync/snapshot").json()
        portfolio = snap["portfolio"] | {"cash": 7_000_000}
        body = json.dumps({"portfolio": portfolio, "reason": "chunked push"}).encode()
        r = c.post("/api/v1/sync/push", content=_chunks(body, 64),
                   headers={"If-Match": '"1"', "Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        assert r.json()["revision"] == 2
