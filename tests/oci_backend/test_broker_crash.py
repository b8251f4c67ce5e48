"""SIGKILL of OCI at every point around a broker send and a fill record (the short drill;
benchmarks/bench_broker_crash.py runs >= 100 kills): no order placed twice at the fake, no
line lost, every fill recorded once, sells placed before buys."""

from __future__ import annotations

import pytest
from broker_crash import FILL_POINTS, MULTI, SINGLE, run_broker_crash_drill, scenario_fake

pytestmark = pytest.mark.integration

UNKNOWN_OUTCOME = ("broker_after_intent", "broker_after_send")


def test_broker_send_survives_a_sigkill_at_every_point(tmp_path):
    with scenario_fake(SINGLE, tmp_path) as kis:
        # two rounds (a start of OCI costs seconds): the two points where the send's outcome
        # is unknown to OCI, and both fill points in each round; the bench covers all four
        report = run_broker_crash_drill(kis, tmp_path, kills=6, send_points=UNKNOWN_OUTCOME)
    assert report.violations == []
    assert report.rounds == 2 and report.placed_twice == 0
    assert report.lines_lost == 0 and report.unclean_reconciliations == 0
    assert set(report.kills_by_point) == set(UNKNOWN_OUTCOME) | set(FILL_POINTS)
    assert report.orders_at_fake == report.lines


def test_broker_multi_line_send_survives_a_sigkill_at_each_line_sells_first(tmp_path):
    with scenario_fake(MULTI, tmp_path) as kis:
        # one round (an OCI start costs seconds): a kill at each of the three lines (one sell,
        # two buys), alternating the two unknown-outcome points, and both fill points; the
        # bench kills at every point at every line
        report = run_broker_crash_drill(kis, tmp_path, kills=5, scenario=MULTI,
                                        send_points=UNKNOWN_OUTCOME, mix_points=True)
    assert report.violations == []
    assert report.rounds == 1 and report.lines == 3
    assert report.placed_twice == 0 and report.lines_lost == 0
    assert report.buys_before_a_sell == 0 and report.unclean_reconciliations == 0
    assert report.kills_by_point == {UNKNOWN_OUTCOME[0]: 2, UNKNOWN_OUTCOME[1]: 1,
                                     FILL_POINTS[0]: 1, FILL_POINTS[1]: 1}
    assert report.kills_by_line == {0: 1, 1: 1, 2: 1}
    assert report.orders_at_fake == report.lines
