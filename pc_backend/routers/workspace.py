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
    return service.portfolio()


@router.put("/portfolio", response_model=Portfolio)
def put_portfolio(body: Portfolio, service: ServiceDep) -> Portfolio:
    return service.put_portfolio(body)


@router.get("/settings", response_model=Settings)
def get_settings(service: ServiceDep) -> Settings:
    return service.settings()


@router.put("/settings", response_model=Settings)
def put_settings(body: Settings, service: ServiceDep) -> Settings:
    return service.put_settings(body)


@router.delete("/edits", response_model=Diff)
def discard_edits(service: ServiceDep) -> Diff:
    return service.discard_edits()
