"""`POST /backtest` and `POST /sweep`: in-process `strategy.backtest` runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from contracts.pc import BacktestRequest, SweepRequest, WalkForwardRequest
from pc_backend import research
from pc_backend.deps import ServiceDep

router = APIRouter(tags=["research"])


@router.post("/backtest")
def backtest(body: BacktestRequest, service: ServiceDep) -> dict[str, Any]:
    return research.backtest(service.workspace, service.config.data, body)


@router.post("/sweep")
def sweep(body: SweepRequest, service: ServiceDep) -> dict[str, Any]:
    return research.sweep(service.workspace, service.config.data, body)


@router.post("/walkforward")
def walkforward(body: WalkForwardRequest, service: ServiceDep) -> dict[str, Any]:
    return research.walkforward(service.workspace, service.config.data, body)
