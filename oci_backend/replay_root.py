"""Replay data roots: a data root created explicitly to re-run past sessions end to end.

A replay root carries `state/replay.json` (written once, by `create_replay_root` or
`mark_replay_root`; `DataPaths.is_replay` asks for it). Only a replay root accepts an `asof`
cycle — in any execution mode — and MANUAL fills with historical `filled_at` dates; a live
root never does, whichever path asks (API, CLI, background re-plan): the rule is
`pipeline.check_asof`. Everything a replay root writes is labelled: the summary carries a
REPLAY risk, ticket records `replay=true`, their audit lines `details.replay`. Driving a
replay through the cycle is `oci_backend.replay`.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from contracts.common import Contract, KstDatetime, now_kst
from contracts.portfolio import Portfolio
from contracts.settings import Settings
from oci_backend.paths import DataPaths
from oci_backend.store import Store, atomic_write_model, read_model


class ReplayMarker(Contract):
    """`state/replay.json`: this data root is a replay root."""

    replay: bool = True
    label: str = Field(description="what is replayed, shown in every summary")
    data_spec: str
    start: date | None = None
    end: date | None = None
    created_at: KstDatetime = Field(default_factory=now_kst)


def read_marker(paths: DataPaths) -> ReplayMarker | None:
    """The replay marker, None for a live root."""
    return read_model(paths.replay_marker, ReplayMarker)


def mark_replay_root(paths: DataPaths, *, label: str, data_spec: str) -> ReplayMarker:
    """Make `paths.root` a replay root, explicitly (`krx daily --replay`): kept when it is one
    already; refused (`ValueError`) for a root that holds live state."""
    m = read_marker(paths)
    if m is not None:
        return m
    if paths.portfolio.exists() or paths.settings.exists():
        raise ValueError(f"{paths.root} holds live state: a live data root never replays an "
                         f"asof; use a new directory for the replay root")
    paths.ensure_dirs()
    m = ReplayMarker(label=label, data_spec=data_spec)
    atomic_write_model(paths.replay_marker, m)
    return m


def create_replay_root(paths: DataPaths, *, label: str, data_spec: str, settings: Settings,
                       start: date | None = None, end: date | None = None) -> Store:
    """Make `paths.root` a fresh replay root with `settings` (portfolio: the default cash =
    `settings.strategy.initial_capital`). Refuses a root that already holds live state."""
    if paths.portfolio.exists() and not paths.is_replay:
        raise ValueError(f"{paths.root} already holds a live data root; pick an empty directory")
    paths.ensure_dirs()
    atomic_write_model(paths.replay_marker, ReplayMarker(
        label=label, data_spec=data_spec, start=start, end=end))
    store = Store(paths)
    store.initialize(actor="replay")
    store.push(store.revision(), portfolio=Portfolio(cash=settings.strategy.initial_capital),
               settings=settings, reason=f"replay root: {label}", actor="replay")
    return store
