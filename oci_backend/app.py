"""The OCI backend application: `create_app()` builds it, the lifespan owns the store and jobs.

Run it with `krx oci serve` (or `uvicorn oci_backend.app:create_app --factory`). Handlers
that touch files are plain `def` (FastAPI runs them in its threadpool), so the event loop
never blocks on disk I/O (PITFALLS #1).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from krx_common.atomic import StoreError
from krx_common.http_limits import add_body_limits, add_header_checks
from krx_common.logmask import install_access_log_redaction, mask_secret_in_logs
from oci_backend.auth import DOCS_STATIC, BearerAuth
from oci_backend.broker_link import BrokerFactory, open_broker
from oci_backend.config import OciConfig
from oci_backend.deps import bearer_scheme
from oci_backend.errors import COMMON_RESPONSES, install_error_handlers
from oci_backend.notify import Notifier
from oci_backend.paths import DataPaths, data_paths
from oci_backend.replan import Replanner
from oci_backend.routers import audit, broker, emergency, health, ops, plans, sync, tickets
from oci_backend.scheduler import build_scheduler, build_ticket_loop
from oci_backend.snapshot import SnapshotReader
from oci_backend.store import Store
from oci_backend.systemd import SystemdNotifier
from oci_backend.tickets import recover
from strategy import calendar

log = logging.getLogger("krx.oci")

API_PREFIX = "/api/v1"


def _open_store(paths: DataPaths) -> Store:
    store = Store(paths)
    try:
        store.initialize(actor="oci-backend")
        # A processor killed mid-ticket (the cycle fills DRY_RUN tickets too) left its claim in
        # processing/: settle it now, not at the next processor pass.
        for line in recover(store):
            log.warning("ticket recovery at start-up: %s", line)
    except (StoreError, OSError) as exc:
        # Serve anyway (never a crash loop under Restart=always): /health reports the problem
        # and nothing overwrites the bad file.
        log.error("state cannot be read: %s", exc)
    return store


def _warm_up() -> None:
    # Building the XKRX calendar takes seconds; pay it now rather than in the first request.
    try:
        calendar.load_calendar()
    except Exception:
        log.exception("could not pre-load the XKRX calendar")


def _import_cycle_dependencies() -> None:
    """pandas and the market-data readers, imported before the server says ready: a ready
    server plans at once (a PUSH's re-plan, the first cycle) instead of spending its first
    seconds importing. Importing the app itself stays free of them (`krx` verbs, tests)."""
    import pandas  # noqa: F401

    import strategy.marketdata.csv_provider  # noqa: F401


def create_app(config: OciConfig | None = None,
               broker_factory: BrokerFactory | None = None) -> FastAPI:
    """Build the app. Raises `config.ConfigError` when the API token is missing or unsafe,
    so a server can never run unauthenticated, and when the broker credentials file is open
    to others or the broker refuses the configuration (`broker_link.open_broker`)."""
    cfg = config if config is not None else OciConfig()
    token = cfg.resolve_token()
    paths = data_paths(cfg.data_dir)
    link = open_broker(cfg, paths, broker_factory)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_access_log_redaction(cfg.access_log)
        mask_secret_in_logs(token)
        if not cfg.is_loopback():
            log.warning("listening on %s, which is not a loopback address: the OCI backend "
                        "should only be reachable through the SSH tunnel", cfg.host)
        if cfg.now is not None:
            log.warning("cycle clock frozen at %s (KRX_OCI_NOW): tests and drills only",
                        cfg.now.isoformat())
        store = await anyio.to_thread.run_sync(_open_store, paths)
        await anyio.to_thread.run_sync(_import_cycle_dependencies)
        notifier = Notifier(store, cfg.notify_urls)
        app.state.store = store
        app.state.notifier = notifier
        app.state.snapshots = SnapshotReader(store)
        replanner = Replanner(store, cfg, notifier)
        replanner.start()
        app.state.replanner = replanner
        scheduler = build_scheduler(cfg, store, notifier)
        scheduler.start()
        ticket_loop = build_ticket_loop(cfg, store, link, notifier)
        if ticket_loop is not None:
            ticket_loop.start()
        watchdog = SystemdNotifier.from_env()
        threading.Thread(target=_warm_up, name="calendar-warm-up", daemon=True).start()
        log.info("OCI backend ready: data root %s, market data %s, scheduler %s, jobs %s",
                 paths.root, cfg.data_spec, cfg.scheduler,
                 [job.id for job in scheduler.get_jobs()]
                 + ([ticket_loop.id] if ticket_loop is not None else []))
        pinger = asyncio.create_task(watchdog.run(store)) if watchdog is not None else None
        try:
            yield
        finally:
            if pinger is not None:
                pinger.cancel()
            # Waits for a running job: its writes are atomic, but a clean stop is quieter.
            if ticket_loop is not None:
                await anyio.to_thread.run_sync(ticket_loop.stop)
            await anyio.to_thread.run_sync(lambda: scheduler.shutdown(wait=True))
            await anyio.to_thread.run_sync(replanner.close)

    # /docs and /redoc load their assets from the installed fastapi-offline package, never a
    # CDN: the docs work on a VM or a firewalled PC without internet.
    app: FastAPI = FastAPIOffline(
        static_url=DOCS_STATIC,
        title="KRX Alertor — OCI backend",
        version="1",
        summary="Execution plane: state, daily cycle, tickets, audit (docs/pc-api.md, "
                "docs/oci-install.md)",
        lifespan=lifespan,
        # No OpenTelemetry collector on this host: skip FastAPI's per-request telemetry checks.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.config = cfg
    app.state.broker_link = link
    install_error_handlers(app)
    # Added last = runs first: authenticate before reading (or limiting) any body, then
    # limit its size, then refuse lenient JSON before FastAPI parses it.
    add_body_limits(app, max_body_bytes=cfg.max_body_bytes, env_prefix="KRX_OCI")
    app.add_middleware(BearerAuth, token=token)
    add_header_checks(app, realm="krx-oci")  # two Host/Authorization headers: refused first

    app.include_router(health.router, responses={431: COMMON_RESPONSES[431]})
    # Included one level deep (not through an intermediate /api/v1 router): every request
    # walks the router tree, and the snapshot is the hot path.
    for module in (sync, ops, plans, tickets, emergency, audit, broker):
        app.include_router(module.router, prefix=API_PREFIX, dependencies=[Depends(bearer_scheme)],
                           responses=COMMON_RESPONSES)
    return app
