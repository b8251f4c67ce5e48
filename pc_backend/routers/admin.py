"""`POST /shutdown`: a graceful stop asked over the API (token + Host guard apply).

`krx pc stop` uses it before any signal: Windows has no SIGTERM, and a forced stop would cut a
workspace write short (the writes are atomic, but a clean stop is quieter).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pc_backend.errors import documented

router = APIRouter(tags=["admin"])


@router.post("/shutdown", status_code=202, responses={
    409: documented("NOT_SUPPORTED: this process was not started by krx pc serve")})
async def shutdown(request: Request) -> JSONResponse:
    server = getattr(request.app.state, "uvicorn_server", None)
    if server is None:
        return JSONResponse({"error": "NOT_SUPPORTED", "field": None,
                             "message": "this process was not started by krx pc serve"},
                            status_code=409)
    server.should_exit = True
    return JSONResponse({"status": "stopping"}, status_code=202)
