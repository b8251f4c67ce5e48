"""Mixed traffic at a fixed rate against a real OCI backend, with the server's RSS and open
file descriptors sampled every second (issue 11, section 3). Used by test_soak.py (30 s in CI)
and benchmarks/bench_soak.py (5 minutes, plus wrk snapshot throughput)."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field

import httpx
from oci_server import OciServer

# requests per second of each kind
RATES = {"snapshot": 30.0, "tickets": 5.0, "push": 4.0}


@dataclass
class SoakResult:
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=dict)  # ms
    errors: list[str] = field(default_factory=list)
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, rss_kb, fds)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def p(self, q: float, kind: str | None = None) -> float:
        values = sorted(v for k, vs in self.latencies.items() if kind in (None, k) for v in vs)
        return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")

    def window(self, first: bool, span: float) -> list[tuple[float, int, int]]:
        t_end = self.samples[-1][0] if self.samples else 0.0
        if first:
            return [s for s in self.samples if span * 0.2 <= s[0] <= span * 1.2]
        return [s for s in self.samples if s[0] >= t_end - span]

    def growth(self, span: float) -> tuple[float, float, int, int]:
        """(rss first, rss last) as window medians, (fds first, fds last) as the most open in
        the first window and the fewest in the last: a re-plan opens files for a moment, a
        leak raises the floor."""
        a, b = self.window(True, span), self.window(False, span)
        return (statistics.median(s[1] for s in a), statistics.median(s[1] for s in b),
                max(s[2] for s in a), min(s[2] for s in b))


def _proc_stats(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
        rss = int(re.search(r"VmRSS:\s+(\d+)", fh.read()).group(1))  # type: ignore[union-attr]
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def run_soak(server: OciServer, seconds: float, rates: dict[str, float] = RATES) -> SoakResult:
    result = SoakResult(seconds, {k: [] for k in rates})
    stop = time.monotonic() + seconds
    t0 = time.monotonic()
    lock = threading.Lock()

    def paced(kind: str, rate: float) -> None:
        gap = 1.0 / rate
        due = time.monotonic()
        seq = 0
        with httpx.Client(base_url=server.base_url, headers=server.auth, timeout=10,
                          trust_env=False) as c:
            while due < stop:
                time.sleep(max(0.0, due - time.monotonic()))
                due += gap  # fixed rate: the schedule does not wait for slow answers
                start = time.perf_counter()
                try:
                    if kind == "snapshot":
                        r = c.get("/api/v1/sync/snapshot")
                    elif kind == "tickets":
                        r = c.get("/api/v1/tickets")
                    else:
                        etag = c.get("/api/v1/sync/snapshot").headers["ETag"]
                        seq += 1
                        r = c.post("/api/v1/sync/push", headers={"If-Match": etag}, json={
                            "reason": f"soak {seq}",
                            "portfolio": {"cash": 5_000_000.0 + seq % 1000}})
                    ok = r.status_code == 200
                    err = f"{kind}: {r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, err = False, f"{kind}: {type(exc).__name__} {exc}"
                ms = (time.perf_counter() - start) * 1000
                with lock:
                    result.latencies[kind].append(ms)
                    if not ok:
                        result.errors.append(err)

    def sample() -> None:
        while time.monotonic() < stop:
            rss, fds = _proc_stats(server.proc.pid)
            result.samples.append((time.monotonic() - t0, rss, fds))
            time.sleep(1.0)

    threads = [threading.Thread(target=paced, args=(k, r), daemon=True) for k, r in rates.items()]
    threads.append(threading.Thread(target=sample, daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 60)
    return result


def wrk_snapshot(server: OciServer, connections: int = 32, seconds: int = 10) -> dict:
    """Snapshot throughput with wrk (one server worker); {} when wrk is not installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return {}
    out = subprocess.run([wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H",
                          f"Authorization: Bearer {server.token}",
                          server.base_url + "/api/v1/sync/snapshot"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"connections": connections, "rps": float(rps.group(1)) if rps else 0.0,
            "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0}
