"""FastAPI dependencies: the objects `create_app`'s lifespan put on `app.state`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from oci_backend.broker_link import BrokerLink
from oci_backend.config import OciConfig
from oci_backend.notify import Notifier
from oci_backend.replan import Replanner
from oci_backend.snapshot import SnapshotReader
from oci_backend.store import Store

# The getters are `async` only to skip a threadpool hop: they touch no files.
# Documents the bearer scheme in OpenAPI (Swagger's "Authorize" button). The check itself is
# `auth.BearerAuth`, which runs before routing; this dependency never rejects anything.
bearer_scheme = HTTPBearer(auto_error=False, description="the OCI API token")


async def get_config(request: Request) -> OciConfig:
    return request.app.state.config


async def get_store(request: Request) -> Store:
    return request.app.state.store


async def get_notifier(request: Request) -> Notifier:
    return request.app.state.notifier


async def get_snapshot_reader(request: Request) -> SnapshotReader:
    return request.app.state.snapshots


async def get_replanner(request: Request) -> Replanner:
    return request.app.state.replanner


async def get_broker_link(request: Request) -> BrokerLink:
    return request.app.state.broker_link


ConfigDep = Annotated[OciConfig, Depends(get_config)]
StoreDep = Annotated[Store, Depends(get_store)]
NotifierDep = Annotated[Notifier, Depends(get_notifier)]
SnapshotDep = Annotated[SnapshotReader, Depends(get_snapshot_reader)]
ReplannerDep = Annotated[Replanner, Depends(get_replanner)]
BrokerLinkDep = Annotated[BrokerLink, Depends(get_broker_link)]
