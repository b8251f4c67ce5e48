"""The PC's client of the OCI API (through the tunnel's local port, or a direct URL).

One reused `httpx.Client` with explicit connect/read timeouts and the bearer token, errors
passed through and answers parsed by `krx_common.oci_http` (shared with the replay driver).
Answers are `contracts` models. Only idempotent calls are retried (GETs, and a ticket submit,
which carries its Idempotency-Key), with a short capped backoff and an overall deadline, so a
dead tunnel gives a fast `OciUnreachable` instead of a hang. An error answer of OCI is raised
as `OciHttpError` carrying OCI's body unchanged (`error`, `message`, `field`, ...).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from contracts.audit import AuditEntry
from contracts.broker import BrokerStatus, Reconciliation
from contracts.ops import CycleResponse, Health
from contracts.plan import OrderPlan
from contracts.sync import EmergencyStop, PushResponse, SyncSnapshot
from contracts.ticket import TicketRecord
from krx_common.oci_http import bearer_client, parse_list, parse_model, raise_for_error

log = logging.getLogger("krx.pc.oci")

M = TypeVar("M", bound=BaseModel)

RETRY_DELAYS = (0.1, 0.3, 0.8)  # capped backoff between attempts of an idempotent call


class OciUnreachable(Exception):
    """OCI could not be reached (connection refused, timeout, tunnel down)."""

    def __init__(self, message: str, *, cause: str | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class OciClient:
    """Calls of the OCI `/api/v1`. Thread-safe (httpx.Client is); `close()` when done.

    `gate` is asked before each attempt; it returns None when OCI may be tried, or a message
    why not (e.g. the tunnel is reconnecting), which fails the call at once.
    """

    def __init__(self, base_url: str, token: str, *, connect_timeout: float = 2.0,
                 read_timeout: float = 5.0, gate: Callable[[], str | None] | None = None,
                 deadline_s: float | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._client = bearer_client(self.base_url, token, connect_timeout=connect_timeout,
                                     read_timeout=read_timeout)
        self._gate = gate
        self._deadline_s = (deadline_s if deadline_s is not None
                            else read_timeout + 2 * connect_timeout)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def set_base_url(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._client.base_url = httpx.URL(self.base_url)

    # -- transport ---------------------------------------------------------------------------
    def request(self, method: str, path: str, *, idempotent: bool, json_body: Any = None,
                params: Any = None, headers: dict[str, str] | None = None,
                timeout: float | None = None) -> httpx.Response:
        """One call; 2xx answers are returned, errors raised (`OciHttpError`,
        `OciUnreachable`)."""
        delays = RETRY_DELAYS if idempotent else ()
        started = time.monotonic()
        limit = self._deadline_s if timeout is None else timeout + self._deadline_s
        attempt = 0
        while True:
            if self._gate is not None:
                why = self._gate()
                if why is not None:
                    raise OciUnreachable(why)
            try:
                response = self._client.request(
                    method, path, json=json_body, params=params, headers=headers,
                    timeout=self._timeout if timeout is None else httpx.Timeout(
                        timeout, connect=self._timeout.connect))
            except httpx.TransportError as exc:
                cause = f"{type(exc).__name__}: {exc}".rstrip(": ")
                elapsed = time.monotonic() - started
                # A read timeout means OCI has the request and is slow: waiting again would only
                # double the wait. Connection failures (refused, reset, closed) are retried.
                retry = not isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout)
                if retry and attempt < len(delays) and elapsed + delays[attempt] < limit:
                    time.sleep(delays[attempt])
                    attempt += 1
                    continue
                raise OciUnreachable(
                    f"OCI did not answer {method} {path} ({cause}) after {elapsed:.1f} s; "
                    "check the tunnel status (krx pc status) and that the OCI backend is running",
                    cause=cause) from None
            return raise_for_error(response)

    def _model(self, model: type[M], response: httpx.Response) -> M:
        return parse_model(model, response)

    # -- calls -------------------------------------------------------------------------------
    def health(self, timeout: float = 2.0) -> tuple[Health, float]:
        """OCI `/health` and the round trip in ms (one attempt, short timeout)."""
        t0 = time.perf_counter()
        r = self.request("GET", "/health", idempotent=False, timeout=timeout)
        return self._model(Health, r), (time.perf_counter() - t0) * 1000.0

    def snapshot_raw(self) -> tuple[int, bytes]:
        """(revision, raw JSON) of `GET /sync/snapshot`, validated as a SyncSnapshot."""
        r = self.request("GET", "/api/v1/sync/snapshot", idempotent=True)
        snap = self._model(SyncSnapshot, r)
        return snap.revision, r.content

    def snapshot(self) -> SyncSnapshot:
        return self._model(SyncSnapshot, self.request("GET", "/api/v1/sync/snapshot",
                                                      idempotent=True))

    def push(self, body: dict[str, Any], if_match: int) -> PushResponse:
        r = self.request("POST", "/api/v1/sync/push", idempotent=False, json_body=body,
                         headers={"If-Match": f'"{if_match}"'})
        return self._model(PushResponse, r)

    def current_plan(self) -> OrderPlan:
        return self._model(OrderPlan, self.request("GET", "/api/v1/plans/current",
                                                   idempotent=True))

    def submit_ticket(self, ticket_json: dict[str, Any], key: str) -> tuple[TicketRecord, int]:
        """(record, status): 201 created, 200 replayed. Retried: the key makes it idempotent."""
        r = self.request("POST", "/api/v1/tickets", idempotent=True, json_body=ticket_json,
                         headers={"Idempotency-Key": key})
        return self._model(TicketRecord, r), r.status_code

    def tickets(self, params: Any = None) -> list[TicketRecord]:
        r = self.request("GET", "/api/v1/tickets", idempotent=True, params=params)
        return parse_list(TicketRecord, r)

    def ticket(self, ticket_id: str) -> TicketRecord:
        return self._model(TicketRecord, self.request(
            "GET", f"/api/v1/tickets/{ticket_id}", idempotent=True))

    def record_fills(self, ticket_id: str, body: dict[str, Any]) -> TicketRecord:
        return self._model(TicketRecord, self.request(
            "POST", f"/api/v1/tickets/{ticket_id}/fills", idempotent=False, json_body=body))

    def emergency_stop(self) -> EmergencyStop:
        return self._model(EmergencyStop, self.request("GET", "/api/v1/emergency-stop",
                                                       idempotent=True))

    def set_emergency_stop(self, body: dict[str, Any]) -> EmergencyStop:
        return self._model(EmergencyStop, self.request(
            "POST", "/api/v1/emergency-stop", idempotent=False, json_body=body))

    def broker_status(self) -> BrokerStatus:
        return self._model(BrokerStatus, self.request("GET", "/api/v1/broker/status",
                                                      idempotent=True))

    def reconcile(self) -> Reconciliation:
        # Idempotent in effect (a read of both sides; at most one more audit line).
        return self._model(Reconciliation, self.request("POST", "/api/v1/broker/reconcile",
                                                        idempotent=False))

    def resolve_reconciliation(self, body: dict[str, Any]) -> Reconciliation:
        return self._model(Reconciliation, self.request(
            "POST", "/api/v1/broker/reconcile/resolve", idempotent=False, json_body=body))

    def audit(self, params: Any = None) -> list[AuditEntry]:
        r = self.request("GET", "/api/v1/audit", idempotent=True, params=params)
        return parse_list(AuditEntry, r)

    def run_cycle(self, body: dict[str, Any] | None, timeout: float) -> CycleResponse:
        r = self.request("POST", "/api/v1/ops/cycle", idempotent=False, json_body=body,
                         timeout=timeout)
        return self._model(CycleResponse, r)

