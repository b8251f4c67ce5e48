"""`POST /backtest`, `/sweep` and `/walkforward`: in-process `strategy.backtest` runs.

Heavy and CPU-bound, so they run on worker threads of their own capacity limiter
(`research.RESEARCH_SLOTS` at a time), not on the threadpool that serves every other route:
`/health`, `/status`, PULL and PUSH keep answering while a sweep runs. A request that finds
`research.RESEARCH_QUEUE` others already waiting is refused with 429 RESEARCH_BUSY.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from fastapi import APIRouter, Request

from contracts.pc import BacktestRequest, SweepRequest, WalkForwardRequest
from pc_backend import research
from pc_backend.deps import ServiceDep
from pc_backend.errors import PcApiError, documented

router = APIRouter(tags=["research"], responses={
    429: documented("RESEARCH_BUSY: too many research requests waiting; retry later"),
    503: documented("MARKET_DATA_UNAVAILABLE: the PC's market data (KRX_PC_DATA) cannot be "
                    "read"),
})


def _limiter(request: Request) -> anyio.CapacityLimiter:
    state = request.app.state
    limiter = getattr(state, "research_limiter", None)
    if limiter is None:  # made inside the event loop, on first use
        limiter = state.research_limiter = anyio.CapacityLimiter(research.RESEARCH_SLOTS)
    return limiter


async def _run(request: Request, fn: Callable[..., dict[str, Any]], *args: Any
               ) -> dict[str, Any]:
    limiter = _limiter(request)
    if limiter.statistics().tasks_waiting >= research.RESEARCH_QUEUE:
        raise PcApiError(429, "RESEARCH_BUSY",
                         f"{research.RESEARCH_QUEUE} research requests are already waiting; "
                         "retry when they are done", headers={"Retry-After": "5"})
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)


@router.post("/backtest")
async def backtest(body: BacktestRequest, service: ServiceDep, request: Request
                   ) -> dict[str, Any]:
    return await _run(request, research.backtest, service.workspace, service.config.data, body)


@router.post("/sweep")
async def sweep(body: SweepRequest, service: ServiceDep, request: Request) -> dict[str, Any]:
    return await _run(request, research.sweep, service.workspace, service.config.data, body)


@router.post("/walkforward")
async def walkforward(body: WalkForwardRequest, service: ServiceDep, request: Request
                      ) -> dict[str, Any]:
    return await _run(request, research.walkforward, service.workspace, service.config.data,
                      body)
