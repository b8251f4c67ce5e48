"""`--json` means one thing on `krx daily`, `krx backtest` and `krx walkforward` (issue 16
item 16): `--json PATH` writes the JSON there and the text report still prints; `--json -`
(or `--json` alone, the old `krx daily` flag) prints only JSON on stdout, the text on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

KRX = str(Path(sys.executable).with_name("krx"))


def _krx(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KRX, *args], capture_output=True, text=True, encoding="utf-8",
                          timeout=300, cwd=cwd)


def test_krx_daily_json_path_stdout_and_bare_flag(tmp_path: Path) -> None:
    root = tmp_path / "root"
    day = ("daily", "--data", "demo", "--data-dir", str(root))
    r = _krx(*day, "--json", "out/summary.json", cwd=tmp_path)
    assert r.returncode == 2, r.stderr  # the demo is a WARN (synthetic data)
    written = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert written["status"] and "SYNTHETIC" in json.dumps(written)
    assert "json: out/summary.json" in r.stdout and not r.stdout.lstrip().startswith("{")
    for flag in (("--json", "-"), ("--json",)):
        r = _krx(*day, *flag, cwd=tmp_path)
        assert json.loads(r.stdout)["asof"] == written["asof"], flag
        assert not (tmp_path / "-").exists()


@pytest.mark.slow
def test_krx_backtest_and_walkforward_json_dash_is_stdout(tmp_path: Path,
                                                          krx_data_dir: Path) -> None:
    data = f"csv:{krx_data_dir}"
    bt = ("backtest", "--data", data, "--start", "2024-01-02", "--end", "2024-12-30")
    r = _krx(*bt, "--json", "-", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    metrics = json.loads(r.stdout)["metrics"]
    assert "Backtest 2024-01-02" in r.stderr  # the text report, beside the JSON
    assert not (tmp_path / "-").exists()
    r = _krx(*bt, "--json", "bt.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "bt.json").read_text(encoding="utf-8"))["metrics"] == metrics
    assert "Backtest 2024-01-02" in r.stdout and "json: bt.json" in r.stdout
    r = _krx("walkforward", "--data", data, "--start", "2023-01-02", "--end", "2025-12-29",
             "--set", "rsi_buy_threshold=40:50:10", "--train-months", "12", "--test-months",
             "6", "--step-months", "6", "--json", "-", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["windows"] and "stitched OOS" in r.stderr
