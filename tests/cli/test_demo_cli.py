"""`krx demo`: the cycle on the synthetic market, then the whole stack (OCI backend, PC backend
in --direct mode, cockpit) on loopback, stopped by PID on Ctrl-C; `scripts/demo.sh` installs
only when it has to."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

KRX = str(Path(sys.executable).with_name("krx"))
REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("KRX_OCI_", "KRX_PC_", "KRX_COCKPIT_")) and k != "KRX_DATA_DIR"}


def test_krx_demo_no_serve_runs_the_cycle_labelled_synthetic(tmp_path):
    res = subprocess.run([KRX, "demo", "--no-serve", "--data-dir", str(tmp_path)],
                         capture_output=True, text=True, encoding="utf-8", timeout=180,
                         env=_env())
    assert res.returncode == 2, res.stdout + res.stderr  # synthetic data is a WARN: exit 2
    assert "SYNTHETIC MARKET DATA" in res.stdout and "regime " in res.stdout
    assert (tmp_path / "reports/ops/summary/ops_summary_latest.json").exists()


def test_krx_demo_first_cycle_on_a_new_root_prints_its_thresholds(tmp_path):
    from contracts.settings import StrategyParams

    res = subprocess.run([KRX, "demo", "--no-serve", "--data-dir", str(tmp_path / "new")],
                         capture_output=True, text=True, encoding="utf-8", timeout=180,
                         env=_env())
    sp = StrategyParams()
    out = res.stdout
    assert res.returncode == 2, out + res.stderr
    assert "< - (" not in out and ">= - (" not in out and "SMA long" not in out, out
    assert f"SMA{sp.regime_ma_long} " in out and f"SMA{sp.ma_short_period} " in out, out
    assert re.search(rf"ADX \d+\.\d (<|>=) {sp.adx_threshold:g} \((chop|trending)\)", out), out


def test_krx_demo_replay_refuses_a_live_root(tmp_path):
    subprocess.run([KRX, "demo", "--no-serve", "--data-dir", str(tmp_path)],
                   capture_output=True, timeout=180, env=_env())
    before = (tmp_path / "state" / "portfolio.json").read_bytes()
    res = subprocess.run([KRX, "demo", "--no-serve", "--replay", "--data-dir", str(tmp_path)],
                         capture_output=True, text=True, encoding="utf-8", timeout=180,
                         env=_env())
    assert res.returncode == 2
    assert "--replay" in res.stderr and "live data root" in res.stderr
    assert (tmp_path / "state" / "portfolio.json").read_bytes() == before


def _start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([KRX, "demo", "--no-browser", "--data-dir", str(tmp_path / "d"),
                                 "--oci-port", "0", "--pc-port", "0", "--cockpit-port", "0",
                                 *extra], stdout=out, stderr=subprocess.STDOUT, env=_env())
    return proc, log


def _urls(proc: subprocess.Popen, log: Path, timeout: float = 180) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        m = re.search(r"cockpit: (\S+)\n\s+OCI backend\s+(\S+).*\n\s+PC backend\s+(\S+)", text)
        if m:
            return {"cockpit": m.group(1), "oci": m.group(2), "pc": m.group(3)}
        assert proc.poll() is None, text
        time.sleep(0.1)
    pytest.fail("krx demo did not print its URLs:\n" + log.read_text(encoding="utf-8"))


@pytest.mark.integration
def test_krx_demo_starts_the_stack_and_ctrl_c_leaves_nothing_behind(tmp_path):
    proc, log = _start(tmp_path)
    children: list[psutil.Process] = []
    try:
        urls = _urls(proc, log)
        children = psutil.Process(proc.pid).children()
        assert len(children) == 3
        root = tmp_path / "d"
        token_file = root / "state" / "demo_token"
        assert oct(token_file.stat().st_mode)[-3:] == "600"
        oci_token = token_file.read_text(encoding="utf-8").strip()
        with httpx.Client(trust_env=False, timeout=30) as http:
            assert http.get(urls["cockpit"] + "/_stcore/health").status_code == 200
            assert http.get(urls["oci"] + "/api/v1/sync/snapshot").status_code == 401
            snap = http.get(urls["oci"] + "/api/v1/sync/snapshot",
                            headers={"Authorization": f"Bearer {oci_token}"}).json()
            assert snap["summary"]["freshness"]["synthetic"] is True
            assert snap["settings"]["execution_mode"] == "DRY_RUN"
            pc_token = (root / "pc_workspace" / "pc_token").read_text(encoding="utf-8").strip()
            status = http.get(urls["pc"] + "/api/v1/status",
                              headers={"Authorization": f"Bearer {pc_token}"}).json()
            assert status["tunnel"]["state"] == "DIRECT"
            assert status["oci"]["reachable"] is True and status["oci_url"] == urls["oci"]
        proc.send_signal(signal.SIGINT)  # the operator's Ctrl-C
        assert proc.wait(timeout=60) == 0
        gone, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, [p.pid for p in alive]
        for url in urls.values():
            with pytest.raises(httpx.TransportError):
                httpx.get(url + "/", timeout=2, trust_env=False)
    finally:
        if proc.poll() is None:
            proc.kill()
        for child in children:
            if child.is_running():
                child.kill()


@pytest.mark.integration
def test_krx_demo_stops_the_others_when_one_process_dies(tmp_path):
    proc, log = _start(tmp_path)
    children: list[psutil.Process] = []
    try:
        _urls(proc, log)
        children = psutil.Process(proc.pid).children()
        oci = next(c for c in children if "oci" in c.cmdline())
        oci.kill()  # by its PID: a crash of the OCI backend
        assert proc.wait(timeout=60) == 1
        gone, alive = psutil.wait_procs(children, timeout=5)
        assert not alive
        assert "the oci process exited" in log.read_text(encoding="utf-8")
    finally:
        if proc.poll() is None:
            proc.kill()
        for child in children:
            if child.is_running():
                child.kill()


@pytest.mark.integration
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_krx_demo_killed_outright_takes_its_three_children_with_it(tmp_path):
    proc, log = _start(tmp_path)
    children: list[psutil.Process] = []
    try:
        _urls(proc, log)
        children = psutil.Process(proc.pid).children()
        assert len(children) == 3
        proc.kill()  # SIGKILL: krx demo cannot stop anyone itself
        proc.wait(timeout=10)
        t0 = time.monotonic()
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, [(p.pid, p.cmdline()) for p in alive]
        assert time.monotonic() - t0 < 10
    finally:
        for child in children:
            if child.is_running():
                child.kill()


def test_demo_child_watchdog_ends_the_child_when_its_parent_is_killed(tmp_path):
    # The portable path (macOS, Windows; Linux without the kernel's parent-death signal): a
    # middle process starts a child under the watchdog and is SIGKILLed; the child follows.
    middle = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, os, time\n"
        "from krx_common.procs import watched\n"
        "c = subprocess.Popen(watched([sys.executable, '-m', 'http.server', '0', '--bind',"
        " '127.0.0.1']), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(c.pid, flush=True)\n"
        "time.sleep(600)\n")], stdout=subprocess.PIPE, text=True, env=_env())
    child = None
    try:
        assert middle.stdout is not None
        child = psutil.Process(int(middle.stdout.readline()))
        time.sleep(1.0)
        assert child.is_running() and child.status() != psutil.STATUS_ZOMBIE
        assert "--watch-parent" in child.cmdline()
        middle.kill()
        middle.wait(timeout=10)
        gone, alive = psutil.wait_procs([child], timeout=5)
        assert not alive
    finally:
        if middle.poll() is None:
            middle.kill()
            middle.wait(timeout=10)
        if child is not None and child.is_running():
            child.kill()


def _fake_checkout(tmp_path: Path) -> Path:
    """A checkout with scripts/demo.sh and a .venv whose python/krx only log their calls."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "demo.sh", root / "scripts" / "demo.sh")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "krx"):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{root}/calls.log"\n',
                          encoding="utf-8")
        script.chmod(0o755)
    return root


def _run_demo_sh(root: Path) -> list[str]:
    log = root / "calls.log"
    log.unlink(missing_ok=True)
    res = subprocess.run(["bash", str(root / "scripts" / "demo.sh"), "--no-browser"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return log.read_text(encoding="utf-8").splitlines()


def test_demo_sh_installs_only_when_the_venv_is_new_or_pyproject_changed(tmp_path):
    root = _fake_checkout(tmp_path)
    first = _run_demo_sh(root)
    assert any("-m pip install -q -e ." in line for line in first)
    assert first[-1] == "krx demo --no-browser"
    again = _run_demo_sh(root)
    assert again == ["krx demo --no-browser"]  # nothing installed
    (root / "pyproject.toml").write_text("[project]\nname = 'y'\n", encoding="utf-8")
    changed = _run_demo_sh(root)
    assert any("-m pip install -q -e ." in line for line in changed)


@pytest.mark.integration
def test_krx_demo_broker_fake_kis_runs_the_stack_in_broker_paper(tmp_path):
    proc, log = _start(tmp_path, "--broker", "fake-kis")
    children: list[psutil.Process] = []
    try:
        urls = _urls(proc, log)
        children = psutil.Process(proc.pid).children()
        assert len(children) == 4  # the KIS fake, OCI, the PC backend, the cockpit
        root = tmp_path / "d"
        creds = root / "state" / "kis_demo_credentials.json"
        assert oct(creds.stat().st_mode)[-3:] == "600"
        auth = {"Authorization": "Bearer " + (root / "state" / "demo_token").read_text(
            encoding="utf-8").strip()}
        with httpx.Client(trust_env=False, timeout=60, headers=auth) as http:
            snap = http.get(urls["oci"] + "/api/v1/sync/snapshot").json()
            assert snap["settings"]["execution_mode"] == "BROKER_PAPER"
            status = http.get(urls["oci"] + "/api/v1/broker/status").json()
            assert status["configured"] is True and status["kind"] == "paper"
            recon = http.post(urls["oci"] + "/api/v1/broker/reconcile").json()
            assert recon["clean"] is True, recon
        assert "BROKER_PAPER" in log.read_text(encoding="utf-8")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        gone, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, [p.pid for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
        for child in children:
            if child.is_running():
                child.kill()
