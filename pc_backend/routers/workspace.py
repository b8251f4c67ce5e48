"""The working copies of portfolio and settings (pulled + local edits)."""

from __future__ import annotations

from fastapi import APIRouter

from contracts.pc import Diff
from contracts.portfolio import Portfolio
from contracts.settings import Settings
from pc_backend.deps import ServiceDep

router = APIRouter(prefix="/workspace", tags=["workspace"])


@router.get("/portfolio", response_model=Portfolio)
def get_portfolio(service: ServiceDep) -> Portfolio:
    return service.workspace.working("portfolio")  # type: ignore[return-value]


@router.put("/portfolio", response_model=Portfolio)
def put_portfolio(body: Portfolio, service: ServiceDep) -> Portfolio:
    return service.workspace.put_working("portfolio", body)  # type: ignore[return-value]


@router.get("/settings", response_model=Settings)
def get_settings(service: ServiceDep) -> Settings:
    return service.workspace.working("settings")  # type: ignore[return-value]


@router.put("/settings", response_model=Settings)
def put_settings(body: Settings, service: ServiceDep) -> Settings:
    return service.workspace.put_working("settings", body)  # type: ignore[return-value]


@router.delete("/edits", response_model=Diff)
def discard_edits(service: ServiceDep) -> Diff:
    service.workspace.discard_edits()
    return service.workspace.diff()
