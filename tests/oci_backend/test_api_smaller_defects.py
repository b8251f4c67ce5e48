"""Defect 11 (issue 15), the smaller ones, against a real OCI backend: a ticket whose body
differs from its stored id is refused (422), a 405 names the allowed methods in `Allow`, and
a JSON Content-Type with extra parameters is accepted."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from oci_server import OciServer, ServerFactory, error_of, hash_tree
from test_api_tickets import NOW, _submit
from ticket_fixtures import ready_ticket

pytestmark = pytest.mark.integration


def test_ticket_body_differing_from_its_stored_id_is_422(
    oci_server_factory: ServerFactory,
) -> None:
    server = oci_server_factory(env=NOW)
    with server.client() as c:
        ticket = ready_ticket(c)
        first = _submit(c, ticket, str(uuid.uuid4()))
        assert first.status_code == 201, first.text
        before = hash_tree(server.data_dir)

        body = ticket.model_dump(mode="json")
        order = body["orders"][0]
        order["qty"] = order["qty"] + 1 if order["side"] == "SELL" else max(1, order["qty"] - 1)
        if order["qty"] == ticket.orders[0].qty:
            order["limit_price"] += 5  # any change the id addresses
        r = _submit(c, body, str(uuid.uuid4()))
        assert r.status_code == 422, r.text
        err = error_of(r)
        assert err["error"] == "TICKET_REJECTED" and err["field"] == "ticket_id"
        assert ticket.ticket_id in err["message"]
        assert hash_tree(server.data_dir) == before  # nothing written, the record untouched

        # The same content re-drafted (another created_at, a new key) still gets its record.
        again = ticket.model_copy(update={"created_at": ticket.created_at + timedelta(minutes=5)})
        r = _submit(c, again, str(uuid.uuid4()))
        assert r.status_code == 200, r.text
        assert r.json()["ticket"]["ticket_id"] == ticket.ticket_id


def test_405_answer_names_the_allowed_methods(oci_server: OciServer) -> None:
    with oci_server.client() as c:
        for method, path, allowed in (("DELETE", "/health", "GET"),
                                      ("PATCH", "/api/v1/tickets", "GET, POST"),
                                      ("DELETE", "/api/v1/emergency-stop", "GET, POST"),
                                      ("PUT", "/api/v1/tickets/20251229-tkabc", "GET")):
            r = c.request(method, path)
            assert r.status_code == 405, r.text
            assert r.headers["allow"] == allowed, (path, r.headers.get("allow"))
            assert error_of(r)["message"].endswith(f"use {allowed}")


def test_json_content_type_with_extra_parameters_is_accepted(oci_server: OciServer) -> None:
    body = b'{"on": false, "reason": "content type probe"}'
    with oci_server.client() as c:
        for content_type in ("application/json; charset=utf-8; foo=bar",
                             "application/json; foo=bar", "Application/JSON;Charset=\"UTF-8\""):
            r = c.post("/api/v1/emergency-stop", content=body,
                       headers={"Content-Type": content_type})
            assert r.status_code == 200, (content_type, r.text)
        for content_type in ("application/json; foo=bar; charset=latin-1", "text/plain"):
            r = c.post("/api/v1/emergency-stop", content=body,
                       headers={"Content-Type": content_type})
            assert r.status_code == 415, (content_type, r.text)
            assert error_of(r)["field"] == "Content-Type"
