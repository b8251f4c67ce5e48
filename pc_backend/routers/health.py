"""`GET /health`: the PC backend is up (open: no token)."""

from __future__ import annotations

from fastapi import APIRouter

from contracts.pc import PcHealth

router = APIRouter(tags=["health"])

VERSION = "1"


@router.get("/health", response_model=PcHealth)
async def health() -> PcHealth:
    return PcHealth(version=VERSION)
