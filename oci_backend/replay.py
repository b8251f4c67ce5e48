"""Replay data roots: a data root created explicitly to re-run past sessions end to end.

A replay root carries `state/replay.json` (written once, by `create_replay_root`). Only a
replay root accepts an `asof` cycle — in any execution mode — and MANUAL fills with historical
`filled_at` dates; a live root never does, whichever path asks (API, CLI, background
re-plan). Everything a replay root writes is labelled: the summary carries a REPLAY risk,
ticket records `replay=true`, their audit lines `details.replay`.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from contracts.common import Contract, KstDatetime, now_kst
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


class AsofRefused(Exception):
    """An `asof` cycle that may not run here; `status_code`/`code`/`field` for the HTTP answer
    (mapped in `oci_backend.errors`)."""

    def __init__(self, status_code: int, code: str, message: str, field: str = "asof") -> None:
        super().__init__(message)
        self.status_code, self.code, self.message, self.field = status_code, code, message, field


class NotAReplayRoot(AsofRefused):
    def __init__(self, paths: DataPaths) -> None:
        super().__init__(
            409, "ASOF_REPLAY_REFUSED",
            f"asof replay is refused: {paths.root} is a live data root. Omit 'asof' to plan "
            f"the last completed session, or run `krx replay` (a separate replay data root)")


def marker(paths: DataPaths) -> ReplayMarker | None:
    return read_model(paths.replay_marker, ReplayMarker)


def is_replay_root(paths: DataPaths) -> bool:
    return paths.replay_marker.exists()


def require_replay_root(paths: DataPaths) -> ReplayMarker:
    """The marker, or `NotAReplayRoot` for a live root."""
    m = marker(paths)
    if m is None:
        raise NotAReplayRoot(paths)
    return m


def create_replay_root(paths: DataPaths, *, label: str, data_spec: str, settings: Settings,
                       start: date | None = None, end: date | None = None) -> Store:
    """Make `paths.root` a fresh replay root with `settings` (portfolio: the default cash =
    `settings.strategy.initial_capital`). Refuses a root that already holds live state."""
    if paths.portfolio.exists() and not paths.replay_marker.exists():
        raise ValueError(f"{paths.root} already holds a live data root; pick an empty directory")
    paths.ensure_dirs()
    atomic_write_model(paths.replay_marker, ReplayMarker(
        label=label, data_spec=data_spec, start=start, end=end))
    store = Store(paths)
    store.initialize(actor="replay")
    from contracts.portfolio import Portfolio

    store.push(store.revision(), portfolio=Portfolio(cash=settings.strategy.initial_capital),
               settings=settings, reason=f"replay root: {label}", actor="replay")
    return store
