"""`krx replay` as a real process: a replay root driven end to end, compared with the
backtest; bad input is a one-line usage error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Each test runs `krx replay` / `krx daily` over a month or more of sessions in a subprocess.
pytestmark = pytest.mark.slow

KRX = str(Path(sys.executable).with_name("krx"))


def _krx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KRX, *args], capture_output=True, text=True, encoding="utf-8",
                          timeout=300)


def test_krx_replay_manual_with_set_params_equals_the_backtest(tmp_path, krx_data_dir):
    root = tmp_path / "replay"
    res = _krx("replay", "--data", f"csv:{krx_data_dir}", "--start", "2024-07-01",
               "--end", "2024-08-30", "--mode", "MANUAL", "--set", "rsi_period=14",
               "--set", "rsi_buy_threshold=45", "--set", "rsi_sell_threshold=60",
               "--set", "adx_threshold=10", "--data-dir", str(root))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "equal to the backtest to the won" in res.stdout
    assert "max |equity diff| 0.0000 KRW" in res.stdout
    marker = json.loads((root / "state" / "replay.json").read_text(encoding="utf-8"))
    assert marker["replay"] is True and "rsi_period=14" in marker["label"]
    settings = json.loads((root / "state" / "settings.json").read_text(encoding="utf-8"))
    assert settings["execution_mode"] == "MANUAL"
    assert settings["strategy"]["rsi_period"] == 14
    assert list((root / "reports" / "tickets" / "results").glob("*.json"))


def test_krx_replay_bad_input_is_a_usage_error(tmp_path, krx_data_dir):
    res = _krx("replay", "--data", f"csv:{krx_data_dir}", "--start", "2024-07-01",
               "--end", "2024-07-31", "--set", "rsi_period=1")
    assert res.returncode == 2 and "rsi_period" in res.stderr
    res = _krx("replay", "--data", f"csv:{krx_data_dir}", "--start", "2024-07-01",
               "--end", "2024-07-31", "--set", "nope=1")
    assert res.returncode == 2 and "--set 'nope=1'" in res.stderr
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x", encoding="utf-8")
    res = _krx("replay", "--data", f"csv:{krx_data_dir}", "--start", "2024-07-01",
               "--end", "2024-07-31", "--data-dir", str(tmp_path / "busy"))
    assert res.returncode == 2 and "not empty" in res.stderr
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["x"]


def test_krx_daily_asof_only_on_a_replay_root(tmp_path, krx_data_dir):
    live = tmp_path / "live"
    ok = _krx("daily", "--data", f"csv:{krx_data_dir}", "--data-dir", str(live))
    assert (live / "state" / "portfolio.json").exists(), ok.stdout + ok.stderr
    before = sorted((p.name, p.read_bytes()) for p in (live / "state").glob("*.json"))
    res = _krx("daily", "--data", f"csv:{krx_data_dir}", "--asof", "2025-12-29",
               "--data-dir", str(live))
    assert res.returncode == 2 and "live data root" in res.stderr
    res = _krx("daily", "--data", f"csv:{krx_data_dir}", "--asof", "2025-12-29", "--replay",
               "--data-dir", str(live))
    assert res.returncode == 2 and "holds live state" in res.stderr
    assert sorted((p.name, p.read_bytes()) for p in (live / "state").glob("*.json")) == before
    replay = tmp_path / "replay"
    res = _krx("daily", "--data", f"csv:{krx_data_dir}", "--asof", "2025-12-29", "--replay",
               "--data-dir", str(replay))
    assert res.returncode in (0, 2) and "REPLAY" in res.stdout + res.stderr, res.stderr
    assert (replay / "state" / "replay.json").exists()
