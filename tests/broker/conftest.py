"""Fixtures of the KIS client tests: credentials files, a controllable clock, and the fake as a
real process (`fake_kis_server.running_fake_kis`)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fake_kis_server import FakeKisHandle, running_fake_kis

from broker.credentials import KisCredentials, load_credentials
from broker.kis import KisBroker, KisConfig
from krx_common.defaults import KST

PAPER_KEY = "PSfakePaperKey0123456789abcdef01"
REAL_KEY = "RLfakeRealKey0123456789abcdef012"
SECRET = "fake-app-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
CANO, PRDT = "50123456", "01"
SESSION = "2025-03-04"  # a session in data/krx/daily


class Clock:
    """An aware clock a test moves forward (the client's wall clock)."""

    def __init__(self) -> None:
        self.now = datetime.now(KST)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def write_credentials(path: Path, *, kind: str = "paper", mode: int = 0o600,
                      **override: str) -> Path:
    data = {"app_key": PAPER_KEY if kind == "paper" else REAL_KEY, "app_secret": SECRET,
            "cano": CANO, "acnt_prdt_cd": PRDT, "kind": kind, **override}
    path.write_text(json.dumps(data), encoding="utf-8")
    os.chmod(path, mode)
    return path


@pytest.fixture
def paper_creds(tmp_path: Path) -> KisCredentials:
    return load_credentials(write_credentials(tmp_path / "kis-paper.json"))


@pytest.fixture
def real_creds(tmp_path: Path) -> KisCredentials:
    return load_credentials(write_credentials(tmp_path / "kis-real.json", kind="real"))


@pytest.fixture
def fake_kis(tmp_path: Path) -> Iterator[Callable[..., FakeKisHandle]]:
    """`fake_kis(**options)` starts a fake for this test (stopped by PID at teardown)."""
    stack: list[Any] = []

    def start(**options: Any) -> FakeKisHandle:
        options.setdefault("session_date", SESSION)
        options.setdefault("cano", CANO)
        cm = running_fake_kis(tmp_dir=tmp_path, **options)
        handle = cm.__enter__()
        stack.append(cm)
        return handle

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., KisBroker]]:
    made: list[KisBroker] = []

    def make(creds: KisCredentials, base_url: str, **config: Any) -> KisBroker:
        clock = config.pop("clock", None)
        config.setdefault("token_cache", tmp_path / "kis-token.json")
        config.setdefault("backoff_s", 0.05)
        broker = KisBroker(KisConfig(credentials=creds, base_url=base_url, **config),
                           clock=clock)
        made.append(broker)
        return broker

    yield make
    for b in made:
        b.close()
