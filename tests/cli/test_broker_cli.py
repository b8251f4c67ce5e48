"""`krx broker status|balance|reconcile` on OCI's data root, against the real KIS fake."""

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

pytestmark = pytest.mark.integration


def _krx(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KRX_OCI_", "KRX_KIS_"))}
    return subprocess.run([sys.executable, "-m", "krx_cli.main", "broker", *args],
                          capture_output=True, text=True, env={**base, **env}, cwd=REPO,
                          timeout=180)


def test_krx_broker_without_credentials_says_so(tmp_path):
    r = _krx("status", "--data-dir", str(tmp_path / "d"), "--json", env={})
    assert r.returncode == 0 and json.loads(r.stdout)["configured"] is False
    r = _krx("reconcile", "--data-dir", str(tmp_path / "d"), env={})
    assert r.returncode == 2 and "KRX_KIS_CREDENTIALS_FILE" in r.stderr


def test_krx_broker_balance_and_reconcile_against_the_fake(tmp_path):
    keys = write_credentials(tmp_path)
    root = str(tmp_path / "d")
    with running_fake_kis(tmp_dir=tmp_path, session_date=SESSION, cash=10_000_000) as kis:
        register(kis, keys)
        env = {"KRX_KIS_CREDENTIALS_FILE": str(keys.path), "KRX_KIS_BASE_URL": kis.base_url}
        r = _krx("balance", "--data-dir", root, "--json", env=env)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["cash"] == 10_000_000
        r = _krx("reconcile", "--data-dir", root, "--json", env=env)
        assert r.returncode == 0 and json.loads(r.stdout)["clean"] is True, r.stdout
        kis.control("hts-order", side="BUY", ticker="069500", qty=1, limit=60_000)
        r = _krx("reconcile", "--data-dir", root, "--json", env=env)
        assert r.returncode == 2
        fields = {d["field"] for d in json.loads(r.stdout)["diffs"]}
        assert fields == {"cash", "holdings[069500].qty"}
        assert keys.app_secret not in r.stdout + r.stderr
