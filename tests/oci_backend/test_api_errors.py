"""Errors that are not the caller's fault: a corrupt state file (500 naming the path, the
file left as it is), unknown routes, and the start-up warning for a public bind address."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from oci_server import OciServer, error_of

from oci_backend.app import create_app
from oci_backend.config import OciConfig


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
        assert err["error"] == "CORRUPT_FILE" and err["path"] == str(path)
        assert "strategy.rsi_period" in err["message"]
        push = c.post("/api/v1/sync/push", headers={"If-Match": '"1"'},
                      json={"portfolio": {"cash": 5}, "reason": "x"})
        assert push.status_code == 500 and error_of(push)["path"] == str(path)
        health = c.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert str(path) in health.json()["error"]
        missing = c.get("/api/v1/nope")
        assert missing.status_code == 404 and error_of(missing)["error"] == "NOT_FOUND"
    assert path.read_text(encoding="utf-8") == broken


def test_lifespan_warns_loudly_on_a_non_loopback_host(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    config = OciConfig(host="0.0.0.0", token="x" * 32, data_dir=tmp_path,  # noqa: S104
                       ticket_processor=False)
    caplog.set_level(logging.WARNING, logger="krx.oci")
    app = create_app(config)

    async def start_and_stop() -> None:  # the lifespan only: nothing is bound
        async with app.router.lifespan_context(app):
            assert app.state.store.revision() == 1

    asyncio.run(start_and_stop())
    assert any("not a loopback address" in r.getMessage() for r in caplog.records)
