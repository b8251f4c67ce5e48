"""The fault drill (issue 15): one scripted run of the real OCI backend (`krx oci serve`) on a
data root that is a real filesystem of its own (a small tmpfs, `mount -t tmpfs`), through five
faults in a row:

- a damaged journal (a change whose portfolio text no longer matches its checksum);
- the emergency stop's file deleted while the stop is on;
- a full disk (the tmpfs filled to the last byte);
- the wall clock stepped back ten days (the server restarted on the same root with its one
  clock seam, `KRX_OCI_NOW`, ten days earlier, then with the right clock again);
- the data root remounted read-only under the running server, and a restart on it.

Each fault must end degraded-not-dead: `/health` keeps answering 200 with the fault named,
what must be refused is refused (fail closed), the stored files are byte-identical before and
after (a damaged file is kept as it is or moved aside whole, never replaced), and the backend
recovers once the fault is removed. The first three run against one process, never restarted.

Used by tests/reliability/test_fault_drill.py and benchmarks/bench_fault_drill.py.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from oci_server import (
    REPO_DAILY,
    OciServer,
    hash_tree,
    new_token,
    start_server,
    stop_server,
    wait_replanned,
)
from ticket_fixtures import ready_ticket

from contracts import AuditAction, AuditEntry, Portfolio, Settings
from contracts.ticket import Ticket
from krx_common.atomic import dump_model

# Tuesday 2025-12-30 10:00 KST: the cycle plans 2025-12-29, the real data's last session.
NOW = "2025-12-30T10:00:00+09:00"
# Ten days back: the clock makes 2025-12-19 the last completed session.
STEPPED_BACK = "2025-12-20T10:00:00+09:00"


class MountUnavailable(RuntimeError):
    """`mount -t tmpfs` is not permitted here (not root, or a container without
    CAP_SYS_ADMIN)."""


def _mount(*args: str) -> None:
    out = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise MountUnavailable(f"mount {' '.join(args)}: {out.stderr.strip()}")


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A fresh tmpfs of `size` (e.g. "16m") mounted at `path`, unmounted on exit (lazily if
    a process still holds it). `MountUnavailable` when mounting is not permitted."""
    if os.geteuid() != 0:
        raise MountUnavailable("mounting a tmpfs needs root (uid 0)")
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "krx-fault-drill", str(path))
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextmanager
def read_only(mountpoint: Path) -> Iterator[None]:
    """`mountpoint` remounted read-only for the block (root ignores file modes; a read-only
    mount refuses even root), read-write again after it."""
    _mount("-o", "remount,ro", str(mountpoint))
    try:
        yield
    finally:
        _mount("-o", "remount,rw", str(mountpoint))


def fill(disk: Path) -> Path:
    """Fill the filesystem of `disk` to the last byte with one file; returns it."""
    filler = disk / "filler.bin"
    with open(filler, "wb", buffering=0) as fh:
        for chunk in (1 << 20, 1 << 12, 1):
            block = b"\0" * chunk
            try:
                while True:
                    fh.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return filler


@dataclass
class FaultRow:
    fault: str
    health: str = ""  # what /health said during the fault
    refused: list[str] = field(default_factory=list)  # "METHOD path -> status CODE: message"
    recovered: bool = False
    unchanged: bool = False  # the stored files byte-identical (the fault's own file aside)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)  # empty when every check held


@dataclass
class DrillReport:
    mount: str
    rows: list[FaultRow] = field(default_factory=list)
    one_process: bool = False  # the first three faults were served by one process
    tracebacks: int = 0  # "Traceback" lines in the servers' logs

    @property
    def problems(self) -> list[str]:
        return [f"{r.fault}: {p}" for r in self.rows for p in r.problems]

    def as_json(self) -> dict:
        return {"mount": self.mount, "one_process": self.one_process,
                "tracebacks": self.tracebacks, "rows": [asdict(r) for r in self.rows]}


def _health(c: httpx.Client, row: FaultRow) -> dict:
    r = c.get("/health")
    if r.status_code != 200:
        row.problems.append(f"/health answered {r.status_code}: {r.text[:200]}")
        return {}
    return dict(r.json())


def _said(body: dict) -> str:
    if not body:
        return "no answer"
    return f"{body.get('status')}: {body.get('error') or ''}".rstrip(": ")


def _refused(row: FaultRow, what: str, r: httpx.Response, *, status: Callable[[int], bool],
             code: str | None = None, says: str | None = None) -> None:
    """Record a request that had to be refused; a problem unless refused as expected."""
    try:
        body = r.json()
    except ValueError:
        body = {}
    err = body.get("error", "") if isinstance(body, dict) else ""
    message = body.get("message", "") if isinstance(body, dict) else ""
    row.refused.append(f"{what} -> {r.status_code} {err}: {message[:90]}".rstrip(": "))
    if not status(r.status_code):
        row.problems.append(f"{what} answered {r.status_code}: {r.text[:300]}")
    if code is not None and err != code:
        row.problems.append(f"{what}: error {err!r}, expected {code!r}")
    if says is not None and says.lower() not in message.lower():
        row.problems.append(f"{what}: message does not say {says!r}: {message!r}")


def _same(row: FaultRow, before: dict[str, str], after: dict[str, str], *,
          allowed: Callable[[str], bool] = lambda name: False) -> None:
    """Every stored file as it was, except those `allowed` to differ (by design)."""
    changed = sorted(n for n in set(before) | set(after)
                     if before.get(n) != after.get(n) and not allowed(n))
    row.unchanged = not changed
    if changed:
        row.problems.append(f"files changed: {changed}")


def _push(c: httpx.Client, cash: float, reason: str) -> httpx.Response:
    etag = c.get("/api/v1/sync/snapshot").headers["ETag"]
    return c.post("/api/v1/sync/push", headers={"If-Match": etag},
                  json={"reason": reason, "portfolio": {"cash": cash}})


def _stop(c: httpx.Client, on: bool) -> httpx.Response:
    return c.post("/api/v1/emergency-stop",
                  json={"on": on, "reason": "fault drill", "by": "drill"})


def _submit(c: httpx.Client, ticket: Ticket) -> httpx.Response:
    return c.post("/api/v1/tickets", json=ticket.model_dump(mode="json"),
                  headers={"Idempotency-Key": str(uuid.uuid4())})


def _ready_ticket(c: httpx.Client) -> Ticket:
    """`ready_ticket` once a background re-plan (after a PUSH or a release) has finished."""
    for _ in range(300):
        try:
            return ready_ticket(c)
        except AssertionError as exc:
            if "CYCLE_BUSY" not in str(exc):
                raise
            time.sleep(0.2)
    raise RuntimeError("the cycle stayed busy for a minute")


def _settle(c: httpx.Client) -> None:
    """Run the cycle once no background re-plan holds it: nothing moves during a fault."""
    for _ in range(300):
        if c.post("/api/v1/ops/cycle").status_code != 409:
            return
        time.sleep(0.2)


def _healthy(c: httpx.Client, row: FaultRow) -> bool:
    body = _health(c, row)
    if body.get("status") != "ok":
        row.problems.append(f"not recovered: /health {_said(body)}")
        return False
    return True


# -- the faults --------------------------------------------------------------------------------
def damaged_journal(server: OciServer, c: httpx.Client) -> FaultRow:
    """A journal of a real-looking change (revision + 1, valid audit line) whose portfolio
    text was damaged after its checksum was taken: it must be refused, not replayed."""
    row = FaultRow("damaged journal")
    paths = server.paths
    before = hash_tree(server.data_dir)
    portfolio = Portfolio.model_validate_json(paths.portfolio.read_text(encoding="utf-8"))
    settings = Settings.model_validate_json(paths.settings.read_text(encoding="utf-8"))
    revision = max(portfolio.revision, settings.revision)
    text = dump_model(portfolio.model_copy(update={"cash": 1.0, "revision": revision + 1}))
    damaged = dump_model(portfolio.model_copy(update={"cash": 9.0, "revision": revision + 1}))
    entry = AuditEntry(actor="drill", action=AuditAction.PUSH, target="portfolio",
                       reason="a change that was damaged on disk", revision_after=revision + 1)
    journal = json.dumps({
        "revision": revision + 1, "base_revision": revision,
        "writes": [{"name": "portfolio", "text": damaged,
                    "sha256": hashlib.sha256(text.encode()).hexdigest()}],
        "audit": entry.model_dump_json()}).encode()
    paths.journal.write_bytes(journal)

    health = _health(c, row)
    row.health = _said(health)
    if health.get("status") != "degraded" or not str(health.get("error")).startswith(
            "JOURNAL_REFUSED"):
        row.problems.append(f"/health did not name the refused journal: {row.health}")
    snap = c.get("/api/v1/sync/snapshot")
    if snap.status_code != 200 or snap.json()["portfolio"]["cash"] == 9.0:
        row.problems.append(f"the damaged journal was replayed: {snap.text[:200]}")
    row.refused.append("the journal's replay (checksum mismatch): moved aside, not applied")
    aside = paths.state_dir.glob("journal.refused-*.json")
    quarantined = {str(p.relative_to(server.data_dir)) for p in aside}
    if len(quarantined) != 1:
        row.problems.append(f"quarantine files: {sorted(quarantined)}")
    for name in quarantined:
        if (server.data_dir / name).read_bytes() != journal:
            row.problems.append(f"{name} is not the damaged journal byte for byte")
    _same(row, before, hash_tree(server.data_dir), allowed=lambda n: n in quarantined)

    # The person looked at it and removed it.
    for name in quarantined:
        (server.data_dir / name).unlink()
    push = _push(c, 2_000_000.0, "after the damaged journal")
    row.recovered = _healthy(c, row) and push.status_code == 200
    if push.status_code != 200:
        row.problems.append(f"PUSH after recovery: {push.status_code} {push.text[:200]}")
    else:
        wait_replanned(c, push.json()["revision"])
    return row


def deleted_stop_file(server: OciServer, c: httpx.Client) -> FaultRow:
    """The stop is on and its file is deleted: the stop must stay on (tickets refused), the
    file must not be recreated behind the operator's back, and releasing needs a valid file."""
    row = FaultRow("deleted stop file")
    paths = server.paths
    ticket = _ready_ticket(c)
    engaged = _stop(c, True)
    if engaged.status_code != 200:
        row.problems.append(f"engaging the stop: {engaged.status_code} {engaged.text[:200]}")
    before = hash_tree(server.data_dir)
    stop_name = str(paths.emergency_stop.relative_to(server.data_dir))
    paths.emergency_stop.unlink()

    health = _health(c, row)
    row.health = _said(health)
    if health.get("status") != "degraded" or health.get("emergency_stop") is not True:
        row.problems.append(f"/health did not report the stop as on and degraded: {health}")
    _refused(row, "POST /tickets", _submit(c, ticket), status=lambda s: s == 423,
             code="EMERGENCY_STOP")
    _refused(row, "POST /emergency-stop off", _stop(c, False), status=lambda s: s >= 400)
    if paths.emergency_stop.exists():
        row.problems.append("the stop file was recreated without the operator engaging it")
    _same(row, before, hash_tree(server.data_dir), allowed=lambda n: n == stop_name)

    # The operator engages the stop (rewriting the file, audited), then releases it.
    again = _stop(c, True)
    audit = c.get("/api/v1/audit", params={"action": "EMERGENCY_STOP"}).json()
    if again.status_code != 200 or "rewrote_damaged_stop_file" not in audit[-1]["details"]:
        row.problems.append(f"engaging did not rewrite the file: {again.text[:200]}")
    healthy = _healthy(c, row)
    released = _stop(c, False)
    submitted = _submit(c, _ready_ticket(c))
    row.recovered = healthy and released.status_code == 200 and submitted.status_code == 201
    if not row.recovered:
        row.problems.append(f"release {released.status_code}, ticket {submitted.status_code}: "
                            f"{submitted.text[:200]}")
    return row


def full_disk(server: OciServer, c: httpx.Client, disk: Path) -> FaultRow:
    """The data root's filesystem filled to the last byte: writes answer a 5xx naming the
    cause and change nothing; once space is freed the next PUSH lands exactly once."""
    row = FaultRow("full disk")
    _settle(c)
    etag = c.get("/api/v1/sync/snapshot").headers["ETag"]
    pushes = len(c.get("/api/v1/audit", params={"action": "PUSH", "limit": 1000}).json())
    before = hash_tree(server.data_dir)
    filler = fill(disk)

    health = _health(c, row)
    row.health = _said(health)
    if health.get("status") != "degraded" or "DISK" not in str(health.get("error")):
        row.problems.append(f"/health did not name the full disk: {row.health}")
    _refused(row, "POST /sync/push", _push(c, 3_000_000.0, "on a full disk"),
             status=lambda s: s >= 500, says="ENOSPC")
    _refused(row, "POST /emergency-stop on", _stop(c, True), status=lambda s: s >= 500,
             says="ENOSPC")
    _refused(row, "POST /ops/cycle", c.post("/api/v1/ops/cycle"), status=lambda s: s >= 500,
             says="ENOSPC")
    if c.get("/api/v1/sync/snapshot").headers.get("ETag") != etag:
        row.problems.append("the revision moved on a full disk")
    _same(row, before, hash_tree(server.data_dir))

    filler.unlink()
    healthy = _healthy(c, row)
    push = _push(c, 4_000_000.0, "after space was freed")
    snap = c.get("/api/v1/sync/snapshot").json()
    after = len(c.get("/api/v1/audit", params={"action": "PUSH", "limit": 1000}).json())
    landed_once = (push.status_code == 200 and snap["portfolio"]["cash"] == 4_000_000.0
                   and after == pushes + 1
                   and snap["revision"] == int(etag.strip('"')) + 1)
    if not landed_once:
        row.problems.append(f"after freeing space: PUSH {push.status_code}, {after - pushes} "
                            f"PUSH audit lines, revision {snap['revision']} (was {etag})")
    row.recovered = healthy and landed_once
    if push.status_code == 200:
        wait_replanned(c, push.json()["revision"])
    return row


def clock_step(server: OciServer, start: Callable[[str], OciServer]) -> tuple[FaultRow, OciServer]:
    """The wall clock ten days back: the cycle must be refused (CLOCK_SKEW, an incident), no
    plan made for an older session, no state file touched; the right clock plans again."""
    row = FaultRow("clock step (10 days back)")
    with server.client() as c:
        ticket = _ready_ticket(c)  # drafted on the right clock, submitted on the wrong one
        plan_id = ticket.plan_id
    stop_server(server)
    before = hash_tree(server.data_dir)
    audit_before = server.paths.audit.read_bytes()
    stepped = start(STEPPED_BACK)
    with stepped.client() as c:
        back = c.post("/api/v1/ops/cycle")
        health = _health(c, row)
        row.health = _said(health)
        summary = back.json().get("summary", {}) if back.status_code == 200 else {}
        codes = [r["code"] for r in summary.get("risks", [])]
        row.refused.append(f"POST /ops/cycle -> {back.status_code} exit "
                           f"{back.json().get('exit_code')}: {summary.get('status')} {codes}")
        if summary.get("status") != "BLOCKED" or "CLOCK_SKEW" not in codes \
                or summary.get("asof") is not None:
            row.problems.append(f"the cycle was not refused as CLOCK_SKEW: {back.text[:300]}")
        if health.get("status") != "degraded" or "CLOCK_SKEW" not in row.health:
            row.problems.append(f"/health did not name the clock step: {row.health}")
        # A BLOCKED cycle leaves no current plan: nothing can be ticketed on a wrong clock.
        current = c.get("/api/v1/plans/current")
        row.refused.append(f"GET /plans/current -> {current.status_code}")
        if current.status_code == 200:
            row.problems.append(f"a plan is current on a wrong clock: {current.text[:200]}")
        _refused(row, "POST /tickets", _submit(c, ticket), status=lambda s: 400 <= s < 500)
        incidents = c.get("/api/v1/audit", params={"action": "INCIDENT"}).json()
        if not incidents or "CLOCK_SKEW" not in incidents[-1]["reason"]:
            row.problems.append("no CLOCK_SKEW incident in the audit log")
    stop_server(stepped)
    if not server.paths.audit.read_bytes().startswith(audit_before):
        row.problems.append("the audit log was rewritten, not appended to")
    # By design the refused cycle reports itself: the latest summary (and the day's summary
    # file) says BLOCKED, and the audit log gains the incident and the run's line. No plan,
    # portfolio, settings, stop or ticket file is touched.
    _same(row, before, hash_tree(server.data_dir),
          allowed=lambda n: n.startswith("reports/ops/summary/") or n == "state/audit.jsonl")

    right = start(NOW)
    with right.client() as c:
        again = c.post("/api/v1/ops/cycle")
        summary = again.json().get("summary", {}) if again.status_code == 200 else {}
        # The same inputs make the same (content-addressed) plan: nothing to act on twice.
        planned = (summary.get("asof") == "2025-12-29" and summary.get("status") != "BLOCKED"
                   and again.json().get("plan_id") == plan_id)
        if not planned:
            row.problems.append(f"the right clock did not plan {plan_id} again: "
                                f"{again.text[:300]}")
        row.recovered = planned and _healthy(c, row)
    return row, right


def read_only_root(server: OciServer, disk: Path, start: Callable[[str], OciServer]
                   ) -> tuple[FaultRow, OciServer]:
    """The data root's filesystem remounted read-only under the running server, then a
    restart on it: /health names it, writes answer a 5xx naming it, nothing is written, no
    traceback; remounted read-write, the same server writes again."""
    row = FaultRow("read-only data root")
    before = hash_tree(server.data_dir)
    with read_only(disk):
        with server.client() as c:
            health = _health(c, row)
            row.health = _said(health)
            _refused(row, "POST /sync/push", _push(c, 5_000_000.0, "on a read-only root"),
                     status=lambda s: s >= 500, says="read-only")
            _refused(row, "POST /emergency-stop on", _stop(c, True), status=lambda s: s >= 500,
                     says="read-only")
        stop_server(server)
        restarted = start(NOW)  # start-up on a read-only root: up, degraded, no crash loop
        with restarted.client() as c:
            again = _health(c, row)
            row.health += f"; after a restart: {_said(again)}"
            for body in (health, again):
                if body.get("status") != "degraded" or "READ_ONLY" not in str(body.get("error")):
                    row.problems.append(f"/health did not name the read-only root: {body}")
            snap = c.get("/api/v1/sync/snapshot")
            if snap.status_code != 200:
                row.problems.append(f"reads failed on a read-only root: {snap.status_code}")
            _refused(row, "POST /sync/push (restarted)",
                     _push(c, 5_000_000.0, "on a read-only root"),
                     status=lambda s: s >= 500, says="read-only")
    _same(row, before, hash_tree(server.data_dir))
    with restarted.client() as c:
        push = _push(c, 6_000_000.0, "read-write again")
        row.recovered = _healthy(c, row) and push.status_code == 200
        if push.status_code != 200:
            row.problems.append(f"PUSH after remount: {push.status_code} {push.text[:200]}")
    return row, restarted


def run_fault_drill(workdir: Path, *, size: str = "16m") -> DrillReport:
    """The drill, start to end; every server stopped by PID and the tmpfs unmounted on the way
    out (even when a check raises). `MountUnavailable` when a tmpfs cannot be mounted."""
    report = DrillReport(mount=f"tmpfs size={size} (mount -t tmpfs, as root)")
    started: list[OciServer] = []
    token = new_token()

    def start(now: str) -> OciServer:
        server = start_server(root, workdir / f"server{len(started)}.log", token=token,
                              data_spec=f"csv:{REPO_DAILY}", env={"KRX_OCI_NOW": now})
        started.append(server)
        return server

    with tmpfs(workdir / "disk", size) as disk:
        root = disk / "data"
        root.mkdir()
        try:
            server = start(NOW)
            pid = server.proc.pid
            for fault in (damaged_journal, deleted_stop_file,
                          lambda s, c: full_disk(s, c, disk)):
                t0 = time.monotonic()
                with server.client() as c:
                    row = fault(server, c)
                row.seconds = round(time.monotonic() - t0, 2)
                report.rows.append(row)
            report.one_process = server.proc.poll() is None and server.proc.pid == pid
            for step in (clock_step, lambda s, st: read_only_root(s, disk, st)):
                t0 = time.monotonic()
                row, server = step(server, start)
                row.seconds = round(time.monotonic() - t0, 2)
                report.rows.append(row)
        finally:
            for s in started:
                stop_server(s)
    report.tracebacks = sum(s.output().count("Traceback") for s in started)
    return report
