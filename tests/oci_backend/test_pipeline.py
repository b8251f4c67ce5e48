"""The daily cycle on the real bars: sessions, holidays, stale data, bad input, plan ids."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest

from contracts import OpsSummary, OrderPlan
from krx_common.atomic import CorruptFile
from krx_common.defaults import KST
from oci_backend.paths import data_paths
from oci_backend.pipeline import CycleBusy, NotASession, run_cycle
from oci_backend.store import Store

UNIVERSE = ["069500", "229200", "091160", "305720", "005930"]


def _store(tmp_path: Path) -> Store:
    return Store(data_paths(tmp_path / "data"))


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_run_cycle_replays_a_real_session(tmp_path, krx_data_dir):
    store = _store(tmp_path)
    res = run_cycle(store, data_spec=f"csv:{krx_data_dir}", asof=date(2025, 12, 29))
    assert res.exit_code == 0, res.summary.message
    s = res.summary
    assert s.asof == date(2025, 12, 29)
    assert s.freshness is not None and not s.freshness.stale and not s.freshness.synthetic
    assert s.signals is not None and [t.ticker for t in s.signals.tickers] == UNIVERSE
    assert s.signals.regime.regime.value == "BULL"  # the real data on 2025-12-29
    assert all(t.rsi is not None for t in s.signals.tickers)
    # artifacts on disk, readable by the same contracts
    latest = OpsSummary.model_validate_json(
        store.paths.summary_latest.read_text(encoding="utf-8"))
    assert latest == s
    assert store.paths.summary_dated(s.asof).exists()  # the dated copy is named by asof
    plan = OrderPlan.model_validate_json(
        store.paths.plan(res.plan.plan_id).read_text(encoding="utf-8"))
    assert plan == res.plan and plan.decision.value == "READY"
    assert [(o.side.value, o.ticker, o.qty) for o in plan.orders] == [("BUY", "305720", 139)]
    # first run created the defaults
    assert store.portfolio().cash == 10_000_000 and store.settings().revision == 1


def test_run_cycle_plan_id_is_stable_across_reruns(tmp_path, krx_data_dir):
    store = _store(tmp_path)
    a = run_cycle(store, data_spec=f"csv:{krx_data_dir}", asof=date(2025, 6, 2))
    b = run_cycle(store, data_spec=f"csv:{krx_data_dir}", asof=date(2025, 6, 2))
    assert a.plan.plan_id == b.plan.plan_id
    assert a.plan.orders == b.plan.orders


def test_run_cycle_at_0905_uses_previous_session_close(tmp_path, krx_data_dir):
    store = _store(tmp_path)
    now = datetime(2025, 12, 29, 9, 5, tzinfo=KST)
    res = run_cycle(store, data_spec=f"csv:{krx_data_dir}", now=now)
    assert res.summary.asof == date(2025, 12, 26)
    assert res.summary.is_session_today
    assert res.exit_code == 0


def test_run_cycle_without_asof_today_blocks_on_stale_data(tmp_path, krx_data_dir):
    store = _store(tmp_path)
    now = datetime(2026, 11, 27, 9, 5, tzinfo=KST)
    res = run_cycle(store, data_spec=f"csv:{krx_data_dir}", now=now)
    assert res.exit_code == 2
    assert res.summary.status.value == "BLOCKED" and res.summary.stage.value == "BLOCKED"
    assert res.plan.decision.value == "BLOCKED" and res.plan.orders == []
    assert res.plan.reasons == ["DATA_STALE"]
    assert any(r.code == "DATA_STALE" and "2025-12-29" in r.message for r in res.summary.risks)


@pytest.mark.parametrize("day", [date(2025, 12, 25), date(2025, 12, 31), date(2025, 12, 27)])
def test_run_cycle_on_holiday_says_so_without_a_plan(tmp_path, krx_data_dir, day):
    store = _store(tmp_path)
    now = datetime(day.year, day.month, day.day, 9, 5, tzinfo=KST)
    res = run_cycle(store, data_spec=f"csv:{krx_data_dir}", now=now)
    assert res.exit_code == 2 and res.plan is None
    assert res.summary.holiday and res.summary.stage.value == "NO_ACTION_TODAY"
    assert not list(store.paths.plans_dir.iterdir())


def test_run_cycle_asof_not_a_session_is_a_usage_error_writing_nothing(tmp_path, krx_data_dir):
    store = _store(tmp_path)
    with pytest.raises(NotASession, match=r"2025-12-24 \(Wed\) before, 2025-12-26 \(Fri\) after"):
        run_cycle(store, data_spec=f"csv:{krx_data_dir}", asof=date(2025, 12, 25))
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.json"))


def test_run_cycle_emergency_stop_blocks_plan(tmp_path, krx_data_dir):
    store = _store(tmp_path)
    store.set_emergency_stop(True, "broker outage", "operator")
    res = run_cycle(store, data_spec=f"csv:{krx_data_dir}", asof=date(2025, 12, 29))
    assert res.exit_code == 2 and res.summary.stage.value == "STOPPED"
    assert "EMERGENCY_STOP" in res.plan.reasons


def test_run_cycle_refuses_to_run_twice_at_once(tmp_path, krx_data_dir):
    from filelock import FileLock

    store = _store(tmp_path)
    with FileLock(str(store.paths.cycle_lock)), pytest.raises(CycleBusy):
        run_cycle(store, data_spec=f"csv:{krx_data_dir}", asof=date(2025, 12, 29))


def _copy_universe(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for code in UNIVERSE:
        shutil.copy(src / f"{code}.csv", dst / f"{code}.csv")
    return dst


def test_run_cycle_corrupt_csv_blocks_naming_file_and_date(tmp_path, krx_data_dir):
    bars = _copy_universe(krx_data_dir, tmp_path / "bars")
    path = bars / "091160.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[100] = lines[100].split(",")[0] + ",12x00,1,1,1,1"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = run_cycle(_store(tmp_path), data_spec=f"csv:{bars}", asof=date(2025, 12, 29))
    assert res.exit_code == 2 and res.plan.reasons == ["DATA_INVALID"]
    risk = next(r for r in res.summary.risks if r.code == "DATA_INVALID")
    assert "091160" in risk.message


def test_run_cycle_missing_ticker_file_blocks_naming_it(tmp_path, krx_data_dir):
    bars = _copy_universe(krx_data_dir, tmp_path / "bars")
    (bars / "305720.csv").unlink()
    res = run_cycle(_store(tmp_path), data_spec=f"csv:{bars}", asof=date(2025, 12, 29))
    assert res.exit_code == 2 and res.plan.reasons == ["DATA_MISSING"]
    assert any("305720" in r.message for r in res.summary.risks if r.code == "DATA_MISSING")


def test_run_cycle_invalid_settings_file_is_reported_and_left_untouched(tmp_path, krx_data_dir):
    store = _store(tmp_path)
    store.initialize()
    raw = json.loads(store.paths.settings.read_text(encoding="utf-8"))
    raw["strategy"]["max_positions"] = -1
    store.paths.settings.write_text(json.dumps(raw), encoding="utf-8")
    before = _snapshot(store.paths.state_dir)
    with pytest.raises(CorruptFile, match=r"settings\.json: strategy\.max_positions"):
        store.settings()
    res = run_cycle(store, data_spec=f"csv:{krx_data_dir}", asof=date(2025, 12, 29))
    assert res.exit_code == 1 and "strategy.max_positions" in res.summary.message
    after = _snapshot(store.paths.state_dir)
    assert after["settings.json"] == before["settings.json"]
    assert after["portfolio.json"] == before["portfolio.json"]
    with pytest.raises(CorruptFile):  # still invalid: nothing replaced it
        store.settings()


def test_run_cycle_portfolio_with_unknown_ticker_is_reported(tmp_path, krx_data_dir):
    store = _store(tmp_path)
    store.initialize()
    raw = json.loads(store.paths.portfolio.read_text(encoding="utf-8"))
    raw["holdings"] = [{"ticker": "123456", "qty": 1, "avg_price": 1000}]
    store.paths.portfolio.write_text(json.dumps(raw), encoding="utf-8")
    before = store.paths.portfolio.read_bytes()
    res = run_cycle(store, data_spec=f"csv:{krx_data_dir}", asof=date(2025, 12, 29))
    assert res.exit_code == 1
    assert "portfolio.json" in res.summary.message and "holdings.0.ticker" in res.summary.message
    assert store.paths.portfolio.read_bytes() == before


# -- the asof rule, in the cycle -----------------------------------------------------------------
def test_check_asof_is_the_one_rule_session_then_closed_then_replay_root(tmp_path):
    from oci_backend.pipeline import (
        AsofNotClosed,
        AsofOutOfRange,
        AsofRefused,
        NotAReplayRoot,
        check_asof,
    )

    paths = data_paths(tmp_path / "live")
    now = datetime(2025, 12, 30, 10, tzinfo=KST)
    with pytest.raises(NotASession, match=r"2025-12-26 \(Fri\) before, 2025-12-29 \(Mon\)"):
        check_asof(paths, date(2025, 12, 27), now=now)  # a bad date first, even on a live root
    with pytest.raises(AsofOutOfRange, match="outside the XKRX calendar"):
        check_asof(paths, date(1999, 1, 4), now=now)
    with pytest.raises(AsofNotClosed, match="has not closed yet; the last completed session is "
                                            "2025-12-29"):
        check_asof(paths, date(2025, 12, 30), now=now, replay=True)
    with pytest.raises(NotAReplayRoot, match="live data root") as exc:
        check_asof(paths, date(2025, 12, 29), now=now)
    assert isinstance(exc.value, AsofRefused) and exc.value.field == "asof"
    check_asof(paths, date(2025, 12, 29), now=now, replay=True)  # about to be marked: allowed
    assert not paths.root.exists()  # the rule only reads


def test_a_requested_asof_cycle_on_a_live_root_is_refused_writing_nothing(tmp_path, krx_data_dir):
    from oci_backend.pipeline import NotAReplayRoot
    from oci_backend.replay import InProcessBackend, run_replay

    store = _store(tmp_path)
    store.initialize()
    before = _snapshot(store.paths.root)
    with pytest.raises(NotAReplayRoot):
        run_cycle(store, data_spec=f"csv:{krx_data_dir}", asof=date(2025, 12, 29),
                  requested=True)
    with pytest.raises(NotAReplayRoot):  # the replay driver asks through the same rule
        run_replay(InProcessBackend(store, f"csv:{krx_data_dir}"), date(2025, 12, 26),
                   date(2025, 12, 29))
    assert _snapshot(store.paths.root) == before


def test_a_cycle_reads_the_replay_marker_once_and_checks_asof_once(tmp_path, krx_data_dir,
                                                                   monkeypatch):
    from contracts.settings import Settings
    from oci_backend import pipeline
    from oci_backend.replay_root import create_replay_root

    store = create_replay_root(data_paths(tmp_path / "r"), label="t",
                               data_spec=f"csv:{krx_data_dir}", settings=Settings())
    assert store.paths.is_replay and not data_paths(tmp_path / "other").is_replay
    reads: list[object] = []
    asked: list[date] = []
    real_read, real_session = pipeline.read_marker, pipeline.calendar.is_session
    monkeypatch.setattr(pipeline, "read_marker", lambda p: reads.append(p) or real_read(p))
    monkeypatch.setattr(pipeline.calendar, "is_session",
                        lambda d: asked.append(d) or real_session(d))
    res = run_cycle(store, data_spec=f"csv:{krx_data_dir}", asof=date(2025, 12, 29),
                    now=datetime(2025, 12, 30, 10, tzinfo=KST), requested=True)
    assert res.summary.asof == date(2025, 12, 29)
    assert any(r.code == "REPLAY" for r in res.summary.risks)
    assert len(reads) == 1
    assert asked.count(date(2025, 12, 29)) == 1  # the asof once (+ "today" for the summary)
    entry = store.audit_log.tail(1)[0]
    assert entry.details.get("replay") is True


def test_pipeline_and_replay_import_each_other_at_module_level_without_a_circle():
    import ast
    import subprocess
    import sys

    code = ("import sys, oci_backend.pipeline; "
            "print('oci_backend.replay' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"  # the cycle does not need the replay driver
    root = Path(__file__).resolve().parents[2] / "oci_backend"
    for name in ("pipeline.py", "replay.py", "replay_root.py", "replan.py"):
        tree = ast.parse((root / name).read_text(encoding="utf-8"))
        local = [n.lineno for f in ast.walk(tree)
                 if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                 for n in ast.walk(f) if isinstance(n, ast.Import | ast.ImportFrom)]
        assert local == [], f"{name}: function-local imports at lines {local}"
