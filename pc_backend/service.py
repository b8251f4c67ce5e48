"""The PC backend's logic, below the routers: PULL, PUSH with merge on 409, tickets, status,
the working copies, the calls passed on to OCI and the research runs.

`PcService` is the facade the routers call (they never reach into its client, workspace or
config). Routers stay thin and call these methods from `def` endpoints (FastAPI's threadpool)
or worker threads, because everything here blocks on the network, the disk or the CPU.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Protocol

from pydantic import ValidationError

from contracts.audit import AuditEntry
from contracts.broker import BrokerStatus, ReconcileResolveRequest, Reconciliation
from contracts.common import now_kst
from contracts.ops import CycleRequest, CycleResponse, Health
from contracts.pc import (
    BacktestRequest,
    ConflictChoice,
    Diff,
    OciReach,
    PcPushRequest,
    PcPushResponse,
    PcStatus,
    PullResult,
    StoredDraft,
    SweepRequest,
    TunnelStatus,
    WalkForwardRequest,
)
from contracts.plan import OrderPlan
from contracts.portfolio import Portfolio
from contracts.research import (
    BacktestResponse,
    BacktestSeries,
    SweepResponse,
    WalkForwardResponse,
)
from contracts.settings import Settings
from contracts.sync import EmergencyStop, EmergencyStopRequest, PushRequest, SyncSnapshot
from contracts.ticket import FillsRequest, TicketRecord
from krx_common.oci_http import OciHttpError, OciProtocolError
from pc_backend import research
from pc_backend.config import PcConfig
from pc_backend.oci_client import OciClient, OciUnreachable
from pc_backend.workspace import (
    ARTIFACTS,
    InvalidInput,
    NoDraft,
    NotPulled,
    Workspace,
    WorkspaceError,
)

log = logging.getLogger("krx.pc")

MAX_MERGE_ROUNDS = 3


class Link(Protocol):
    """The way to OCI: `DirectLink` or `TunnelKeeper`."""

    @property
    def local_url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def gate(self) -> str | None: ...

    def status(self) -> TunnelStatus: ...


class MergeConflicts(WorkspaceError):
    """Conflicts with OCI's newer values (pending, or found by a rebase): nothing pushed."""


class NothingToPush(WorkspaceError):
    """No local edits to push."""


class DraftRefused(WorkspaceError):
    """No ticket can be drafted from the pulled plan."""


class PcService:
    def __init__(self, config: PcConfig, workspace: Workspace, link: Link, client: OciClient,
                 ) -> None:
        self.config = config
        self.workspace = workspace
        self.link = link
        self.client = client
        # One PULL/PUSH/submit at a time: each reads and then rewrites the workspace.
        self._sync = threading.Lock()

    # -- status --------------------------------------------------------------------------------
    def probe(self) -> OciReach:
        return self._probe()[0]

    def _probe(self) -> tuple[OciReach, Health | None]:
        """OCI's reachability and, when reached, its `/health` answer (revision, stage)."""
        why = self.link.gate()
        if why is not None:
            return OciReach(reachable=False, error=why), None
        try:
            health, ms = self.client.health(timeout=min(2.0, self.config.read_timeout_s))
        except (OciUnreachable, OciHttpError, OciProtocolError) as exc:
            return OciReach(reachable=False, error=str(exc)), None
        return OciReach(reachable=True, latency_ms=round(ms, 2)), health

    def status(self) -> PcStatus:
        oci, health = self._probe()
        status = PcStatus(tunnel=self.link.status(), oci=oci, oci_url=self.link.local_url,
                          unpushed_edits=0, conflicts=0,
                          oci_revision=health.revision if health else None,
                          oci_last_cycle=health.last_cycle if health else None)
        try:  # the tunnel and OCI are still reported when a workspace file is damaged
            meta = self.workspace.meta()
            diff = self.workspace.diff()
            draft = self.workspace.draft()
        except WorkspaceError as exc:
            return status.model_copy(update={"workspace_error": str(exc)})
        return status.model_copy(update={
            "last_pull_at": meta.pulled_at, "pulled_revision": meta.pulled_revision,
            "unpushed_edits": len(diff.changes), "conflicts": len(diff.conflicts),
            "draft_ticket_id": draft.ticket.ticket_id if draft else None})

    # -- PULL ----------------------------------------------------------------------------------
    def pull(self) -> PullResult:
        with self._sync:
            return self._pull()

    def _pull(self) -> PullResult:
        _, raw = self.client.snapshot_raw()
        snap, rebased, conflicts = self.workspace.store_pull(raw, self.link.local_url)
        meta = self.workspace.meta()
        return PullResult(revision=snap.revision, pulled_at=meta.pulled_at or now_kst(),
                          rebased=rebased, conflicts=conflicts)

    # -- PUSH ----------------------------------------------------------------------------------
    def push(self, body: PcPushRequest) -> PcPushResponse:
        """Push the edits with `If-Match: <pulled revision>`. On OCI's 409: pull, rebase and
        retry while the rebase is clean; a conflict stops it with nothing pushed."""
        with self._sync:
            rebased = False
            for _ in range(MAX_MERGE_ROUNDS):
                ws = self.workspace
                pending = ws.conflicts()
                if pending:
                    raise MergeConflicts(
                        f"{len(pending)} conflict(s) with OCI's newer values: pick 'mine' or "
                        "'theirs' for each (POST /api/v1/conflicts/resolve), then push again",
                        conflicts=[c.model_dump(mode="json") for c in pending])
                meta = ws.meta()
                if meta.pulled_revision is None or not ws.has_snapshot():
                    raise NotPulled("nothing pulled yet: POST /api/v1/pull (krx pc pull) first")
                docs = {a: ws.working_doc(a) for a in ARTIFACTS if ws.is_edited(a)}
                if not docs:
                    raise NothingToPush("no local edits to push (GET /api/v1/diff is empty)")
                try:
                    request = PushRequest.model_validate(
                        {**docs, "reason": body.reason, "actor": body.actor})
                except ValidationError as exc:  # an edit stored before a contract changed
                    err = exc.errors()[0]
                    where = ".".join(str(p) for p in err["loc"])
                    raise InvalidInput(f"{where}: {err['msg']}; fix it in the workspace or "
                                      "discard the edits", field=where) from None
                try:
                    pushed = self.client.push(request.model_dump(mode="json", exclude_none=True),
                                              meta.pulled_revision)
                except OciHttpError as exc:
                    if exc.status_code != 409 or exc.code != "STALE_REVISION":
                        raise
                    log.info("push: OCI moved on (%s); pulling and rebasing", exc.body.get(
                        "message"))
                    result = self._pull()
                    rebased = True
                    if result.conflicts:
                        raise MergeConflicts(
                            f"OCI changed {len(result.conflicts)} field(s) you also changed; "
                            "nothing was pushed. Pick a side for each "
                            "(POST /api/v1/conflicts/resolve), then push again",
                            conflicts=[c.model_dump(mode="json") for c in result.conflicts],
                        ) from None
                    continue
                visible = self._wait_visible(pushed.revision, pushed.replan)
                ws.set_last_push(pushed.revision)
                return PcPushResponse(**pushed.model_dump(), visible=visible, rebased=rebased)
            raise MergeConflicts(f"OCI kept changing during {MAX_MERGE_ROUNDS} push attempts; "
                                 "pull and push again")

    def _wait_visible(self, revision: int, replan: str) -> bool:
        """Pull until the snapshot carries `revision` (and, when a re-plan was scheduled, its
        summary too); the pulled snapshot becomes the new base either way."""
        deadline = time.monotonic() + self.config.push_visible_timeout_s
        while True:
            try:
                _, raw = self.client.snapshot_raw()
            except OciUnreachable:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.2)
                continue
            snap = SyncSnapshot.model_validate_json(raw)
            if _carries(snap, revision, replan == "scheduled") or time.monotonic() > deadline:
                self.workspace.store_pull(raw, self.link.local_url)
                return _carries(snap, revision, replan == "scheduled")
            time.sleep(0.1)

    # -- workspace -----------------------------------------------------------------------------
    def snapshot_bytes(self) -> bytes:
        """The last pulled `SyncSnapshot`, as OCI sent it."""
        return self.workspace.snapshot_bytes()

    def diff(self) -> Diff:
        return self.workspace.diff()

    def resolve(self, choices: list[ConflictChoice]) -> Diff:
        return self.workspace.resolve(choices)

    def portfolio(self) -> Portfolio:
        return self.workspace.working("portfolio")  # type: ignore[return-value]

    def put_portfolio(self, portfolio: Portfolio) -> Portfolio:
        return self.workspace.put_working("portfolio", portfolio)  # type: ignore[return-value]

    def settings(self) -> Settings:
        return self.workspace.working("settings")  # type: ignore[return-value]

    def put_settings(self, settings: Settings) -> Settings:
        return self.workspace.put_working("settings", settings)  # type: ignore[return-value]

    def discard_edits(self) -> Diff:
        self.workspace.discard_edits()
        return self.workspace.diff()

    # -- OCI, passed on ------------------------------------------------------------------------
    def current_plan(self) -> OrderPlan:
        return self.client.current_plan()

    def emergency_stop(self) -> EmergencyStop:
        return self.client.emergency_stop()

    def set_emergency_stop(self, body: EmergencyStopRequest) -> EmergencyStop:
        return self.client.set_emergency_stop(body.model_dump(mode="json"))

    def audit(self, params: dict[str, str | int]) -> list[AuditEntry]:
        return self.client.audit(params)

    def broker_status(self) -> BrokerStatus:
        return self.client.broker_status()

    def reconcile(self) -> Reconciliation:
        return self.client.reconcile()

    def resolve_reconciliation(self, body: ReconcileResolveRequest) -> Reconciliation:
        return self.client.resolve_reconciliation(body.model_dump(mode="json"))

    def run_cycle(self, body: CycleRequest | None) -> CycleResponse:
        payload = body.model_dump(mode="json") if body is not None else None
        return self.client.run_cycle(payload, timeout=self.config.cycle_timeout_s)

    def tickets(self, params: dict[str, str | int]) -> list[TicketRecord]:
        return self.client.tickets(params)

    def ticket(self, ticket_id: str) -> TicketRecord:
        return self.client.ticket(ticket_id)

    def record_fills(self, ticket_id: str, body: FillsRequest) -> TicketRecord:
        return self.client.record_fills(ticket_id, body.model_dump(mode="json"))

    # -- research (CPU-bound: the routers run these on their own limiter) ----------------------
    def research_base(self) -> Settings:
        """The settings a research run starts from: the working copy when something was
        pulled (what the operator is editing), else the defaults."""
        if self.workspace.has_snapshot():
            return self.settings()
        return Settings()

    def backtest(self, body: BacktestRequest) -> BacktestResponse:
        return research.backtest(self.research_base(), self.config.data, body)

    def backtest_series(self, body: BacktestRequest) -> BacktestSeries:
        return research.backtest_series(self.research_base(), self.config.data, body)

    def sweep(self, body: SweepRequest) -> SweepResponse:
        return research.sweep(self.research_base(), self.config.data, body)

    def walkforward(self, body: WalkForwardRequest) -> WalkForwardResponse:
        return research.walkforward(self.research_base(), self.config.data, body)

    # -- tickets -------------------------------------------------------------------------------
    def draft(self) -> StoredDraft:
        """Draft a ticket from the pulled plan with `strategy.ticketing`; stored with a fresh
        idempotency key before anything is sent."""
        from strategy import ticketing

        with self._sync:
            snap = self.workspace.snapshot()
            if snap.plan is None:
                raise DraftRefused("the pulled snapshot has no plan: pull after the daily cycle")
            try:
                ticket = ticketing.draft_ticket(snap.plan, snap.settings,
                                                cash=snap.portfolio.cash, created_at=now_kst())
            except ticketing.TicketDraftError as exc:
                raise DraftRefused(str(exc), field="plan") from None
            old = self.workspace.draft()
            if old is not None and old.record is None and old.ticket.ticket_id == ticket.ticket_id:
                return old  # same content: keep the key, so a retry stays idempotent
            draft = StoredDraft(ticket=ticket, idempotency_key=str(uuid.uuid4()),
                                pulled_revision=snap.revision)
            self.workspace.save_draft(draft)
            return draft

    def get_draft(self) -> StoredDraft:
        draft = self.workspace.draft()
        if draft is None:
            raise NoDraft("no ticket draft: POST /api/v1/tickets/draft")
        return draft

    def discard_draft(self) -> None:
        if not self.workspace.discard_draft():
            raise NoDraft("no ticket draft to discard")

    def submit(self, confirm: bool) -> tuple[TicketRecord, int]:
        """Send the stored draft with its stored key (the key is on disk before the first
        send); OCI unreachable → `OciUnreachable` at once, the draft kept."""
        if not confirm:
            raise InvalidInput("confirm: must be true to send the orders", field="confirm")
        with self._sync:
            draft = self.get_draft()
            ticket = draft.ticket.model_copy(update={"confirmed": True})
            draft = draft.model_copy(update={"ticket": ticket, "attempts": draft.attempts + 1,
                                             "last_attempt_at": now_kst()})
            self.workspace.save_draft(draft)  # before the send: a retry reuses all of it
            record, status = self.client.submit_ticket(ticket.model_dump(mode="json"),
                                                       draft.idempotency_key)
            self.workspace.save_draft(draft.model_copy(update={"record": record}))
            return record, status


def _carries(snap: SyncSnapshot, revision: int, needs_replan: bool) -> bool:
    if snap.revision < revision:
        return False
    if not needs_replan:
        return True
    s = snap.summary
    return s is not None and max(s.portfolio_revision, s.settings_revision) >= revision
