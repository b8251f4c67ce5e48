"""A replay in BROKER_PAPER through the real OCI API against the KIS fake, reconciled every
session, compared with `run_backtest` (the whole 2025 runs in benchmarks/bench_broker.py):

- in open-fill mode (the backtest's execution model: every order fills at the next open) the
  final equity equals the backtest's to the won;
- in the default limit mode the two buys of 305720 whose open gapped above the limit
  (2025-12-19 and 2025-12-22) stay unfilled, and that is the whole difference, line by line.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest
from broker_stack import (
    FakeBrokerSession,
    broker_env,
    explain_differences,
    register,
    write_credentials,
)
from oci_server import REPO_DAILY

from contracts.settings import ExecutionMode, Settings
from oci_backend.paths import data_paths
from oci_backend.replay import compare_with_backtest, run_replay
from oci_backend.replay_http import HttpBackend
from oci_backend.replay_root import create_replay_root
from strategy.backtest.engine import run_backtest
from strategy.marketdata import make_provider

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "broker"))
from fake_kis_server import running_fake_kis  # noqa: E402

DATA = f"csv:{REPO_DAILY}"
# From an empty book the strategy buys 305720 on 2025-12-19; its open (14,400) gaps above the
# ticket's limit (14,310), and so does the re-plan's on 2025-12-22 (open 14,415, limit 14,325).
DECEMBER_2025 = (date(2025, 12, 15), date(2025, 12, 29))

pytestmark = pytest.mark.integration


def _broker_replay(oci_server_factory, tmp_path: Path, fill_mode: str):  # type: ignore[no-untyped-def]
    settings = Settings(execution_mode=ExecutionMode.BROKER_PAPER)
    bars = make_provider(DATA).load(list(dict.fromkeys([settings.benchmark,
                                                        *settings.universe])),
                                    end=DECEMBER_2025[1])
    work = tmp_path / fill_mode
    work.mkdir()
    keys = write_credentials(work)
    root = work / "replay-root"
    create_replay_root(data_paths(root), label=f"broker replay {fill_mode}", data_spec=DATA,
                       settings=settings)
    with running_fake_kis(tmp_dir=work, session_date=DECEMBER_2025[0].isoformat(),
                          cash=settings.strategy.initial_capital, rate_limit=50,
                          fill_mode=fill_mode) as kis:
        register(kis, keys)
        server = oci_server_factory(
            env=broker_env(kis, keys, KRX_KIS_RATE_LIMIT="50"), data_dir=root, data_spec=DATA)
        with server.client() as client:
            broker = FakeBrokerSession(kis, client)
            result = run_replay(HttpBackend(client), *DECEMBER_2025, broker=broker)
            records = HttpBackend(client).tickets()
        fake_cash = kis.state()["cash"]
    # a reconciliation after every session's cycle and after every settled ticket, all clean
    assert result.tickets > 0
    assert result.reconciliations == len(result.days) + result.tickets
    assert result.unclean == []  # SSOT = the fake's balance to the won, every session
    assert result.days[-1].cash == pytest.approx(fake_cash, abs=0.5)
    cmp = compare_with_backtest(result, bars, settings, *DECEMBER_2025)
    assert cmp.sessions == len(result.days)
    final_delta = result.days[-1].equity - float(
        run_backtest(bars, settings, *DECEMBER_2025).equity.iloc[-1])
    return cmp, final_delta, records, bars, settings


def test_broker_paper_replay_in_open_fill_mode_matches_the_backtest_to_the_won(
        oci_server_factory, tmp_path):
    cmp, final_delta, records, bars, settings = _broker_replay(oci_server_factory, tmp_path,
                                                               "open")
    assert cmp.fills == 1 and cmp.equal_to_the_won, cmp.first_difference
    assert abs(final_delta) < 0.5, final_delta
    explained, unexplained = explain_differences(records, bars, settings.strategy.slippage)
    assert (explained, unexplained) == ([], [])
    buys = [(r.ticket.asof, ln.state.value) for r in records for ln in r.broker_lines]
    assert buys == [(date(2025, 12, 18), "FILLED")]  # filled at the 12-19 open above its limit


def test_broker_paper_replay_in_limit_mode_leaves_the_two_gapped_buys_unfilled(
        oci_server_factory, tmp_path):
    cmp, final_delta, records, bars, settings = _broker_replay(oci_server_factory, tmp_path,
                                                               "limit")
    assert not cmp.equal_to_the_won and final_delta != 0
    explained, unexplained = explain_differences(records, bars, settings.strategy.slippage)
    assert unexplained == []
    assert len(explained) == 2, explained
    explained.sort()
    assert explained[0].startswith("2025-12-19 BUY") and "305720 limit 14310" in explained[0]
    assert explained[1].startswith("2025-12-22 BUY") and "305720 limit 14325" in explained[1]
    assert all("not filled at the broker" in line for line in explained)
