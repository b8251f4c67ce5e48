"""`krx backtest` on the real bars: tables, --params, --json, --report and user errors."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from contracts.settings import Guardrails, Settings, StrategyParams
from krx_cli.main import main
from strategy.backtest.engine import run_backtest


def _args(data_dir: Path, *extra: str, start: str = "2021-01-04") -> list[str]:
    return ["backtest", "--data", f"csv:{data_dir}", "--start", start, "--end", "2025-12-29",
            *extra]


def test_krx_backtest_prints_metrics_and_writes_json(
    krx_data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], default_result: Any
) -> None:
    out = tmp_path / "bt.json"
    assert main(_args(krx_data_dir, "--json", str(out))) == 0
    text = capsys.readouterr().out
    for word in ("sharpe", "mdd", "buy & hold", "2021", "2025", "cagr"):
        assert word in text
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["metrics"] == pytest.approx(
        {k: (None if v != v else v) for k, v in default_result.metrics.items()}
    )
    assert [r["year"] for r in doc["per_year"]] == [2021, 2022, 2023, 2024, 2025]
    assert len(doc["trades"]) == len(default_result.trades)
    assert doc["meta"]["start"] == "2021-01-04"


def test_krx_backtest_params_file_and_universe_apply(
    krx_data_dir: Path, tmp_path: Path, real_bars: dict[str, pd.DataFrame]
) -> None:
    params = tmp_path / "p.yaml"
    params.write_text(
        "stop_loss_pct: 0.05\nmax_positions: 3\nguardrails:\n  max_single_order_pct: 0.4\n",
        encoding="utf-8",
    )
    out = tmp_path / "bt.json"
    code = main(_args(krx_data_dir, "--params", str(params), "--universe", "069500,122630",
                      "--json", str(out)))
    assert code == 0
    settings = Settings(
        universe=["069500", "122630"],
        strategy=StrategyParams(stop_loss_pct=0.05, max_positions=3),
        guardrails=Guardrails(max_single_order_pct=0.4),
    )
    expected = run_backtest(real_bars, settings, date(2021, 1, 4), date(2025, 12, 29))
    got = json.loads(out.read_text(encoding="utf-8"))["metrics"]
    assert got["final_equity"] == expected.metrics["final_equity"]
    assert got["n_fills"] == expected.metrics["n_fills"]


@pytest.mark.parametrize(
    ("extra", "start", "needle"),
    [
        ((), "2026-01-05", "--end 2025-12-29 is before --start 2026-01-05"),
        ((), "2021-01-03", "start 2021-01-03 is not a session"),
        (("--universe", "069500,999999"), "2021-01-04", "999999"),
    ],
)
def test_krx_backtest_user_errors_exit_2_with_message(
    krx_data_dir: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], start: str,
    needle: str,
) -> None:
    assert main(_args(krx_data_dir, *extra, start=start)) == 2
    err = capsys.readouterr().err
    assert err.startswith("krx backtest: ") and needle in err


def test_krx_backtest_unknown_param_names_it(
    krx_data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "p.json"
    params.write_text('{"stop_loss": 0.1}', encoding="utf-8")
    assert main(_args(krx_data_dir, "--params", str(params))) == 2
    err = capsys.readouterr().err
    assert "unknown parameter(s) stop_loss" in err and str(params) in err


def test_krx_backtest_report_missing_module_is_a_clear_error(
    krx_data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "strategy.backtest.report", None)  # import fails
    assert main(_args(krx_data_dir, "--report", str(tmp_path / "r.html"))) == 2
    captured = capsys.readouterr()
    assert "sharpe" in captured.out  # the backtest itself ran and printed
    assert "--report needs strategy.backtest.report.write_backtest_report" in captured.err


def test_krx_backtest_report_is_written(krx_data_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("strategy.backtest.report")
    path = tmp_path / "r.html"
    assert main(_args(krx_data_dir, "--report", str(path))) == 0
    assert path.stat().st_size > 0
