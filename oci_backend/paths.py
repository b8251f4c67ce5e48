"""The one path registry: every artifact's location under the data root (SPEC.md §2)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path

from contracts.ticket import ID_RULE, TicketBox, is_valid_id

TICKET_BOXES: tuple[str, ...] = tuple(box.value for box in TicketBox)


class InvalidId(ValueError):
    """An id that cannot name a file under the data root; `field` names which id."""

    def __init__(self, field: str, value: str) -> None:
        super().__init__(f"{field}: {value!r} is not a valid id ({ID_RULE})")
        self.field = field
        self.value = value


def check_id(value: str, field: str) -> str:
    """`value` when it is a valid plan/ticket id, else `InvalidId` naming `field`."""
    if not is_valid_id(value):
        raise InvalidId(field, value)
    return value


def default_data_root() -> Path:
    """`KRX_DATA_DIR`, else the checkout this package runs from, else ~/.krx-alertor."""
    env = os.environ.get("KRX_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").exists():
        return repo
    return Path.home() / ".krx-alertor"


def demo_data_root() -> Path:
    """Where the embedded demo keeps its state (`krx demo`, and `krx daily --data demo` without
    --data-dir): its own root, so the synthetic market never overwrites a real run's summary."""
    return default_data_root() / "state" / "demo"


@dataclass(frozen=True)
class DataPaths:
    """Every artifact's path under `root`. Paths are computed once per instance: the hot read
    paths (snapshot, health) ask for them on every request."""

    root: Path

    @cached_property
    def state_dir(self) -> Path:
        return self.root / "state"

    @cached_property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @cached_property
    def portfolio(self) -> Path:
        return self.state_dir / "portfolio.json"

    @cached_property
    def settings(self) -> Path:
        return self.state_dir / "settings.json"

    @cached_property
    def emergency_stop(self) -> Path:
        return self.state_dir / "emergency_stop.json"

    @cached_property
    def audit(self) -> Path:
        return self.state_dir / "audit.jsonl"

    @cached_property
    def journal(self) -> Path:
        """A change of state files + its audit line, written before it is applied (Store)."""
        return self.state_dir / "journal.json"

    @cached_property
    def initialized(self) -> Path:
        """Marker: the first-run state was created; a missing state file is a loss after it."""
        return self.state_dir / ".initialized"

    @cached_property
    def last_asof(self) -> Path:
        """The session of the last completed (READY/EMPTY) cycle on a live root: a cycle
        whose clock says an older one is refused as CLOCK_SKEW."""
        return self.state_dir / "last_asof.json"

    @cached_property
    def daily_ops(self) -> Path:
        """How the last scripts/daily_ops.sh run ended (`DailyOpsStatus`)."""
        return self.state_dir / "daily_ops.json"

    @cached_property
    def write_lock(self) -> Path:
        return self.state_dir / ".write.lock"

    @cached_property
    def cycle_lock(self) -> Path:
        return self.state_dir / ".cycle.lock"

    @cached_property
    def notify_state(self) -> Path:
        """Which notification kinds were sent on which day (one message per kind per day)."""
        return self.state_dir / "notify_state.json"

    @cached_property
    def notify_lock(self) -> Path:
        return self.state_dir / ".notify.lock"

    @cached_property
    def kis_token_cache(self) -> Path:
        """The broker's access token (mode 0600, like the credentials file)."""
        return self.state_dir / "kis_token.json"

    @cached_property
    def broker_dir(self) -> Path:
        """Per-line send intents and order numbers of broker-mode tickets
        (`broker/<ticket_id>.json`), and the last reconciliation (`broker/reconcile.json`)."""
        return self.reports_dir / "broker"

    def broker_lines(self, ticket_id: str) -> Path:
        return self.broker_dir / f"{check_id(ticket_id, 'ticket_id')}.json"

    @cached_property
    def reconciliation(self) -> Path:
        return self.broker_dir / "reconcile.json"

    @cached_property
    def summary_dir(self) -> Path:
        return self.reports_dir / "ops" / "summary"

    @cached_property
    def summary_latest(self) -> Path:
        return self.summary_dir / "ops_summary_latest.json"

    def summary_dated(self, day: date) -> Path:
        return self.summary_dir / f"ops_summary_{day:%Y%m%d}.json"

    @cached_property
    def plans_dir(self) -> Path:
        return self.reports_dir / "plans"

    def plan(self, plan_id: str) -> Path:
        return self.plans_dir / f"{check_id(plan_id, 'plan_id')}.json"

    @cached_property
    def tickets_dir(self) -> Path:
        return self.reports_dir / "tickets"

    @cached_property
    def _ticket_boxes(self) -> dict[str, Path]:
        return {box: self.tickets_dir / box for box in TICKET_BOXES}

    def ticket_box(self, box: str) -> Path:
        try:
            return self._ticket_boxes[box]
        except KeyError:
            raise ValueError(
                f"unknown ticket box {box!r}; expected one of {TICKET_BOXES}"
            ) from None

    def ticket(self, box: str, ticket_id: str) -> Path:
        return self.ticket_box(box) / f"{check_id(ticket_id, 'ticket_id')}.json"

    def ticket_archive(self, ticket_id: str, n: int) -> Path:
        """The n-th earlier REJECTED/FAILED record of a ticket id that was submitted again."""
        return self.tickets_dir / "archive" / f"{check_id(ticket_id, 'ticket_id')}.{n}.json"

    @cached_property
    def replay_marker(self) -> Path:
        """Present only in a replay data root (`oci_backend.replay_root`): `asof` cycles
        allowed."""
        return self.state_dir / "replay.json"

    @property
    def is_replay(self) -> bool:
        """Is this a replay data root? Asked of the disk on every access (a root becomes one
        while a `DataPaths` may live on): read it once per operation."""
        return self.replay_marker.exists()

    @cached_property
    def idempotency_dir(self) -> Path:
        return self.tickets_dir / "keys"

    def idempotency_record(self, key_sha256: str) -> Path:
        """Which ticket an Idempotency-Key (by its SHA-256) created."""
        return self.idempotency_dir / f"{check_id(key_sha256, 'key_sha256')}.json"

    @cached_property
    def cache_dir(self) -> Path:
        return self.root / "cache" / "marketdata"

    @cached_property
    def logs_dir(self) -> Path:
        return self.reports_dir / "logs"

    def ensure_dirs(self) -> None:
        # state/ holds the portfolio and the audit log: owner only (0700), also when an older
        # install (or daily_ops.sh's `mkdir -p`) created it with the umask's 0755.
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name == "posix" and self.state_dir.stat().st_mode & 0o077:
            self.state_dir.chmod(0o700)
        for d in (self.summary_dir, self.plans_dir, self.idempotency_dir,
                  self.logs_dir, *(self.ticket_box(b) for b in TICKET_BOXES)):
            d.mkdir(parents=True, exist_ok=True)


def data_paths(root: Path | str | None = None) -> DataPaths:
    return DataPaths(Path(root).expanduser().resolve() if root else default_data_root())
