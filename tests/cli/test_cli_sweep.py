"""`krx sweep` / `krx walkforward` smoke runs on the real bars, as a user would type them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

KRX = Path(sys.executable).with_name("krx")


def krx(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KRX), *args], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.mark.slow
def test_cli_sweep_prints_top_table_and_writes_results_and_report(
    krx_data_dir: Path, tmp_path: Path
) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        "rsi_buy_threshold: {start: 45, stop: 55, step: 5}\nstop_loss_pct: [0.08, 0.12]\n",
        encoding="utf-8",
    )
    out, html = tmp_path / "results.csv", tmp_path / "sweep.html"
    res = krx(
        "sweep", "--data", f"csv:{krx_data_dir}", "--grid", str(grid),
        "--set", "rsi_sell_threshold=65:75:5", "--start", "2021-01-04", "--end", "2025-12-29",
        "--objective", "calmar", "--out", str(out), "--report", str(html),
        "--heatmap-x", "rsi_buy_threshold", "--heatmap-y", "rsi_sell_threshold",
        cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "18 combinations" in res.stdout
    lines = res.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["rank"])
    assert lines[header].split()[:5] == [
        "rank", "rsi_buy_threshold", "stop_loss_pct", "rsi_sell_threshold", "calmar",
    ]  # fmt: skip
    assert [line.split()[0] for line in lines[header + 1 : header + 11]] == [
        str(i) for i in range(1, 11)
    ]
    df = pd.read_csv(out)
    assert len(df) == 18
    assert df["calmar"].is_monotonic_decreasing
    assert "<script src=" not in html.read_text(encoding="utf-8")


def test_cli_sweep_bad_grid_value_exits_2_naming_it(krx_data_dir: Path, tmp_path: Path) -> None:
    res = krx(
        "sweep", "--data", f"csv:{krx_data_dir}", "--set", "max_positions=0:2:1",
        "--start", "2021-01-04", "--end", "2025-12-29", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 2
    assert "max_positions" in res.stderr and "0" in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_sweep_start_not_a_session_exits_2(krx_data_dir: Path, tmp_path: Path) -> None:
    res = krx(
        "sweep", "--data", f"csv:{krx_data_dir}", "--set", "rsi_buy_threshold=45,50",
        "--start", "2021-01-01", "--end", "2025-12-29", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 2
    assert "2021-01-01" in res.stderr and "2021-01-04" in res.stderr


@pytest.mark.slow
def test_cli_walkforward_prints_windows_and_writes_json_and_report(
    krx_data_dir: Path, tmp_path: Path
) -> None:
    out, html = tmp_path / "wf.json", tmp_path / "wf.html"
    res = krx(
        "walkforward", "--data", f"csv:{krx_data_dir}", "--set", "rsi_buy_threshold=45,55",
        "--set", "stop_loss_pct=0.08,0.12", "--start", "2020-07-01", "--end", "2025-12-29",
        "--train-months", "24", "--test-months", "6", "--step-months", "6",
        "--json", str(out), "--report", str(html), cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "gap (IS - OOS)" in res.stdout
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert [w["test_start"] for w in doc["windows"]][:2] == ["2022-07-01", "2023-01-02"]
    assert doc["windows"][-1]["test_end"] == "2025-12-29"
    assert len(doc["oos_equity"]) > 600
    assert "<script src=" not in html.read_text(encoding="utf-8")


@pytest.mark.slow
def test_cli_sweep_params_file_sets_base_settings(krx_data_dir: Path, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("rsi_period: 20\nrsi_perod: 3\n", encoding="utf-8")
    res = krx(
        "sweep", "--data", f"csv:{krx_data_dir}", "--params", str(params),
        "--set", "rsi_buy_threshold=45,55", "--start", "2021-01-04", "--end", "2025-12-29",
        cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 2
    assert "rsi_perod" in res.stderr
    params.write_text("rsi_period: 20\n", encoding="utf-8")
    res = krx(
        "sweep", "--data", f"csv:{krx_data_dir}", "--params", str(params),
        "--set", "rsi_buy_threshold=45,55", "--start", "2021-01-04", "--end", "2025-12-29",
        cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "2 combinations" in res.stdout


@pytest.mark.slow
def test_cli_sweep_prints_execution_buy_and_hold_and_grid_edge(
    krx_data_dir: Path, tmp_path: Path
) -> None:
    res = krx(
        "sweep", "--data", f"csv:{krx_data_dir}", "--set", "rsi_buy_threshold=40:55:5",
        "--set", "rsi_sell_threshold=65:80:5", "--start", "2021-01-04", "--end", "2025-12-29",
        "--jobs", "2", "--backend", "threads", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    first = res.stdout.splitlines()[0]
    assert "ran threads x2 in " in first
    bh = next(line for line in res.stdout.splitlines() if line.startswith("buy & hold 069500"))
    assert re.search(r"sharpe -?\d+\.\d{3}, total return -?\d+\.\d{2}%", bh)
    lines = res.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["rank"])
    best_buy = float(lines[header + 1].split()[1])
    edge = [line for line in lines if line.startswith("warning: best sharpe has")]
    assert bool(edge) == (best_buy in (40.0, 55.0) or
                          float(lines[header + 1].split()[2]) in (65.0, 80.0))


@pytest.mark.slow
def test_cli_walkforward_explains_undefined_is_and_zero_trade_windows(
    krx_data_dir: Path, tmp_path: Path
) -> None:
    res = krx(
        "walkforward", "--data", f"csv:{krx_data_dir}", "--set", "rsi_buy_threshold=40,55",
        "--start", "2021-01-04", "--end", "2025-12-29", "--train-months", "24",
        "--test-months", "6", "--step-months", "6", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = res.stdout
    header = next(line for line in out.splitlines() if line.split()[:1] == ["window"])
    assert "oos_n_trades" in header.split()  # full headers
    assert "in-sample sharpe is undefined" in out
    assert re.search(r"0 (closed )?trades.*test return [+-]\d+\.\d{2}%", out)
