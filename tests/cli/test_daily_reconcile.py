"""`krx daily` (the cron-run cycle) reconciles with the broker as a step when
KRX_KIS_CREDENTIALS_FILE is set — the same `oci_backend.reconcile.reconcile` as the API's — and
prints the result; without credentials the step says it was skipped and changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests" / "oci_backend"), str(REPO / "tests" / "broker")]
from broker_stack import SESSION, register, write_credentials  # noqa: E402
from fake_kis_server import running_fake_kis  # noqa: E402

from contracts.audit import AuditAction  # noqa: E402
from contracts.portfolio import Holding, Portfolio  # noqa: E402
from contracts.settings import ExecutionMode  # noqa: E402
from oci_backend.paths import data_paths  # noqa: E402
from oci_backend.store import Store  # noqa: E402

pytestmark = pytest.mark.integration

BOOK = Portfolio(cash=9_000_000.0, holdings=[Holding(ticker="069500", qty=10,
                                                     avg_price=33_000.0)])


def _root(path: Path, mode: ExecutionMode) -> Path:
    """A live data root holding BOOK in `mode` (written as a PUSH would)."""
    store = Store(data_paths(path))
    settings = store.settings().model_copy(update={"execution_mode": mode})
    store.push(store.revision(), portfolio=BOOK, settings=settings, reason="test book",
               actor="test")
    return path


def _daily(root: Path, env: dict[str, str], krx_data_dir: Path, *extra: str
           ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("KRX_OCI_", "KRX_KIS_", "KRX_ID", "KRX_PW"))}
    return subprocess.run([sys.executable, "-m", "krx_cli.main", "daily", "--data",
                           f"csv:{krx_data_dir}", "--data-dir", str(root), *extra],
                          capture_output=True, text=True, encoding="utf-8",
                          env={**base, **env}, cwd=REPO, timeout=180)


def _incidents(root: Path) -> list[dict]:
    entries = Store(data_paths(root)).audit_log.read(limit=0, action=AuditAction.INCIDENT)
    return [e.model_dump(mode="json") for e in entries]


def test_krx_daily_catches_a_sell_placed_at_the_hts(tmp_path, krx_data_dir, receiver):
    keys = write_credentials(tmp_path)
    root = _root(tmp_path / "d", ExecutionMode.BROKER_PAPER)
    with running_fake_kis(tmp_dir=tmp_path, session_date=SESSION, cash=9_000_000,
                          holdings={"069500": (10, 33_000.0)}) as kis:
        register(kis, keys)
        env = {"KRX_KIS_CREDENTIALS_FILE": str(keys.path), "KRX_KIS_BASE_URL": kis.base_url,
               "KRX_OCI_NOTIFY_URLS": receiver.url}
        first = _daily(root, env, krx_data_dir)
        assert "broker reconciliation: clean" in first.stdout, first.stdout + first.stderr
        assert _incidents(root) == []
        # the operator sells 3 at the HTS (marketable: it fills at the session's open)
        sold = kis.control("hts-order", side="SELL", ticker="069500", qty=3, limit=5)
        assert "odno" in sold and kis.state()["holdings"]["069500"]["qty"] == 7
        second = _daily(root, env, krx_data_dir)
    assert second.returncode == 2, second.stdout + second.stderr
    line = next(ln for ln in second.stdout.splitlines()
                if ln.startswith("broker reconciliation:"))
    assert "CRITICAL BROKER_DRIFT" in line
    assert "cash book 9,000,000" in line and "holdings[069500].qty book 10 vs broker 7" in line
    incidents = _incidents(root)
    assert [e["details"]["incident"] for e in incidents] == ["BROKER_DRIFT"]
    assert [d["field"] for d in incidents[0]["details"]["diffs"]] == [
        "cash", "holdings[069500].qty"]
    summary = json.loads(data_paths(root).summary_latest.read_text(encoding="utf-8"))
    assert [(r["code"], r["severity"]) for r in summary["risks"]
            if r["code"] == "BROKER_DRIFT"] == [("BROKER_DRIFT", "CRITICAL")]
    assert any("broker and book differ" in t for t in receiver.titles())
    assert keys.app_secret not in second.stdout + second.stderr


def test_krx_daily_without_credentials_skips_the_step_and_changes_nothing(
        tmp_path, krx_data_dir):
    root = _root(tmp_path / "d", ExecutionMode.BROKER_PAPER)
    before = Store(data_paths(root)).portfolio()
    r = _daily(root, {}, krx_data_dir)
    assert "broker reconciliation: skipped (no KRX_KIS_CREDENTIALS_FILE)" in r.stdout, (
        r.stdout + r.stderr)
    assert r.returncode == 2  # the cycle's own code: today's data is stale (fail closed)
    assert not data_paths(root).reconciliation.exists()
    assert _incidents(root) == []
    assert Store(data_paths(root)).portfolio() == before
    # `--json -`: stdout is the JSON alone, and a skipped step adds nothing to either stream
    r = _daily(root, {}, krx_data_dir, "--json", "-")
    assert json.loads(r.stdout)["status"] and "reconciliation" not in r.stdout + r.stderr
