"""Errors that are not the caller's fault: a corrupt state file (500 naming the path, the
file left as it is), unknown routes, and the start-up warning for a public bind address."""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from pathlib import Path

import pytest
from oci_server import OciServer, error_of

from oci_backend.app import create_app
from oci_backend.config import OciConfig

TEST_TOKEN = "api-errors-test-Kq2LmZ8vR4wX7bN1"  # a real-looking token: the token rule applies


@pytest.mark.integration
def test_corrupt_settings_file_is_500_with_its_path_and_never_replaced(
    oci_server: OciServer,
) -> None:
    path = oci_server.paths.settings
    broken = '{"universe": ["069500"], "strategy": {"rsi_period": 1}}\n'
    path.write_text(broken, encoding="utf-8")
    with oci_server.client() as c:
        r = c.get("/api/v1/sync/snapshot")
        assert r.status_code == 500
        err = error_of(r)
        # issue 15 defect 4: the body names the file, never its path
        assert err["error"] == "CORRUPT_FILE" and err["file"] == path.name
        assert str(path) not in r.text
        assert "strategy.rsi_period" in err["message"]
        push = c.post("/api/v1/sync/push", headers={"If-Match": '"1"'},
                      json={"portfolio": {"cash": 5}, "reason": "x"})
        assert push.status_code == 500 and error_of(push)["file"] == path.name
        health = c.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        # issue 15 defect 4: /health names the file, never its path
        assert path.name in health.json()["error"] and str(path) not in health.json()["error"]
        missing = c.get("/api/v1/nope")
        assert missing.status_code == 404 and error_of(missing)["error"] == "NOT_FOUND"
    assert path.read_text(encoding="utf-8") == broken


def test_lifespan_warns_loudly_on_a_non_loopback_host(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    config = OciConfig(host="0.0.0.0", token=TEST_TOKEN, data_dir=tmp_path,  # noqa: S104
                       ticket_processor=False)
    caplog.set_level(logging.WARNING, logger="krx.oci")
    app = create_app(config)

    async def start_and_stop() -> None:  # the lifespan only: nothing is bound
        async with app.router.lifespan_context(app):
            assert app.state.store.revision() == 1

    asyncio.run(start_and_stop())
    assert any("not a loopback address" in r.getMessage() for r in caplog.records)


def test_domain_errors_know_no_http_one_table_maps_them(tmp_path: Path) -> None:
    """HTTP only at the edges: the typed errors the domain raises carry no status or code;
    `ERROR_ANSWERS` is the one table, and the app registers a handler for each row."""
    from starlette.exceptions import HTTPException

    from krx_common.atomic import WriteFailed
    from oci_backend.errors import ERROR_ANSWERS, BodyTooLarge, answer_of
    from oci_backend.pipeline import AsofNotClosed, NotAReplayRoot, NotASession
    from oci_backend.store import MissingStateFile
    from oci_backend.tickets import StaleTicket, TicketError

    for error_type in ERROR_ANSWERS:
        if not issubclass(error_type, HTTPException):
            assert not hasattr(error_type, "status_code"), error_type
            assert not hasattr(error_type, "code"), error_type
    app = create_app(OciConfig(token=TEST_TOKEN, data_dir=tmp_path))
    assert set(ERROR_ANSWERS) <= set(app.exception_handlers)
    assert answer_of(StaleTicket("x")) == (409, "STALE_TICKET")
    assert answer_of(TicketError("x")) == (400, "TICKET_ERROR")
    assert answer_of(NotASession("x")) == answer_of(AsofNotClosed("x")) == (422,
                                                                           "VALIDATION_ERROR")
    assert answer_of(NotAReplayRoot("/r", date(2025, 12, 29))) == (409, "ASOF_REPLAY_REFUSED")
    assert answer_of(MissingStateFile(Path("/x"))) == (500, "CORRUPT_FILE")
    assert answer_of(WriteFailed(Path("/x"), OSError(28, "full"))) == (500, "STORE_ERROR")
    assert answer_of(BodyTooLarge(10)) == (413, "BODY_TOO_LARGE")
    with pytest.raises(LookupError):
        answer_of(KeyError("not a domain error"))


def test_no_status_codes_outside_the_http_edge() -> None:
    """Only the HTTP layer of the OCI backend speaks status codes (routers, error table,
    middleware, auth) and the replay's HTTP client; the domain modules do not."""
    root = Path(__file__).resolve().parents[2] / "oci_backend"
    edge = {"errors.py", "http_errors.py", "middleware.py", "http_limits.py", "auth.py",
            "app.py", "replay_http.py", "deps.py"}
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.parent.name != "routers" and p.name not in edge
                 and ("status_code" in p.read_text(encoding="utf-8")
                      or "HTTPException" in p.read_text(encoding="utf-8"))]
    assert offenders == []
