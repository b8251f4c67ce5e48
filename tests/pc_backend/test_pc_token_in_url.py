"""Defect 10, second half (issue 15): the PC token in a query string or a path segment was
written to the PC's access log and passed on to OCI, which logged it too. Now the PC refuses
a URL holding a token it holds (its own or OCI's) before routing, so nothing reaches OCI, and
its log masks the token. The test greps the logs of a real PC backend and a real OCI backend."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from oci_server import OciServer, error_of  # noqa: I001
from pc_server import PcServer

pytestmark = pytest.mark.integration


def _encoded(token: str) -> str:
    """The token with every character percent-encoded (what a URL-encoding client may send)."""
    return "".join(f"%{b:02X}" for b in token.encode("ascii"))


def test_pc_token_in_url_is_refused_masked_and_never_forwarded(
    oci: OciServer, pc: PcServer,
) -> None:
    pc_token, oci_token = pc.token, oci.token
    with pc.client() as c, pc.client(authed=False) as anon:
        assert c.get("/api/v1/audit", params={"target": "settings"}).status_code == 200
        for client, url in (
            (c, f"/api/v1/tickets/{pc_token}"),
            (c, f"/api/v1/tickets/{pc_token}/fills"),
            (c, f"/api/v1/audit?target={pc_token}"),
            (c, f"/api/v1/audit?target={_encoded(pc_token)}"),
            (c, f"/api/v1/tickets?limit=5&token={quote(pc_token)}"),
            (anon, f"/api/v1/status?access_token={pc_token}"),
            (c, f"/api/v1/tickets/{oci_token}"),
            (c, f"/api/v1/audit?target={oci_token}"),
        ):
            method = "POST" if url.endswith("/fills") else "GET"
            r = client.request(method, url, **({"json": {"fills": []}} if method == "POST"
                                               else {}))
            assert r.status_code == 400, (url, r.text)
            body = error_of(r)
            assert body["error"] == "TOKEN_IN_URL" and body["field"] == "url"
            assert pc_token not in r.text and oci_token not in r.text
    time.sleep(0.5)  # let both servers flush their access logs
    pc_log, oci_log = pc.output(), oci.output()
    assert "/api/v1/audit?target=settings" in pc_log  # the access log is on
    assert "TOKEN_IN_URL" not in oci_log and "/api/v1/audit?" in pc_log
    for token in (pc_token, oci_token):
        assert token not in pc_log
        assert token not in oci_log
    assert _encoded(pc_token) not in oci_log
    # OCI saw none of the refused requests
    assert "/api/v1/tickets/" not in oci_log
