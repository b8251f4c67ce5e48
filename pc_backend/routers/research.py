"""`POST /backtest`, `/backtest/series`, `/sweep` and `/walkforward`: in-process
`strategy.backtest` runs.

Heavy and CPU-bound, so they run on worker threads of their own capacity limiter
(`research.RESEARCH_SLOTS` at a time), not on the threadpool that serves every other route:
`/health`, `/status`, PULL and PUSH keep answering while a sweep runs. A request that finds
`research.RESEARCH_QUEUE` others already waiting is refused (`research.ResearchBusy`, 429).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
from fastapi import APIRouter, Request
from pydantic import BaseModel

from contracts.pc import BacktestRequest, SweepRequest, WalkForwardRequest
from contracts.research import (
    BacktestResponse,
    BacktestSeries,
    SweepResponse,
    WalkForwardResponse,
)
from pc_backend import research
from pc_backend.deps import ServiceDep
from pc_backend.errors import documented

router = APIRouter(tags=["research"], responses={
    429: documented("RESEARCH_BUSY: too many research requests waiting; retry later"),
    503: documented("MARKET_DATA_UNAVAILABLE: the PC's market data (KRX_PC_DATA) cannot be "
                    "read"),
})

B = TypeVar("B", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


def _limiter(request: Request) -> anyio.CapacityLimiter:
    state = request.app.state
    limiter = getattr(state, "research_limiter", None)
    if limiter is None:  # made inside the event loop, on first use
        limiter = state.research_limiter = anyio.CapacityLimiter(research.RESEARCH_SLOTS)
    return limiter


async def _run(request: Request, fn: Callable[[B], R], body: B) -> R:
    limiter = _limiter(request)
    if limiter.statistics().tasks_waiting >= research.RESEARCH_QUEUE:
        raise research.ResearchBusy(f"{research.RESEARCH_QUEUE} research requests are already "
                                    "waiting; retry when they are done")
    return await anyio.to_thread.run_sync(fn, body, limiter=limiter)


@router.post("/backtest", response_model=BacktestResponse)
async def backtest(body: BacktestRequest, service: ServiceDep, request: Request
                   ) -> BacktestResponse:
    return await _run(request, service.backtest, body)


@router.post("/backtest/series", response_model=BacktestSeries)
def backtest_series(body: BacktestRequest, service: ServiceDep) -> BacktestSeries:
    # The plain-Python kernel over one window: tens of milliseconds, so it runs on the
    # ordinary threadpool and never waits behind a sweep (the Overview chart).
    return service.backtest_series(body)


@router.post("/sweep", response_model=SweepResponse)
async def sweep(body: SweepRequest, service: ServiceDep, request: Request) -> SweepResponse:
    return await _run(request, service.sweep, body)


@router.post("/walkforward", response_model=WalkForwardResponse)
async def walkforward(body: WalkForwardRequest, service: ServiceDep, request: Request
                      ) -> WalkForwardResponse:
    return await _run(request, service.walkforward, body)
