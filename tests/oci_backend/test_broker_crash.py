"""SIGKILL of OCI at every point around a broker send and a fill record (the short drill;
benchmarks/bench_broker_crash.py runs >= 100 kills): no order placed twice at the fake, no
line lost, every fill recorded once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from broker_crash import FILL_POINTS, SESSION, run_broker_crash_drill

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "broker"))
from fake_kis_server import running_fake_kis  # noqa: E402

pytestmark = pytest.mark.integration

UNKNOWN_OUTCOME = ("broker_after_intent", "broker_after_send")


def test_broker_send_survives_a_sigkill_at_every_point(tmp_path):
    with running_fake_kis(tmp_dir=tmp_path, session_date=SESSION, cash=10_000_000) as kis:
        # two rounds (a start of OCI costs seconds): the two points where the send's outcome
        # is unknown to OCI, and both fill points in each round; the bench covers all four
        report = run_broker_crash_drill(kis, tmp_path, kills=6, send_points=UNKNOWN_OUTCOME)
    assert report.violations == []
    assert report.rounds == 2 and report.placed_twice == 0
    assert report.lines_lost == 0 and report.unclean_reconciliations == 0
    assert set(report.kills_by_point) == set(UNKNOWN_OUTCOME) | set(FILL_POINTS)
    assert report.orders_at_fake == report.lines
