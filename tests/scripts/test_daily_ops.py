"""scripts/daily_ops.sh for real: lock, dated KST log, exit codes 0 / 2 / 1."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "daily_ops.sh"
KST = ZoneInfo("Asia/Seoul")


def _venv() -> Path:
    """The virtualenv running these tests (it holds `krx`)."""
    for candidate in (Path(sys.prefix), REPO / ".venv"):
        if (candidate / "bin" / "krx").exists():
            return candidate
    pytest.fail("no virtualenv with bin/krx found (pip install -e . first)")


def _kst_day() -> str:
    return datetime.now(KST).strftime("%Y%m%d")


def _run(env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("KRX_")}
    full.update(env)
    return subprocess.run(["bash", str(SCRIPT)], env=full, capture_output=True, text=True,
                          timeout=timeout)


def _fake_venv(tmp_path: Path, daily_rc: int, tickets_rc: int) -> tuple[Path, Path]:
    """A venv whose `krx` records its arguments and exits with the given codes."""
    venv = tmp_path / "fakevenv"
    (venv / "bin").mkdir(parents=True)
    calls = tmp_path / "calls.txt"
    krx = venv / "bin" / "krx"
    krx.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> "{calls}"\n'
        f'if [ "$1" = daily ]; then exit {daily_rc}; fi\n'
        f'if [ "$1" = oci ]; then exit {tickets_rc}; fi\n'
        "exit 99\n", encoding="utf-8")
    krx.chmod(0o755)
    return venv, calls


@pytest.mark.parametrize("script", sorted((REPO / "scripts").glob("*.sh")),
                         ids=lambda p: p.name)
def test_scripts_parse_with_bash_n(script):
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_daily_ops_real_run_on_stale_data_exits_2_and_logs(tmp_path, krx_data_dir):
    data = tmp_path / "data"
    day_before = _kst_day()
    proc = _run({"KRX_HOME": str(REPO), "KRX_VENV": str(_venv()), "KRX_DATA_DIR": str(data),
                 "KRX_DATA_SPEC": f"csv:{krx_data_dir}"})
    holiday = json.loads((data / "reports" / "ops" / "summary" / "ops_summary_latest.json")
                         .read_text(encoding="utf-8"))["holiday"]
    assert proc.returncode == (0 if holiday else 2), proc.stdout + proc.stderr
    logs = sorted((data / "reports" / "logs").glob("daily_ops_*.log"))
    assert [p.name for p in logs] in ([f"daily_ops_{day_before}.log"],
                                      [f"daily_ops_{_kst_day()}.log"])
    log = logs[0].read_text(encoding="utf-8")
    assert "krx daily exited 2" in log and "krx oci process-tickets exited 0" in log
    assert ("done: exit 0 (OK)" if holiday else "done: exit 2 (blocked-or-warn)") in log
    assert log.strip() in proc.stdout.strip() or proc.stdout.strip() in log
    # the cycle ran for real against the stale bars (or today is no session at all)
    summary = json.loads((data / "reports" / "ops" / "summary" / "ops_summary_latest.json")
                         .read_text(encoding="utf-8"))
    assert summary["status"] in ("BLOCKED", "WARN")
    if summary["holiday"]:
        assert summary["stage"] == "NO_ACTION_TODAY"
    else:
        assert summary["plan"]["reasons"] == ["DATA_STALE"] and "DATA_STALE" in log


def test_daily_ops_second_concurrent_run_is_busy(tmp_path):
    data = tmp_path / "data"
    lock = data / "state" / ".daily_ops.lock"
    lock.parent.mkdir(parents=True)
    venv, calls = _fake_venv(tmp_path, 0, 0)
    with open(lock, "a", encoding="utf-8") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running daily_ops holds
        proc = _run({"KRX_HOME": str(REPO), "KRX_VENV": str(venv),
                     "KRX_DATA_DIR": str(data)}, timeout=60)
    assert proc.returncode == 2
    assert "busy" in proc.stderr and str(lock) in proc.stderr
    assert not calls.exists()  # nothing ran
    log = (data / "reports" / "logs" / f"daily_ops_{_kst_day()}.log")
    assert "busy" in log.read_text(encoding="utf-8")
    # once the lock is free the next run goes ahead
    assert _run({"KRX_HOME": str(REPO), "KRX_VENV": str(venv),
                 "KRX_DATA_DIR": str(data)}, timeout=60).returncode == 0


@pytest.mark.parametrize("daily_rc,tickets_rc,expected", [
    (0, 0, 0), (2, 0, 2), (1, 0, 1), (0, 1, 1), (2, 1, 1), (3, 0, 1),
])
def test_daily_ops_exit_codes(tmp_path, daily_rc, tickets_rc, expected):
    data = tmp_path / "data"
    venv, calls = _fake_venv(tmp_path, daily_rc, tickets_rc)
    proc = _run({"KRX_HOME": str(REPO), "KRX_VENV": str(venv), "KRX_DATA_DIR": str(data),
                 "KRX_DATA_SPEC": "demo"}, timeout=60)
    assert proc.returncode == expected, proc.stdout + proc.stderr
    # both steps always run, with the data dir and market data passed through
    assert calls.read_text(encoding="utf-8").splitlines() == [
        f"daily --data demo --data-dir {data}", f"oci process-tickets --data-dir {data}"]


def test_daily_ops_without_a_venv_fails_with_a_message(tmp_path):
    data = tmp_path / "data"
    proc = _run({"KRX_HOME": str(REPO), "KRX_VENV": str(tmp_path / "nope"),
                 "KRX_DATA_DIR": str(data)}, timeout=60)
    assert proc.returncode == 1
    assert "set KRX_VENV" in proc.stdout
    assert "set KRX_VENV" in (data / "reports" / "logs" / f"daily_ops_{_kst_day()}.log"
                              ).read_text(encoding="utf-8")
