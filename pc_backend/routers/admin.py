"""`POST /shutdown`: a graceful stop asked over the API (token + Host guard apply).

`krx pc stop` uses it before any signal: Windows has no SIGTERM, and a forced stop would cut a
workspace write short (the writes are atomic, but a clean stop is quieter).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from contracts.pc import ShutdownResponse
from pc_backend.errors import ShutdownUnsupported, documented

router = APIRouter(tags=["admin"])


@router.post("/shutdown", status_code=202, response_model=ShutdownResponse, responses={
    409: documented("NOT_SUPPORTED: this process was not started by krx pc serve")})
async def shutdown(request: Request) -> ShutdownResponse:
    server = getattr(request.app.state, "uvicorn_server", None)
    if server is None:
        raise ShutdownUnsupported("this process was not started by krx pc serve")
    server.should_exit = True
    return ShutdownResponse()
