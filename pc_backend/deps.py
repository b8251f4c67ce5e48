"""FastAPI dependencies: the service `create_app`'s lifespan put on `app.state`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from pc_backend.service import PcService

# Documents the scheme in OpenAPI; the check itself is `auth.LocalGuard`.
bearer_scheme = HTTPBearer(auto_error=False, description="the PC token (<workspace>/pc_token)")


async def get_service(request: Request) -> PcService:
    return request.app.state.service


ServiceDep = Annotated[PcService, Depends(get_service)]
