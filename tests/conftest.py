"""Shared fixtures: the real KRX bars (read by path from ../shared, never copied)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_KRX = (REPO / ".." / "shared" / "data" / "krx").resolve()

# pykrx logs in to KRX at import when these are set; tests never talk to KRX.
for _var in ("KRX_ID", "KRX_PW"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def krx_data_dir() -> Path:
    """Directory of the real daily bars (`<code>.csv`); fails loudly when it is missing."""
    daily = SHARED_KRX / "daily"
    if not daily.is_dir():
        pytest.fail(f"real KRX data not found at {daily}: ../shared must sit beside the checkout")
    return daily


@pytest.fixture(scope="session")
def krx_master_path() -> Path:
    return SHARED_KRX / "tickers.csv"
