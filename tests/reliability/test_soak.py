"""A short soak in CI (issue 11, section 3): 30 s of mixed traffic at a fixed rate against a
real server — no errors, RSS grows < 10 %, open fds do not grow. The 5-minute run and the wrk
throughput figures are benchmarks/bench_soak.py."""

from __future__ import annotations

import os

import pytest
from soak_harness import run_soak

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECONDS = float(os.environ.get("KRX_SOAK_SECONDS", "30"))


def test_soak_mixed_traffic_has_no_errors_and_flat_resources(start_oci):
    server = start_oci()
    result = run_soak(server, SECONDS)
    span = max(5.0, SECONDS / 5)
    rss0, rss1, fd0, fd1 = result.growth(span)
    print(f"soak {SECONDS:.0f} s: {result.requests} requests, p99 {result.p(0.99):.1f} ms, "
          f"RSS {rss0} -> {rss1} kB, fds {fd0} -> {fd1}")
    assert result.errors == [], result.errors[:10]
    assert result.requests >= SECONDS * 30
    assert rss1 < rss0 * 1.10
    assert fd1 <= fd0
