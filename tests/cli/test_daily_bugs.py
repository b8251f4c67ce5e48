"""`krx daily` bugs from issue 10, each as the operator hit it: a bad --asof, the exit-code
table, a cp949 console, replays overwriting each other, the demo sharing the real root, and
`--json` with the default provider on a fresh clone."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pty
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

from contracts import OpsSummary
from krx_cli.commands import _common
from krx_common.defaults import KST
from oci_backend import pipeline
from oci_backend.paths import data_paths
from oci_backend.pipeline import run_cycle
from oci_backend.store import Store

KRX = str(Path(sys.executable).with_name("krx"))
REPO = Path(__file__).resolve().parents[2]


def _krx(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([KRX, *args], capture_output=True, timeout=180,
                          env={**os.environ, **(env or {})})


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# --- a non-session --asof is a usage error ------------------------------------------------


def test_daily_non_session_asof_is_one_line_exit_2_nothing_written(tmp_path, krx_data_dir):
    res = _krx("daily", "--data", f"csv:{krx_data_dir}", "--asof", "2025-12-25",
               "--data-dir", str(tmp_path / "fresh"))
    assert res.returncode == 2
    err = res.stderr.decode("utf-8").strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "2025-12-25" in err and "2025-12-24" in err and "2025-12-26" in err
    assert res.stdout == b""
    assert not (tmp_path / "fresh").exists()


@pytest.mark.slow
def test_daily_non_session_asof_leaves_an_existing_root_byte_identical(tmp_path, krx_data_dir):
    root = tmp_path / "root"
    ok = _krx("daily", "--data", f"csv:{krx_data_dir}", "--asof", "2025-12-29", "--replay",
              "--data-dir", str(root))
    assert ok.returncode == 0, ok.stderr
    before = _hashes(root)
    bad = _krx("daily", "--data", f"csv:{krx_data_dir}", "--asof", "2025-12-27",  # a Saturday
               "--data-dir", str(root))
    assert bad.returncode == 2
    assert "2025-12-26 (Fri) before, 2025-12-29 (Mon) after" in bad.stderr.decode("utf-8")
    assert _hashes(root) == before  # the latest summary is still the real replay's


# --- one exit-code table ------------------------------------------------------------------


def test_exit_code_table_is_one_table_in_code_script_and_docs():
    assert (_common.EXIT_OK, _common.EXIT_FAILURE, _common.EXIT_BLOCKED, _common.EXIT_USAGE) \
        == (pipeline.EXIT_OK, pipeline.EXIT_FAILURE, pipeline.EXIT_BLOCKED, 2)
    script = (REPO / "scripts" / "daily_ops.sh").read_text(encoding="utf-8")
    assert "blocked-or-warn" in script
    doc = (REPO / "docs" / "oci-install.md").read_text(encoding="utf-8")
    assert "| 0 | OK" in doc and "| 2 | blocked, warn, holiday, stale" in doc \
        and "| 1 | failure" in doc
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "exit 0 OK, 2 blocked/warn/holiday/stale, 1 failure" in readme


@pytest.mark.slow
def test_daily_exit_codes_ok_warn_blocked(tmp_path, krx_data_dir):
    ok = _krx("daily", "--data", f"csv:{krx_data_dir}", "--asof", "2025-12-29", "--replay",
              "--data-dir", str(tmp_path / "a"), "--json")
    assert ok.returncode == 0 and OpsSummary.model_validate_json(ok.stdout).status.value == "OK"
    warn = _krx("daily", "--data", "demo", "--asof", "2025-12-29", "--replay",
                "--data-dir", str(tmp_path / "b"), "--json")
    assert OpsSummary.model_validate_json(warn.stdout).status.value == "WARN"
    assert warn.returncode == 2
    stale = run_cycle(Store(data_paths(tmp_path / "c")), data_spec=f"csv:{krx_data_dir}",
                      now=datetime(2026, 11, 27, 9, 5, tzinfo=KST))
    assert stale.summary.status.value == "BLOCKED" and stale.exit_code == 2


# --- the console's encoding ---------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["cp949", "ascii"])
def test_daily_never_fails_on_the_console_encoding(tmp_path, krx_data_dir, encoding):
    res = _krx("daily", "--data", f"csv:{krx_data_dir}", "--asof", "2025-12-29", "--replay",
               "--data-dir", str(tmp_path), env={"PYTHONIOENCODING": encoding})
    assert res.returncode == 0, res.stderr.decode("utf-8", "replace")
    out = res.stdout.decode(encoding)
    assert "지정가" in out if encoding == "cp949" else "??" in out  # replaced, not raised
    assert "status OK" in out and "UnicodeEncodeError" not in res.stderr.decode("utf-8", "replace")


def test_render_happens_before_any_write(tmp_path, krx_data_dir):
    store = Store(data_paths(tmp_path / "r"))

    def broken(summary, plan):
        raise UnicodeEncodeError("cp949", "\u2014", 0, 1, "illegal multibyte sequence")

    with pytest.raises(UnicodeEncodeError):
        run_cycle(store, data_spec=f"csv:{krx_data_dir}", asof=date(2025, 12, 29),
                  render=broken)
    assert not store.paths.summary_latest.exists()
    assert not list(store.paths.reports_dir.rglob("*.json"))  # no plan, no summary


# --- dated copies by asof; the demo's own root --------------------------------------------


@pytest.mark.slow
def test_replays_on_one_day_keep_one_dated_copy_per_session(tmp_path, krx_data_dir):
    for asof in ("2025-12-26", "2025-12-29"):
        res = _krx("daily", "--data", f"csv:{krx_data_dir}", "--asof", asof, "--replay",
                   "--data-dir", str(tmp_path))
        assert res.returncode == 0, res.stderr
    summaries = tmp_path / "reports" / "ops" / "summary"
    for asof in ("2025-12-26", "2025-12-29"):
        copy = summaries / f"ops_summary_{asof.replace('-', '')}.json"
        assert OpsSummary.model_validate_json(copy.read_bytes()).asof.isoformat() == asof


@pytest.mark.slow
def test_demo_gets_its_own_root_and_never_overwrites_the_real_replay(tmp_path, krx_data_dir):
    env = {"KRX_DATA_DIR": str(tmp_path)}
    real = _krx("daily", "--data", f"csv:{krx_data_dir}", "--asof", "2025-12-29", "--replay",
                env=env)
    assert real.returncode == 0, real.stderr
    latest = tmp_path / "reports" / "ops" / "summary" / "ops_summary_latest.json"
    before = latest.read_bytes()
    demo = _krx("daily", "--data", "demo", env=env)
    assert demo.returncode in (0, 2), demo.stderr
    assert latest.read_bytes() == before
    demo_latest = tmp_path / "state" / "demo" / "reports" / "ops" / "summary" / \
        "ops_summary_latest.json"
    assert OpsSummary.model_validate_json(demo_latest.read_bytes()).freshness.synthetic


# --- the default provider on a fresh clone ------------------------------------------------


@pytest.mark.skipif(any(importlib.util.find_spec(m) for m in ("pykrx", "FinanceDataReader")),
                    reason="a live provider is installed: the fresh-clone case does not apply")
def test_daily_auto_without_live_data_says_in_one_line_what_to_install(
    tmp_path, krx_data_dir, monkeypatch
):
    monkeypatch.delenv("KRX_CSV_DIR", raising=False)
    env = dict(os.environ)
    store = Store(data_paths(tmp_path / "d"))
    res = run_cycle(store, data_spec="auto", asof=date(2025, 12, 29))
    risk = next(r for r in res.summary.risks if r.code == "DATA_MISSING")
    assert "\n" not in risk.message and len(risk.message) < 160
    assert "pip install -e '.[live-data]'" in risk.message
    cli = subprocess.run([KRX, "daily", "--json"], capture_output=True, timeout=180,
                         env={**env, "KRX_DATA_DIR": str(tmp_path / "e")})
    assert cli.returncode == 2
    summary = OpsSummary.model_validate_json(cli.stdout)
    if not summary.holiday:  # a session today: blocked with the one-line hint
        assert any("pip install -e '.[live-data]'" in r.message for r in summary.risks)


# --- colour on a TTY ----------------------------------------------------------------------


def _on_tty(args: list[str], env: dict[str, str]) -> str:
    master, slave = pty.openpty()
    proc = subprocess.Popen([KRX, *args], stdout=slave, stderr=subprocess.DEVNULL,
                            env={**os.environ, **env})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow
def test_colour_on_a_tty_off_with_no_color_or_a_pipe(tmp_path, krx_data_dir):
    args = ["daily", "--data", f"csv:{krx_data_dir}", "--asof", "2025-12-29", "--replay",
            "--data-dir", str(tmp_path)]
    tty = _on_tty(args, {"NO_COLOR": ""})
    assert "\x1b[31m" in tty  # the buy line (and gains) in red
    assert "\x1b[" not in _on_tty(args, {"NO_COLOR": "1"})
    piped = _krx(*args)
    assert b"\x1b[" not in piped.stdout
    assert json.loads(_krx(*args, "--json").stdout)["asof"] == "2025-12-29"
