"""Replays of a session range through OCI's own code, equal to `run_backtest` to the won.

CI runs one quarter (2024-Q3: the August 2024 fall, three buys cut to the cash above the
reserve at the open) through the real API on uvicorn in DRY_RUN and MANUAL, and in-process
with the four-parameter set. `KRX_REPLAY_YEARS=1` adds the full years 2024 and 2025, defaults
and the four-parameter set, both modes (`benchmarks/replay_year.py` times them)."""

from __future__ import annotations

import os
from datetime import date

import pytest
from oci_server import REPO_DAILY, ServerFactory

from contracts.settings import ExecutionMode, Settings
from contracts.summary import Stage
from oci_backend.config import OciConfig
from oci_backend.notify import Notifier
from oci_backend.paths import data_paths
from oci_backend.pipeline import run_cycle
from oci_backend.replan import replan_after_change
from oci_backend.replay import InProcessBackend, compare_with_backtest, run_replay
from oci_backend.replay_http import HttpBackend
from oci_backend.replay_root import create_replay_root
from oci_backend.store import Store
from oci_backend.tickets import opens_from_bars
from strategy.marketdata import make_provider

DATA = f"csv:{REPO_DAILY}"
FOUR = {"rsi_period": 14, "rsi_buy_threshold": 45.0, "rsi_sell_threshold": 60.0,
        "adx_threshold": 10.0}
Q3_2024 = (date(2024, 7, 1), date(2024, 9, 30))
YEARS = {2024: (date(2024, 1, 2), date(2024, 12, 30)), 2025: (date(2025, 1, 2),
                                                              date(2025, 12, 29))}


def settings_for(mode: ExecutionMode, four: bool) -> Settings:
    s = Settings(execution_mode=mode)
    if four:
        s = s.model_copy(update={"strategy": s.strategy.model_copy(update=FOUR)})
    return s


@pytest.fixture(scope="module")
def bars():
    s = Settings()
    return make_provider(DATA).load(list(dict.fromkeys([s.benchmark, *s.universe])),
                                    end=date(2025, 12, 29))


def _replay_in_process(tmp_path, bars, mode, four, window):
    store = create_replay_root(data_paths(tmp_path / f"{mode.value}-{four}"), label="test",
                               data_spec=DATA, settings=settings_for(mode, four))
    result = run_replay(InProcessBackend(store, DATA), *window, opens=opens_from_bars(bars))
    return store, result


def _assert_equal(result, bars, settings, window, *, min_fills: int) -> None:
    cmp = compare_with_backtest(result, bars, settings, *window)
    assert cmp.equal_to_the_won, cmp.first_difference
    # bit for bit, in fact: the same rule (`rules.fill_terms`) computed every number
    assert cmp.max_equity_diff == 0.0 and cmp.max_cash_diff == 0.0
    assert cmp.fills >= min_fills and cmp.sessions == len(result.days)


@pytest.mark.integration
@pytest.mark.parametrize("mode", [ExecutionMode.DRY_RUN, ExecutionMode.MANUAL])
def test_replay_quarter_through_the_api_equals_the_backtest(
    oci_server_factory: ServerFactory, tmp_path, bars, mode
) -> None:
    root = tmp_path / "replay-root"
    create_replay_root(data_paths(root), label=f"CI {mode.value} 2024-Q3", data_spec=DATA,
                       settings=settings_for(mode, four=False))
    server = oci_server_factory(data_dir=root, data_spec=DATA)
    with server.client() as client:
        result = run_replay(HttpBackend(client), *Q3_2024, opens=opens_from_bars(bars))
    store = Store(data_paths(root))
    _assert_equal(result, bars, store.settings(), Q3_2024, min_fills=20)
    from strategy.backtest.engine import run_backtest

    cuts = run_backtest(bars, store.settings(), *Q3_2024).order_events
    assert (cuts["event"] == "CASH_CUT").sum() == 3  # the cut at the open was exercised
    summary = store.summary()
    assert summary is not None and any(r.code == "REPLAY" for r in summary.risks)
    plan = store.current_plan()
    assert plan is not None and any(r.startswith("REPLAY: ") for r in plan.reasons)
    from oci_backend.tickets import list_tickets

    tickets = list_tickets(store, limit=0)
    assert tickets and all(r.replay for r in tickets)
    from contracts.audit import AuditAction

    runs = store.audit_log.read(limit=0, action=AuditAction.DAILY_RUN)
    assert len(runs) >= 62 and all(e.details.get("replay") is True for e in runs)


@pytest.mark.slow
def test_replay_quarter_in_process_with_the_four_parameters_equals_the_backtest(
    tmp_path, bars
) -> None:
    for mode in (ExecutionMode.DRY_RUN, ExecutionMode.MANUAL):
        store, result = _replay_in_process(tmp_path, bars, mode, True, Q3_2024)
        _assert_equal(result, bars, store.settings(), Q3_2024, min_fills=20)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("KRX_REPLAY_YEARS") != "1" and not os.environ.get("CI"),
                    reason="full-year replays (about 1-3 minutes) run in CI; locally set "
                           "KRX_REPLAY_YEARS=1")
@pytest.mark.parametrize("year", [2024, 2025])
@pytest.mark.parametrize("four", [False, True], ids=["defaults", "four-params"])
@pytest.mark.parametrize("mode", [ExecutionMode.DRY_RUN, ExecutionMode.MANUAL])
def test_replay_full_year_equals_the_backtest(tmp_path, bars, year, four, mode) -> None:
    store, result = _replay_in_process(tmp_path, bars, mode, four, YEARS[year])
    _assert_equal(result, bars, store.settings(), YEARS[year], min_fills=3)


def test_background_replan_of_a_live_root_never_replays_an_asof(tmp_path) -> None:
    live = Store(data_paths(tmp_path / "live"))
    live.initialize()
    replay = create_replay_root(data_paths(tmp_path / "replay"), label="t", data_spec=DATA,
                                settings=Settings())
    config = OciConfig(data_spec=DATA, now="2025-12-30T10:00:00+09:00")
    for store in (live, replay):
        run_cycle(store, data_spec=DATA, asof=date(2025, 6, 13))  # a library call
        assert str(store.summary().asof) == "2025-06-13"
        out = replan_after_change(store, config, Notifier(store, []), actor="test")
        assert out.replanned
    assert str(live.summary().asof) == "2025-12-29"  # the last completed session
    assert str(replay.summary().asof) == "2025-06-13"  # a replay root stays on its session
    assert replay.summary().stage in (Stage.PLAN_READY, Stage.NO_ACTION_TODAY)


def test_replay_with_a_binding_guardrail_keeps_the_sells_and_equals_the_backtest(
    tmp_path, bars
) -> None:
    """SPEC §3: a guardrail holds back the buys, never the sells, live as in the backtest.

    With the four parameters and `max_orders=2`, the decision of 2024-08-05 wants a sell and
    buys beyond the limit: the plan must stay READY with the sell (the live cycle used to BLOCK
    it whole and diverge from the backtest)."""
    from strategy.backtest.engine import run_backtest

    for mode in (ExecutionMode.DRY_RUN, ExecutionMode.MANUAL):
        s = settings_for(mode, four=True)
        s = s.model_copy(update={"guardrails": s.guardrails.model_copy(update={"max_orders": 2})})
        store = create_replay_root(data_paths(tmp_path / f"guard-{mode.value}"), label="guard",
                                   data_spec=DATA, settings=s)
        result = run_replay(InProcessBackend(store, DATA), *Q3_2024,
                            opens=opens_from_bars(bars))
        _assert_equal(result, bars, store.settings(), Q3_2024, min_fills=20)
        bt = run_backtest(bars, store.settings(), *Q3_2024)
        events = bt.order_events
        held_back = set(events[events["event"] == "GUARD_SKIPPED"]["date"])
        sold = set(bt.fills[bt.fills["side"] == "SELL"]["date"])
        assert held_back & sold, "the guardrail must bind on a session that also sells"
        sold_live = {d for d, f in result.fills if f.side.value == "SELL"}
        assert held_back & sold <= sold_live


def test_replan_of_a_replay_root_reads_its_session_under_the_cycle_lock(tmp_path, monkeypatch):
    """The plan race: a re-plan that waited for the cycle lock while the next replayed session's
    cycle ran must plan that session, not the one it saw before it waited (it rewrote the plan
    with the older day, and the driver's ticket for the new plan got 409)."""
    import threading

    import oci_backend.pipeline as pipeline

    store = create_replay_root(data_paths(tmp_path / "replay"), label="t", data_spec=DATA,
                               settings=Settings())
    run_cycle(store, data_spec=DATA, asof=date(2025, 6, 12))
    waiting = threading.Event()

    class SignallingLock(pipeline.FileLock):  # type: ignore[misc,valid-type]
        def acquire(self, *a, **k):
            waiting.set()  # the re-plan is about to wait for the lock
            return super().acquire(*a, **k)

    held = pipeline.FileLock(str(store.paths.cycle_lock))
    held.acquire()  # a cycle is running
    monkeypatch.setattr(pipeline, "FileLock", SignallingLock)
    config = OciConfig(data_spec=DATA, now="2025-12-30T10:00:00+09:00")
    out: list = []
    worker = threading.Thread(target=lambda: out.append(replan_after_change(
        store, config, Notifier(store, []), actor="test", wait_lock=True)))
    worker.start()
    assert waiting.wait(30)
    # ... and that running cycle finishes the next session before it lets go of the lock.
    moved = store.summary().model_copy(update={"asof": date(2025, 6, 13)})
    store.write_summary(moved, moved.generated_at)
    held.release()
    worker.join(60)
    assert out and out[0].replanned, out
    assert str(store.summary().asof) == "2025-06-13"
    plan = store.current_plan()
    assert plan is None or plan.asof == date(2025, 6, 13)
