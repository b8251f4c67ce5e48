"""Crash consistency under SIGKILL (issue 11, section 1): 20 kills of the real OCI backend
while PUSHes of portfolio + settings and ticket submits (idempotency keys) stream in;
200 in benchmarks/bench_crash.py."""

from __future__ import annotations

import os

import pytest
from crash_harness import run_crash_drill

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KILLS = int(os.environ.get("KRX_CRASH_KILLS", "20"))


def test_crash_sigkill_under_streamed_pushes_keeps_every_invariant(tmp_path):
    report = run_crash_drill(tmp_path / "data", tmp_path, KILLS)
    assert report.kills == KILLS
    assert report.violations == []
    assert len(report.acked) >= KILLS // 2, "too few PUSHes acknowledged to prove anything"
    assert report.errors == 0
    assert len(report.tickets) >= 3, "too few tickets acknowledged to prove anything"
    print(f"{report.kills} kills: {len(report.acked)} PUSHes and {len(report.tickets)} tickets "
          f"acknowledged, {report.submits} submits sent")
