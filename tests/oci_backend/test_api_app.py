"""The app as built by `create_app` (no server): routes, handlers, config, scheduler jobs."""

from __future__ import annotations

import inspect
import os
from collections import Counter
from datetime import datetime
from pathlib import Path

import fastapi.routing
import pytest

from krx_common.auth import bearer_matches
from krx_common.defaults import KST
from krx_common.logmask import redact_query
from oci_backend.app import create_app
from oci_backend.config import ConfigError, OciConfig
from oci_backend.errors import field_path
from oci_backend.notify import Notifier
from oci_backend.paths import data_paths
from oci_backend.scheduler import (
    DAILY_JOB_ID,
    MORNING_JOB_ID,
    TICKET_JOB_ID,
    build_scheduler,
    build_ticket_loop,
)
from oci_backend.store import Store

TOKEN = "unit-test-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def _no_oci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KRX_OCI_"):
            monkeypatch.delenv(name)


def _routes(app: fastapi.FastAPI) -> list:
    # FastAPI ≥ 0.13x keeps included routers lazily; iter_route_contexts flattens them.
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(flatten(app.routes)) if flatten else list(app.routes)


def _config(tmp_path: Path, **kw: object) -> OciConfig:
    return OciConfig(token=TOKEN, data_dir=tmp_path, **kw)  # type: ignore[arg-type]


def test_app_routes_are_unique_per_method_and_path(tmp_path: Path) -> None:
    app = create_app(_config(tmp_path))
    pairs = Counter((m, r.path) for r in _routes(app) for m in (r.methods or []))
    assert [p for p, n in pairs.items() if n > 1] == []
    expected = {
        ("GET", "/health"), ("GET", "/api/v1/sync/snapshot"), ("POST", "/api/v1/sync/push"),
        ("POST", "/api/v1/ops/cycle"), ("GET", "/api/v1/plans/current"),
        ("POST", "/api/v1/tickets"), ("GET", "/api/v1/tickets"),
        ("GET", "/api/v1/tickets/{ticket_id}"), ("POST", "/api/v1/tickets/{ticket_id}/fills"),
        ("POST", "/api/v1/emergency-stop"), ("GET", "/api/v1/emergency-stop"),
        ("GET", "/api/v1/audit"),
    }
    assert expected <= set(pairs)
    api = [p for _, p in pairs if p not in ("/health",) and not p.startswith(("/docs", "/redoc",
                                                                             "/openapi"))]
    assert all(p.startswith("/api/v1/") for p in api)


def test_app_handlers_are_sync_so_file_io_runs_in_the_threadpool(tmp_path: Path) -> None:
    app = create_app(_config(tmp_path))
    ours = [r for r in _routes(app) if getattr(r, "endpoint", None) is not None
            and r.endpoint.__module__.startswith("oci_backend.")]
    assert len(ours) >= 12
    # The exceptions: /health and the snapshot answer on the event loop only from the
    # reader's stat-keyed cache and read in a worker thread otherwise (SnapshotReader.if_cached).
    assert sorted(r.path for r in ours if inspect.iscoroutinefunction(r.endpoint)) == [
        "/api/v1/sync/snapshot", "/health"]


def test_app_openapi_documents_bearer_auth(tmp_path: Path) -> None:
    schema = create_app(_config(tmp_path)).openapi()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert schema["paths"]["/api/v1/sync/push"]["post"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_create_app_refuses_to_build_without_a_token(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no API token"):
        create_app(OciConfig(data_dir=tmp_path))


def test_config_token_rules(tmp_path: Path) -> None:
    assert _config(tmp_path).resolve_token() == TOKEN
    with pytest.raises(ConfigError, match="at least 24"):
        OciConfig(token="short-token").resolve_token()
    with pytest.raises(ConfigError, match="printable ASCII"):
        OciConfig(token="has a space in the middle of it!").resolve_token()
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n", encoding="utf-8")
    os.chmod(path, 0o600)
    assert OciConfig(token_file=path).resolve_token() == TOKEN
    with pytest.raises(ConfigError, match="not both|only one"):
        OciConfig(token=TOKEN, token_file=path).resolve_token()
    for mode in (0o644, 0o604, 0o620):
        os.chmod(path, mode)
        with pytest.raises(ConfigError, match=f"{mode:04o}.*chmod 600"):
            OciConfig(token_file=path).resolve_token()
    with pytest.raises(ConfigError, match="does not exist"):
        OciConfig(token_file=tmp_path / "missing").resolve_token()


def test_config_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KRX_OCI_PORT", "8123")
    monkeypatch.setenv("KRX_OCI_SCHEDULER", "internal")
    monkeypatch.setenv("KRX_OCI_NOTIFY_URLS", "json://127.0.0.1:9/, tgram://bot/chat")
    monkeypatch.setenv("KRX_OCI_DATA_SPEC", f"csv:{tmp_path}")
    cfg = OciConfig()
    assert cfg.port == 8123 and cfg.scheduler == "internal"
    assert cfg.notify_urls == ["json://127.0.0.1:9/", "tgram://bot/chat"]
    assert cfg.data_spec == f"csv:{tmp_path}"
    assert [OciConfig(host=h).is_loopback() for h in
            ("127.0.0.1", "127.0.0.2", "::1", "localhost", "0.0.0.0", "10.0.0.5", "::")] == [
        True, True, True, True, False, False, False]


def _jobs(tmp_path: Path, **kw: object) -> dict:
    store = Store(data_paths(tmp_path))
    sched = build_scheduler(_config(tmp_path, **kw), store, Notifier(store))
    return {job.id: job for job in sched.get_jobs()}


def test_scheduler_registers_the_daily_cron_only_when_internal(tmp_path: Path) -> None:
    assert set(_jobs(tmp_path)) == {MORNING_JOB_ID}
    assert set(_jobs(tmp_path, morning_watch=False)) == set()
    jobs = _jobs(tmp_path, scheduler="internal")
    assert set(jobs) == {MORNING_JOB_ID, DAILY_JOB_ID}
    watch = {f.name: str(f) for f in jobs[MORNING_JOB_ID].trigger.fields}
    assert (watch["day_of_week"], watch["hour"], watch["minute"]) == ("mon-fri", "9", "30")
    # the ticket processor runs on the monotonic clock, not on the wall-clock scheduler
    store = Store(data_paths(tmp_path))
    loop = build_ticket_loop(_config(tmp_path, ticket_interval_s=2.5), store)
    assert loop is not None and loop.id == TICKET_JOB_ID and loop.interval == 2.5
    assert build_ticket_loop(_config(tmp_path, ticket_processor=False), store) is None

    trigger = jobs[DAILY_JOB_ID].trigger
    fields = {f.name: str(f) for f in trigger.fields}
    assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("mon-fri", "9", "5")
    assert str(trigger.timezone) == "Asia/Seoul"
    # Friday 2026-01-02 after 09:05 KST → Monday 09:05 KST (a UTC server changes nothing).
    fire = trigger.get_next_fire_time(None, datetime(2026, 1, 2, 9, 6, tzinfo=KST))
    assert fire == datetime(2026, 1, 5, 9, 5, tzinfo=KST)
    assert fire.utcoffset().total_seconds() == 9 * 3600


def test_auth_helpers() -> None:
    token = TOKEN.encode()
    assert bearer_matches(b"Bearer " + token, token)
    assert bearer_matches(b"bearer  " + token + b" ", token)
    assert not bearer_matches(None, token)
    assert not bearer_matches(token, token)
    assert not bearer_matches(b"Basic " + token, token)
    assert not bearer_matches(b"Bearer " + token[:-1], token)
    assert redact_query("/api/v1/audit?limit=5&token=abc") == "/api/v1/audit?limit=5&***"
    assert redact_query("/x?abc") == "/x?***"
    assert redact_query("/x") == "/x"


def test_error_field_paths() -> None:
    assert field_path(("body", "portfolio", "holdings", 0, "qty")) == "portfolio.holdings.0.qty"
    assert field_path(("body",)) == "body"
    assert field_path(("body", 17)) == "body"
    assert field_path(("query", "limit")) == "limit"
    assert field_path(("header", "If-Match")) == "If-Match"
