"""The PC backend application: `create_app()` builds it, the lifespan owns the link to OCI.

Run it with `krx pc serve` (127.0.0.1:8000 by default). Handlers that touch the network or
the disk are plain `def` (FastAPI runs them in its threadpool), so the event loop never
blocks. The backend never calls itself over HTTP: backtests run in-process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import Depends, FastAPI

from krx_common.http_limits import add_body_limits, add_header_checks
from krx_common.logmask import install_access_log_redaction, mask_secret_in_logs
from pc_backend import research as research_runs
from pc_backend.auth import LOOPBACK_NAMES, LocalGuard
from pc_backend.config import PcConfig
from pc_backend.deps import bearer_scheme
from pc_backend.errors import COMMON_RESPONSES, OCI_RESPONSES, install_error_handlers
from pc_backend.oci_client import OciClient
from pc_backend.routers import admin, health, proxy, research, sync, tickets, workspace
from pc_backend.service import Link, PcService
from pc_backend.tunnel import DirectLink
from pc_backend.workspace import Workspace

log = logging.getLogger("krx.pc")

API_PREFIX = "/api/v1"


def build_link(cfg: PcConfig) -> Link:
    """`DirectLink` for `--direct URL`, else the SSH tunnel keeper."""
    if cfg.oci_url is not None:
        return DirectLink(cfg.oci_url)
    from pc_backend.tunnel import TunnelKeeper

    return TunnelKeeper.from_config(cfg)


def create_app(config: PcConfig | None = None, *, link: Link | None = None) -> FastAPI:
    """Build the app. Raises `config.ConfigError` when the set-up is unusable (no way to reach
    OCI, no OCI token, a non-loopback bind without --allow-remote, workspace in use)."""
    cfg = config if config is not None else PcConfig()
    cfg.check_bind()
    cfg.check_mode()
    oci_token = cfg.resolve_oci_token()
    ws = Workspace(cfg.workspace)
    token = ws.open()
    the_link = link if link is not None else build_link(cfg)
    client = OciClient(the_link.local_url, oci_token, connect_timeout=cfg.connect_timeout_s,
                       read_timeout=cfg.read_timeout_s, gate=the_link.gate)
    service = PcService(cfg, ws, the_link, client)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # After uvicorn configured its loggers: the tokens the PC holds never reach its log.
        install_access_log_redaction("all")
        mask_secret_in_logs(token)
        mask_secret_in_logs(oci_token)
        # The research imports load beside the start-up, not in the first PULL's chart.
        threading.Thread(target=research_runs.preload, name="research-preload",
                         daemon=True).start()
        await anyio.to_thread.run_sync(the_link.start)
        log.info("PC backend ready: workspace %s, OCI at %s (%s)", cfg.workspace,
                 the_link.local_url, the_link.status().state.value)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(the_link.stop)
            client.close()
            ws.close()

    app = FastAPI(
        title="KRX Alertor — PC backend",
        version="1",
        summary="Control plane: workspace, PULL/PUSH, tickets, tunnel to OCI (docs/pc-api.md)",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.config = cfg
    app.state.service = service
    app.state.token = token
    install_error_handlers(app)
    hosts = set(LOOPBACK_NAMES)
    if cfg.allow_remote and not cfg.is_loopback():
        hosts.add(cfg.host.lower())
    # Added last = runs first: duplicate Host/Authorization refused, then the guard (which also
    # refuses a token in the URL), then the body's size and strict JSON, as on OCI
    # (krx_common.http_limits).
    add_body_limits(app, max_body_bytes=cfg.max_body_bytes, env_prefix="KRX_PC")
    app.add_middleware(LocalGuard, token=token, allowed_hosts=frozenset(hosts),
                       url_secrets=(oci_token,))
    add_header_checks(app, realm="krx-pc")
    app.include_router(health.router)
    for module in (sync, workspace, tickets, proxy, research, admin):
        # Routes that call OCI may also answer its unreachability (503) or a bad answer (502).
        calls_oci = module in (sync, tickets, proxy)
        app.include_router(module.router, prefix=API_PREFIX, dependencies=[Depends(bearer_scheme)],
                           responses={**COMMON_RESPONSES, **(OCI_RESPONSES if calls_oci else {})})
    return app
