"""SIGKILL a running scripts/daily_ops.sh (the whole process group it leads: bash, krx daily,
the ticket pass) at random moments; after each kill the next run must go ahead (the flock
dies with its holder), finish normally, and leave every file valid (issue 11, section 1)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from contracts import Portfolio, Settings
from contracts.ops import DailyOpsStatus
from contracts.plan import OrderPlan
from contracts.summary import OpsSummary
from krx_common.atomic import read_model
from oci_backend.paths import data_paths
from oci_backend.store import Store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("KRX_DAILY_KILLS", "5"))


def _env(data: Path, krx_data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRX_")}
    env |= {"KRX_HOME": str(REPO), "KRX_VENV": str(Path(sys.executable).parent.parent),
            "KRX_DATA_DIR": str(data), "KRX_DATA_SPEC": f"csv:{krx_data_dir}"}
    return env


def _all_valid(data: Path) -> None:
    paths = data_paths(data)
    store = Store(paths)
    assert store.revision() == 1  # a daily run never changes portfolio or settings
    assert not paths.journal.exists()
    for path, model in ((paths.portfolio, Portfolio), (paths.settings, Settings),
                        (paths.summary_latest, OpsSummary), (paths.daily_ops, DailyOpsStatus)):
        read_model(path, model)  # raises CorruptFile when torn
    for plan in paths.plans_dir.glob("*.json"):
        OrderPlan.model_validate_json(plan.read_text(encoding="utf-8"))
    store.audit_log.read()


def _wait_group_dead(pgid: int, timeout: float = 30.0) -> None:
    """SIGKILL is delivered asynchronously: on a loaded box a killed `krx daily` can take a
    moment to exit and close its copy of the lock's descriptor. Wait until every process of
    the group is gone or a zombie (a zombie holds no descriptors)."""
    deadline = time.monotonic() + timeout
    alive: list[int] = []
    while time.monotonic() < deadline:
        alive = []
        for p in psutil.process_iter(["status"]):
            try:
                if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                    alive.append(p.pid)
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
        if not alive:
            return
        time.sleep(0.05)
    pytest.fail(f"processes {alive} of the killed group {pgid} did not exit in {timeout}s")


def test_crash_daily_ops_killed_at_random_moments_recovers(tmp_path, krx_data_dir):
    data = tmp_path / "data"
    Store(data_paths(data)).initialize()
    env = _env(data, krx_data_dir)
    rng = random.Random(7)
    for _ in range(KILLS):
        proc = subprocess.Popen(["bash", str(REPO / "scripts" / "daily_ops.sh")], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(rng.uniform(0.2, 2.5))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this test started, by its id
        proc.wait(timeout=30)
        _wait_group_dead(proc.pid)
    done = subprocess.run(["bash", str(REPO / "scripts" / "daily_ops.sh")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 2), done.stdout + done.stderr
    assert "busy" not in done.stderr  # the killed runs' lock died with them
    _all_valid(data)
