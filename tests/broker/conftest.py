"""Fixtures of the KIS client tests: credentials files, a controllable clock, and the fake as a
real process (`fake_kis_server.running_fake_kis`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_kis_server import FakeKisHandle, running_fake_kis
from kis_fixtures import CANO, SESSION, write_credentials

from broker.credentials import KisCredentials, load_credentials
from broker.kis import KisBroker, KisConfig


@pytest.fixture
def paper_creds(tmp_path: Path) -> KisCredentials:
    return load_credentials(write_credentials(tmp_path / "kis-paper.json"))


@pytest.fixture
def real_creds(tmp_path: Path) -> KisCredentials:
    return load_credentials(write_credentials(tmp_path / "kis-real.json", kind="real"))


# Options a shared fake takes through its control routes after a reset; any other option
# (a state file, initial holdings, another account) gets a fake of its own.
_BY_CONTROL = {"session_date", "phase", "cash", "page_size", "partial_fraction", "slippage_bps"}
_BY_PROCESS = {"domain", "rate_limit"}


@pytest.fixture(scope="module")
def shared_fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple, FakeKisHandle]]:
    """The fakes of one module, one process per (domain, rate limit), started on first use and
    stopped by PID after the module; `fake_kis` resets one before each test."""
    tmp = tmp_path_factory.mktemp("fake-kis")
    started: dict[tuple, FakeKisHandle] = {}
    stack: list[Any] = []

    def get(domain: str, rate_limit: int | None) -> FakeKisHandle:
        key = (domain, rate_limit)
        if key not in started:
            cm = running_fake_kis(tmp_dir=tmp, domain=domain, rate_limit=rate_limit,
                                  session_date=SESSION, cano=CANO)
            started[key] = cm.__enter__()
            stack.append(cm)
        return started[key]

    yield get  # type: ignore[misc]
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


@pytest.fixture
def fake_kis(tmp_path: Path, shared_fakes: Any) -> Iterator[Callable[..., FakeKisHandle]]:
    """`fake_kis(**options)`: a fake in the state `options` ask for. The module's shared
    process for the domain and rate limit, reset (`/__fake__/reset`: account, orders, keys,
    tokens, token clock, counters, engine) and configured through the control routes, when
    the options allow it; else (or with `own_process=True`, for a test that kills it) a
    process of its own, stopped by PID at teardown."""
    stack: list[Any] = []

    def start(*, own_process: bool = False, **options: Any) -> FakeKisHandle:
        options.setdefault("session_date", SESSION)
        options.setdefault("cano", CANO)
        if not own_process and options["cano"] == CANO and (
                set(options) <= _BY_CONTROL | _BY_PROCESS | {"cano"}):
            kis: FakeKisHandle = shared_fakes(options.get("domain", "paper"),
                                              options.get("rate_limit"))
            kis.control("reset")
            kis.control("session", date=options["session_date"],
                        phase=options.get("phase", "open"))
            if "cash" in options:
                kis.control("account", cash=options["cash"])
            config = {k: options[k] for k in ("page_size", "partial_fraction", "slippage_bps")
                      if k in options}
            if config:
                kis.control("config", **config)
            return kis
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
