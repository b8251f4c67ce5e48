"""`krx daily` as a real process: output, exit codes, bad input left untouched."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contracts import OpsSummary

KRX = str(Path(sys.executable).with_name("krx"))


def _krx(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KRX, *args], capture_output=True, text=True, encoding="utf-8",
                          timeout=180, cwd=cwd)


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def test_krx_daily_real_session_prints_regime_signals_and_orders(tmp_path, krx_data_dir):
    res = _krx("daily", "--data", f"csv:{krx_data_dir}", "--asof", "2025-12-29", "--replay",
               "--data-dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "as-of 2025-12-29" in out and "regime " in out and "ADX" in out
    assert "KODEX 2차전지산업" in out  # Korean names printed as UTF-8
    assert "plan 20251229-" in out
    summary = OpsSummary.model_validate_json(
        (tmp_path / "reports/ops/summary/ops_summary_latest.json").read_text(encoding="utf-8"))
    assert summary.asof.isoformat() == "2025-12-29"


def test_krx_daily_json_is_the_summary_contract(tmp_path, krx_data_dir):
    res = _krx("daily", "--data", f"csv:{krx_data_dir}", "--asof", "2025-12-29", "--replay",
               "--data-dir", str(tmp_path), "--json")
    assert res.returncode == 0, res.stderr
    summary = OpsSummary.model_validate_json(res.stdout)
    assert summary.plan is not None and summary.signals is not None


def test_krx_daily_today_on_old_data_blocks_with_exit_2(tmp_path, krx_data_dir):
    res = _krx("daily", "--data", f"csv:{krx_data_dir}", "--data-dir", str(tmp_path), "--json")
    assert res.returncode == 2
    summary = OpsSummary.model_validate_json(res.stdout)
    # today is either a session (stale data) or a holiday/weekend (no plan): never a trade
    if summary.holiday:
        assert summary.plan is None
    else:
        assert summary.plan.decision.value == "BLOCKED"
        assert "DATA_STALE" in summary.plan.reasons


def test_krx_daily_invalid_settings_exit_1_naming_file_and_field(tmp_path, krx_data_dir):
    ok = _krx("daily", "--data", f"csv:{krx_data_dir}", "--asof", "2025-12-29", "--replay",
              "--data-dir", str(tmp_path))
    assert ok.returncode == 0, ok.stderr
    settings = tmp_path / "state" / "settings.json"
    raw = json.loads(settings.read_text(encoding="utf-8"))
    raw["strategy"]["max_positions"] = -3
    settings.write_text(json.dumps(raw), encoding="utf-8")
    before = _hashes(tmp_path / "state")
    res = _krx("daily", "--data", f"csv:{krx_data_dir}", "--asof", "2025-12-29", "--replay",
               "--data-dir", str(tmp_path))
    assert res.returncode == 1
    assert "settings.json" in res.stdout and "strategy.max_positions" in res.stdout
    after = _hashes(tmp_path / "state")
    assert after["settings.json"] == before["settings.json"]
    assert after["portfolio.json"] == before["portfolio.json"]


def test_krx_daily_unknown_data_spec_is_a_usage_error_writing_nothing(tmp_path):
    res = _krx("daily", "--data", "ftp:nowhere", "--asof", "2025-12-29", "--replay",
               "--data-dir", str(tmp_path))
    assert res.returncode == 2
    assert "ftp:nowhere" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert res.stdout == "" and not any(tmp_path.rglob("*"))


def test_krx_daily_demo_is_labelled_synthetic_and_warn_exits_2(tmp_path):
    res = _krx("daily", "--data", "demo", "--asof", "2025-12-29", "--replay", "--data-dir",
               str(tmp_path))
    assert res.returncode == 2, res.stdout + res.stderr  # WARN (synthetic data) → 2
    assert "SYNTHETIC" in res.stdout


@pytest.mark.slow
def test_krx_daily_notifies_once_per_kind_per_day(tmp_path, krx_data_dir, receiver):
    env = {**os.environ, "KRX_OCI_NOTIFY_URLS": receiver.url}
    args = [KRX, "daily", "--data", f"csv:{krx_data_dir}", "--data-dir", str(tmp_path)]
    first = subprocess.run(args, capture_output=True, text=True, env=env, timeout=180)
    assert first.returncode == 2  # today: stale data (or a holiday) — fail closed
    titles = receiver.titles()
    assert titles, first.stdout + first.stderr
    assert any("BLOCKED" in t or "WARN" in t or "holiday" in t.lower() for t in titles)
    second = subprocess.run(args, capture_output=True, text=True, env=env, timeout=180)
    assert second.returncode == 2
    assert receiver.titles() == titles  # same kinds, same day: nothing sent twice
