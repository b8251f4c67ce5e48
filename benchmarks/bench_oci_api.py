"""OCI API latency and throughput against a real uvicorn process (one worker) on loopback.

Rows (each at 1, 8 and 32 concurrent clients; a client is a thread with one reused
`httpx.Client`, so connections are kept alive):
- `GET /health` — the baseline: auth-free, two small reads, the HTTP stack's own cost.
- `GET /api/v1/sync/snapshot` — the PULL bundle (summary, plan, tickets, audit tail).
- `POST /api/v1/sync/push` — the real PUSH: validate, lock, write, audit, schedule the re-plan
  (which runs in the background on the real bars, as-of 2025-12-29). Concurrent clients race
  on If-Match: a 409 carries the current revision and the client retries with it.
- push → re-plan landed — one client: from sending a PUSH until the snapshot's summary
  carries the pushed revision (the operator's "new plan visible" latency).
- with `wrk` installed: `/health` and the snapshot at 32 connections from a C load generator,
  so the client's own CPU does not cap the throughput figure.
Targets: snapshot p50 ≤ 3 ms at 1 client and ≥ 800 req/s at 32; push p50 ≤ 15 ms.
Writes `benchmarks/results/bench_oci_api.json`.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, REPO_DAILY, percentile, print_table, save_json  # noqa: E402

from krx_common.procs import free_port  # noqa: E402

CONCURRENCY = (1, 8, 32)
# Requests per scenario and concurrency (bounded: the whole run takes about a minute).
REQUESTS = {
    "health": {1: 1000, 8: 2000, 32: 3200},
    "snapshot": {1: 1000, 8: 2000, 32: 3200},
    "push": {1: 300, 8: 400, 32: 640},
}
TARGETS = {"snapshot_p50_ms_1": 3.0, "snapshot_rps_32": 800.0, "push_p50_ms": 15.0}


@dataclass
class Server:
    base_url: str
    token: str
    data_dir: Path
    proc: subprocess.Popen

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=120, trust_env=False,
                            headers={"Authorization": f"Bearer {self.token}"})


def start_server(data_dir: Path, log: Path) -> Server:
    token = secrets.token_urlsafe(32)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRX_OCI_")}
    env.update({"KRX_OCI_TOKEN": token, "KRX_OCI_TICKET_PROCESSOR": "false",
                "KRX_OCI_NOW": "2025-12-30T10:00:00+09:00"})
    cmd = [sys.executable, "-m", "krx_cli.main", "oci", "serve", "--host", "127.0.0.1",
           "--port", str(port), "--data-dir", str(data_dir), "--data", f"csv:{REPO_DAILY}",
           "--log-level", "warning"]  # no access log: it is not what is measured
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", token, data_dir, proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text(encoding='utf-8')}")
        try:
            if httpx.get(f"{server.base_url}/health", timeout=1, trust_env=False).is_success:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    stop_server(server)
    raise SystemExit("server did not come up")


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(timeout=10)


def prepare_state(server: Server) -> None:
    """A realistic snapshot: a cycle's summary and READY plan, one processed ticket."""
    import uuid

    from contracts.common import now_kst
    from contracts.plan import OrderPlan
    from contracts.settings import Settings
    from strategy.ticketing import draft_ticket

    with server.client() as c:
        c.post("/api/v1/ops/cycle").raise_for_status()
        plan = OrderPlan.model_validate_json(c.get("/api/v1/plans/current").content)
        snap = c.get("/api/v1/sync/snapshot").json()
        ticket = draft_ticket(plan, Settings.model_validate(snap["settings"]),
                              cash=snap["portfolio"]["cash"], created_at=now_kst())
        r = c.post("/api/v1/tickets", json=ticket.model_copy(update={"confirmed": True})
                   .model_dump(mode="json"), headers={"Idempotency-Key": str(uuid.uuid4())})
        r.raise_for_status()
    subprocess.run([sys.executable, "-m", "krx_cli.main", "oci", "process-tickets",
                    "--data-dir", str(server.data_dir)], cwd=REPO, check=True,
                   capture_output=True)


@dataclass
class Outcome:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


Request = Callable[[httpx.Client, dict[str, Any]], httpx.Response]


def server_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(server: Server, request: Request, clients: int, total: int) -> dict[str, Any]:
    """`total` requests split over `clients` threads, started together; wall-clock
    throughput over the whole run, and the server's CPU time per request (so a busy
    machine or a slow client shows up as such)."""
    per_client = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    results = [Outcome() for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def worker(i: int) -> None:
        state: dict[str, Any] = {"worker": i}
        with server.client() as c:
            for _ in range(3):  # connect and warm this connection
                request(c, state)
            barrier.wait()
            out = results[i]
            for _ in range(per_client[i]):
                t0 = time.perf_counter()
                r = request(c, state)
                out.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
                out.statuses[r.status_code] = out.statuses.get(r.status_code, 0) + 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    cpu0 = server_cpu_s(server.proc.pid)
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu1 = server_cpu_s(server.proc.pid)
    lat = [x for o in results for x in o.latencies_ms]
    statuses: dict[int, int] = {}
    for o in results:
        for code, n in o.statuses.items():
            statuses[code] = statuses.get(code, 0) + n
    return {"clients": clients, "n": len(lat), "p50_ms": percentile(lat, 0.50),
            "p99_ms": percentile(lat, 0.99), "max_ms": max(lat), "rps": len(lat) / wall,
            "ok_rps": statuses.get(200, 0) / wall, "statuses": statuses,
            "server_cpu_ms": (cpu1 - cpu0) * 1000 / len(lat) if cpu0 and cpu1 else None,
            "server_cpu_pct": (cpu1 - cpu0) * 100 / wall if cpu0 and cpu1 else None}


def get(path: str) -> Request:
    def request(c: httpx.Client, state: dict[str, Any]) -> httpx.Response:
        r = c.get(path)
        if r.status_code != 200:
            raise RuntimeError(f"{path}: {r.status_code} {r.text[:300]}")
        return r
    return request


def push(c: httpx.Client, state: dict[str, Any]) -> httpx.Response:
    """One PUSH of a changed cash amount; tracks the revision from 200/409 answers."""
    if "body" not in state:
        snap = c.get("/api/v1/sync/snapshot")
        state["revision"] = int(snap.headers["etag"].strip('"'))
        state["portfolio"] = snap.json()["portfolio"]
        state["n"] = 0
    state["n"] += 1
    portfolio = state["portfolio"] | {"cash": 10_000_000 + state["worker"] * 10_000 + state["n"]}
    r = c.post("/api/v1/sync/push", json={"portfolio": portfolio, "reason": "bench"},
               headers={"If-Match": f'"{state["revision"]}"'})
    if r.status_code == 200:
        state["revision"] = r.json()["revision"]
    elif r.status_code == 409:
        state["revision"] = r.json()["revision"]  # lost the race: retry on the current one
    else:
        raise RuntimeError(f"push: {r.status_code} {r.text[:300]}")
    state["body"] = True
    return r


def replan_landed(server: Server, n: int) -> dict[str, Any]:
    """Sequential PUSHes; each timed until the snapshot's summary carries its revision."""
    times: list[float] = []
    with server.client() as c:
        for i in range(n):
            snap = c.get("/api/v1/sync/snapshot")
            portfolio = snap.json()["portfolio"] | {"cash": 9_000_000 + i}
            t0 = time.perf_counter()
            r = c.post("/api/v1/sync/push", json={"portfolio": portfolio, "reason": "bench"},
                       headers={"If-Match": snap.headers["etag"]})
            r.raise_for_status()
            revision = r.json()["revision"]
            while True:
                s = c.get("/api/v1/sync/snapshot")
                if s.status_code != 200:
                    raise RuntimeError(f"snapshot: {s.status_code} {s.text[:500]}")
                summary = s.json()["summary"]
                if summary and summary["portfolio_revision"] >= revision:
                    break
                time.sleep(0.002)
            times.append((time.perf_counter() - t0) * 1000)
    return {"n": n, "p50_ms": percentile(times, 0.5), "p99_ms": percentile(times, 0.99)}


def wrk_load(server: Server, path: str, connections: int, seconds: int = 5,
             runs: int = 3) -> dict[str, Any]:
    """Throughput with `wrk` (C, 2 threads, keep-alive) as the load generator: the Python
    clients above spend about as much CPU per request as the server, so on a shared 2-CPU box
    they measure themselves as much as the server. Empty dict when wrk is not installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return {}
    cmd = [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
           "-H", f"Authorization: Bearer {server.token}", server.base_url + path]
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    results = []
    for _ in range(runs):  # the box is shared: report the median of several runs
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
        p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        results.append({
            "rps": float(rps.group(1)) if rps else float("nan"),
            "p50_ms": float(p50.group(1)) * scale[p50.group(2)] if p50 else float("nan"),
            "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        })
    results.sort(key=lambda r: r["rps"])
    mid = results[len(results) // 2]
    return {"scenario": f"{path} (wrk, median of {runs})", "clients": connections, **mid,
            "rps_min": results[0]["rps"], "rps_max": results[-1]["rps"],
            "non_2xx": sum(r["non_2xx"] for r in results)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the requests")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-oci-") as tmp:
        server = start_server(Path(tmp) / "data", Path(tmp) / "server.log")
        try:
            prepare_state(server)
            with server.client() as c:
                size = len(c.get("/api/v1/sync/snapshot").content)
            # Reads first, on the prepared state, before the PUSH storm grows logs and leaves
            # a background re-plan running.
            wrk_rows = [r for r in (wrk_load(server, "/health", 32),
                                    wrk_load(server, "/api/v1/sync/snapshot", 32)) if r]
            scenarios: list[tuple[str, Request]] = [
                ("health", get("/health")), ("snapshot", get("/api/v1/sync/snapshot")),
                ("push", push),
            ]
            for name, request in scenarios:
                for clients in CONCURRENCY:
                    total = max(clients * 2, int(REQUESTS[name][clients] * scale))
                    row = run_load(server, request, clients, total)
                    row = {"scenario": name, **row}
                    rows.append(row)
                    print(f"  {name:16s} clients={clients:2d} p50={row['p50_ms']:7.2f} ms "
                          f"p99={row['p99_ms']:8.2f} ms rps={row['rps']:8.1f}", flush=True)
            landed = replan_landed(server, max(5, int(40 * scale)))
        finally:
            stop_server(server)

    def pick(name: str, clients: int) -> dict[str, Any]:
        return next(r for r in rows if r["scenario"] == name and r["clients"] == clients)

    for r in rows:
        base = pick("health", r["clients"])
        r["p50_vs_health"] = r["p50_ms"] / base["p50_ms"]
        r["statuses"] = " ".join(f"{k}:{v}" for k, v in sorted(r["statuses"].items()))
    measured = {
        "snapshot_p50_ms_1": pick("snapshot", 1)["p50_ms"],
        "snapshot_rps_32": max([pick("snapshot", 32)["rps"]] + [
            r["rps"] for r in wrk_rows if r["scenario"].startswith("/api/v1/sync/snapshot")
            and r["non_2xx"] == 0]),
        "push_p50_ms": pick("push", 1)["p50_ms"],
        "push_to_replan_landed_p50_ms": landed["p50_ms"],
    }
    verdict = {
        "snapshot_p50_ms_1": measured["snapshot_p50_ms_1"] <= TARGETS["snapshot_p50_ms_1"],
        "snapshot_rps_32": measured["snapshot_rps_32"] >= TARGETS["snapshot_rps_32"],
        "push_p50_ms": measured["push_p50_ms"] <= TARGETS["push_p50_ms"],
    }
    print()
    try:
        load = " (load average {:.1f} {:.1f} {:.1f})".format(*os.getloadavg())
    except OSError:
        load = ""
    print(f"snapshot body: {size:,} bytes; {os.cpu_count()} CPUs shared by server and "
          f"clients{load}")
    print_table(rows, ["scenario", "clients", "n", "p50_ms", "p99_ms", "max_ms", "rps",
                       "ok_rps", "p50_vs_health", "server_cpu_ms", "server_cpu_pct",
                       "statuses"])
    if wrk_rows:
        print()
        print_table(wrk_rows, ["scenario", "clients", "p50_ms", "p99_ms", "rps", "rps_min",
                               "rps_max", "non_2xx"])
    else:
        print("(wrk not installed: no C load-generator rows)")
    print()
    for key, ok in verdict.items():
        print(f"{key}: {measured[key]:.2f} (target {TARGETS[key]}) {'OK' if ok else 'MISSED'}")
    print(f"push_to_replan_landed_p50_ms: {landed['p50_ms']:.2f} (p99 {landed['p99_ms']:.2f}, "
          f"n={landed['n']}): PUSH sent → snapshot shows the re-planned revision")
    path = save_json("bench_oci_api", {
        "cpus": os.cpu_count(), "load_average_after": load.strip(" ()"),
        "snapshot_bytes": size, "rows": rows, "wrk_rows": wrk_rows, "replan_landed": landed,
        "targets": TARGETS,
        "measured": measured, "verdict": verdict,
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
