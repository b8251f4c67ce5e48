"""systemd units, timer and crontab line: rendered, shipped in sync, verified by the real tools."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path, PurePosixPath

import pytest

from krx_cli.main import main as krx_main
from oci_backend.units import (
    BACKEND_UNIT,
    CRON_SCHEDULE,
    CRONTAB,
    DAILY_SERVICE,
    DAILY_TIMER,
    TELEGRAM_UNIT,
    UnitParams,
    render_units,
    shipped_layout,
    write_units,
)

REPO = Path(__file__).resolve().parents[2]
UNITS = (BACKEND_UNIT, DAILY_SERVICE, DAILY_TIMER, TELEGRAM_UNIT)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is required in CI (scripts/test.sh installs it)")
        pytest.skip(f"{tool} is not installed here (CI installs it; set CI=1 to make this fail)")
    return path


def _settings(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


@pytest.fixture
def install(tmp_path) -> UnitParams:
    """An install whose ExecStart binaries exist (systemd-analyze verify checks them)."""
    prefix = tmp_path / "opt" / "krx-alertor"
    krx = prefix / ".venv" / "bin" / "krx"
    krx.parent.mkdir(parents=True)
    krx.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    krx.chmod(krx.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    (prefix / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "daily_ops.sh", prefix / "scripts" / "daily_ops.sh")
    data = tmp_path / "var" / "lib" / "krx-alertor"
    data.mkdir(parents=True)
    return UnitParams(prefix=PurePosixPath(prefix), data_dir=PurePosixPath(data))


def test_shipped_deploy_files_are_the_rendered_defaults():
    for name, text in render_units().items():
        shipped = (REPO / shipped_layout()[name]).read_text(encoding="utf-8")
        assert shipped == text, f"{shipped_layout()[name]} is stale: re-render with units.py"


@pytest.mark.parametrize("user", ["krx", "root"])
def test_systemd_analyze_verify_passes_without_warnings(tmp_path, install, user):
    tool = _need("systemd-analyze")
    out = tmp_path / "units"
    write_units(UnitParams(**{**install.__dict__, "user": user}), out)
    env = {k: v for k, v in os.environ.items() if k != "SYSTEMD_LOG_LEVEL"}
    proc = subprocess.run([tool, "verify", *(str(out / u) for u in UNITS)], cwd=out,
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    # every line systemd prints is a finding; nothing is filtered
    assert proc.stderr.strip() == "" and proc.stdout.strip() == "", proc.stderr + proc.stdout


def test_systemd_analyze_verify_catches_a_broken_unit(tmp_path, install):
    tool = _need("systemd-analyze")
    out = tmp_path / "units"
    write_units(install, out)
    unit = out / BACKEND_UNIT
    unit.write_text(unit.read_text(encoding="utf-8").replace("Restart=always",
                                                             "Restart=sometimes"),
                    encoding="utf-8")
    proc = subprocess.run([tool, "verify", str(unit)], cwd=out, capture_output=True, text=True,
                          timeout=120)
    # the no-warnings check above would notice a bad value: verify reports it on stderr
    assert "restart specifier" in proc.stderr and "sometimes" in proc.stderr


def test_backend_unit_runs_unprivileged_on_loopback_and_keeps_retrying():
    s = _settings(render_units()[BACKEND_UNIT])
    assert s["User"] == ["krx"] and s["Group"] == ["krx"]
    assert s["ExecStart"] == ["/opt/krx-alertor/.venv/bin/krx oci serve --host 127.0.0.1 "
                              "--port 8000 --data-dir /var/lib/krx-alertor"]
    assert s["WorkingDirectory"] == ["/opt/krx-alertor"]
    assert s["EnvironmentFile"] == ["-/etc/krx-alertor/oci.env"]
    assert s["Restart"] == ["always"] and s["RestartSec"] == ["5"]
    assert s["StartLimitIntervalSec"] == ["0"]
    # READY and watchdog pings from the process (oci_backend/systemd.py): a hung backend is
    # restarted after 30 s without a ping
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["WatchdogSec"] == ["30"]
    for key, value in {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes", "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes", "ReadWritePaths": "/var/lib/krx-alertor",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    }.items():
        assert s[key] == [value], key


def test_defect08_backend_unit_raises_the_fd_limit():
    """Issue 15, defect 8: 1,100 idle connections exhausted the default 1024 fds."""
    s = _settings(render_units()[BACKEND_UNIT])
    assert s["LimitNOFILE"] == ["65536"]
    shipped = (REPO / shipped_layout()[BACKEND_UNIT]).read_text(encoding="utf-8")
    assert "\nLimitNOFILE=65536\n" in shipped


def test_telegram_unit_runs_the_bot_unprivileged_with_its_token_file():
    s = _settings(render_units()[TELEGRAM_UNIT])
    assert s["ExecStart"] == ["/opt/krx-alertor/.venv/bin/krx telegram serve "
                              "--data-dir /var/lib/krx-alertor"]
    assert s["User"] == ["krx"] and s["Restart"] == ["always"]
    assert "KRX_TELEGRAM_TOKEN_FILE=/etc/krx-alertor/telegram.token" in s["Environment"]
    assert s["EnvironmentFile"] == ["-/etc/krx-alertor/oci.env"]
    assert s["ProtectSystem"] == ["strict"] and s["ReadWritePaths"] == ["/var/lib/krx-alertor"]
    assert s["MemoryDenyWriteExecute"] == ["yes"] and s["NoNewPrivileges"] == ["yes"]


def test_daily_ops_service_and_timer():
    units = render_units()
    svc, timer = _settings(units[DAILY_SERVICE]), _settings(units[DAILY_TIMER])
    assert svc["Type"] == ["oneshot"]
    assert svc["ExecStart"] == ["/bin/bash /opt/krx-alertor/scripts/daily_ops.sh"]
    assert "KRX_DATA_DIR=/var/lib/krx-alertor" in svc["Environment"]
    assert "SuccessExitStatus" not in svc  # a skipped day (exit 2) is a failed unit
    assert timer["OnCalendar"] == ["Mon..Fri *-*-* 09:05:00 Asia/Seoul"]
    assert timer["Persistent"] == ["true"] and timer["Unit"] == [DAILY_SERVICE]


def test_timer_fires_at_0005_utc_on_weekdays():
    tool = _need("systemd-analyze")
    proc = subprocess.run([tool, "calendar", "--iterations=5",
                           "Mon..Fri *-*-* 09:05:00 Asia/Seoul"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "TZ": "UTC"})
    assert proc.returncode == 0, proc.stderr
    stamps = re.findall(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{4}-\d{2}-\d{2} (\d{2}:\d{2}:\d{2})",
                        proc.stdout)
    assert len(stamps) == 5, proc.stdout
    assert all(t == "00:05:00" and d not in ("Sat", "Sun") for d, t in stamps), stamps


def test_units_fall_back_to_read_only_home_for_paths_under_home():
    p = UnitParams(prefix=PurePosixPath("/home/krx/krx-alertor"),
                   data_dir=PurePosixPath("/home/krx/data"))
    assert _settings(render_units(p)[BACKEND_UNIT])["ProtectHome"] == ["read-only"]


@pytest.mark.parametrize("kw,match", [
    ({"user": "Krx Admin"}, "user"),
    ({"prefix": PurePosixPath("/opt/krx alertor")}, "prefix"),
    ({"data_dir": PurePosixPath("relative/dir")}, "data_dir"),
    ({"prefix": PurePosixPath("/opt/%h")}, "prefix"),
    ({"host": "0.0.0.0"}, "loopback"),
    ({"port": 70000}, "port"),
])
def test_render_units_refuses_unsafe_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        render_units(UnitParams(**kw))


def test_backup_under_flock_of_the_write_lock_keeps_writers_out(tmp_path):
    """docs/oci-install.md backs up state/ under `flock state/.write.lock`: the store must wait."""
    from filelock import Timeout

    from oci_backend.paths import data_paths
    from oci_backend.store import Store

    store = Store(data_paths(tmp_path / "data"), lock_timeout=0.5)
    store.initialize()
    holder = subprocess.Popen([_need("flock"), str(store.paths.write_lock), "sleep", "3"])
    try:
        deadline = time.monotonic() + 10
        while True:  # wait until flock really holds it
            try:
                with store.lock():
                    pass
            except Timeout:
                break
            assert time.monotonic() < deadline, "flock never took the lock"
            time.sleep(0.05)
        with pytest.raises(Timeout):
            store.set_emergency_stop(True, "x", "test")
    finally:
        holder.wait(timeout=30)  # sleep 3 ends by itself
    store.set_emergency_stop(True, "after the backup", "test")
    assert store.emergency_stop().on


# -- MemoryDenyWriteExecute ---------------------------------------------------------------------
# The kernel's PR_SET_MDWE (Linux >= 6.3) is what systemd's MemoryDenyWriteExecute=yes applies
# (newer systemd uses it directly, older ones an equivalent seccomp filter): no memory may become
# writable and executable. It is inherited by children and kept across exec, so running a
# command under this wrapper runs it the way the hardened units would.
_MDWE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit(77)
os.execvp(sys.argv[1], sys.argv[1:])
"""


def _mdwe(cmd: list[str]) -> list[str]:
    return [sys.executable, "-c", _MDWE, *cmd]


def _need_mdwe() -> None:
    rc = subprocess.run(_mdwe(["true"]), timeout=60).returncode
    if rc == 77:
        reason = ("this kernel has no PR_SET_MDWE (Linux < 6.3): cannot emulate "
                  "MemoryDenyWriteExecute here")
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run on a kernel that has it")
        pytest.skip(reason)
    assert rc == 0


def test_mdwe_emulation_stops_numba_as_the_docs_warn():
    _need_mdwe()
    proc = subprocess.run(_mdwe([sys.executable, "-c", "import numba"]), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0 and "executable memory" in proc.stderr


@pytest.mark.slow
def test_daily_ops_runs_under_memory_deny_write_execute(tmp_path, krx_data_dir):
    _need_mdwe()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRX_")}
    env.update(KRX_HOME=str(REPO), KRX_VENV=str(Path(sys.executable).parent.parent),
               KRX_DATA_DIR=str(data), KRX_DATA_SPEC=f"csv:{krx_data_dir}")
    proc = subprocess.run(_mdwe(["bash", str(REPO / "scripts" / "daily_ops.sh")]), env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr  # stale data today, not a crash
    assert "krx daily exited 2" in proc.stdout
    # the signal path too (stale data stops before it): a READY replay, a ticket, paper fills
    code = f"""
import sys
from datetime import date, datetime
from krx_common.defaults import KST
from contracts.portfolio import Holding, Portfolio
from oci_backend.paths import data_paths
from oci_backend.pipeline import run_cycle
from oci_backend.store import Store
from oci_backend.tickets import opens_from_spec, process_pending, submit_ticket
from strategy.ticketing import draft_ticket
store = Store(data_paths({str(tmp_path / "replay")!r}))
store.initialize()
store.push(store.revision(), portfolio=Portfolio(cash=8e6, holdings=[
    Holding(ticker="005930", qty=30, avg_price=80000.0)]), settings=None, reason="t", actor="t")
res = run_cycle(store, data_spec="csv:{krx_data_dir}", asof=date(2025, 6, 13))
assert res.plan.decision.value == "READY", res.summary.message
t = draft_ticket(res.plan, store.settings(), cash=8e6, created_at=datetime.now(KST))
submit_ticket(store, t.model_copy(update={{"confirmed": True}}), "k", actor="t")
[rec] = process_pending(store, opens=opens_from_spec("csv:{krx_data_dir}", store.paths.cache_dir))
assert "numba" not in sys.modules
print(rec.state.value, round(store.portfolio().cash, 2))
"""
    proc = subprocess.run(_mdwe([sys.executable, "-c", code]), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    # paper fills at the 2025-06-16 open ± slippage (issue 9's execution model)
    assert proc.stdout.split() == ["DRY_RUN_FILLED", "7806937.05"]


@pytest.mark.integration
def test_backend_serves_and_processes_tickets_under_memory_deny_write_execute(
    tmp_path, krx_data_dir
):
    import httpx

    from contracts.plan import OrderPlan
    from contracts.settings import Settings
    from krx_common.defaults import KST
    from strategy.ticketing import draft_ticket

    _need_mdwe()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = "mdwe-" + secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRX_")}
    env.update(KRX_OCI_TOKEN=token, KRX_OCI_TICKET_INTERVAL_S="0.5")
    from oci_backend.paths import data_paths
    from oci_backend.replay_root import create_replay_root

    # asof cycles run only on a replay data root
    create_replay_root(data_paths(tmp_path / "data"), label="mdwe", data_spec="csv",
                       settings=Settings())
    log = open(tmp_path / "server.log", "w", encoding="utf-8")  # noqa: SIM115
    server = subprocess.Popen(
        _mdwe([str(Path(sys.executable).parent / "krx"), "oci", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--data-dir", str(tmp_path / "data"),
               "--data", f"csv:{krx_data_dir}"]),
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=120,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            deadline = time.monotonic() + 90
            while True:
                assert server.poll() is None, (tmp_path / "server.log").read_text("utf-8")
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "backend did not come up under MDWE"
                time.sleep(0.3)
            r = client.post("/api/v1/ops/cycle", json={"asof": "2025-06-13"})
            assert r.status_code == 200, r.text
            plan = OrderPlan.model_validate(client.get("/api/v1/plans/current").json())
            assert plan.decision.value == "READY"
            ticket = draft_ticket(plan, Settings(), cash=plan.cash,
                                  created_at=datetime.now(KST))
            r = client.post("/api/v1/tickets", headers={"Idempotency-Key": "mdwe-1"},
                            json=ticket.model_copy(update={"confirmed": True})
                            .model_dump(mode="json"))
            assert r.status_code == 201, r.text
            deadline = time.monotonic() + 60
            while True:
                state = client.get(f"/api/v1/tickets/{ticket.ticket_id}").json()["state"]
                if state == "DRY_RUN_FILLED":
                    break
                assert time.monotonic() < deadline, state
                time.sleep(0.3)
    finally:
        server.terminate()  # our own child, by PID
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        log.close()
    assert "executable memory" not in (tmp_path / "server.log").read_text("utf-8")


# -- crontab -----------------------------------------------------------------------------------
_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def _valid_cron_field(text: str, lo: int, hi: int) -> bool:
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return False
        if base == "*":
            continue
        a, _, b = base.partition("-")
        if not a.isdigit() or (b and not b.isdigit()):
            return False
        if not lo <= int(a) <= hi or (b and not int(a) <= int(b) <= hi):
            return False
    return True


def _cron_jobs(text: str) -> list[list[str]]:
    jobs = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or re.match(r"^[A-Z_]+=", line):
            continue
        jobs.append(line.split(None, 5))
    return jobs


def test_crontab_example_is_0005_utc_on_weekdays():
    text = (REPO / "deploy" / CRONTAB).read_text(encoding="utf-8")
    [job] = _cron_jobs(text)
    assert " ".join(job[:5]) == CRON_SCHEDULE == "5 0 * * 1-5"
    assert all(_valid_cron_field(f, lo, hi) for f, (lo, hi) in zip(job[:5], _RANGES,
                                                                  strict=True))
    assert job[5].startswith("/bin/bash /opt/krx-alertor/scripts/daily_ops.sh")
    assert "CRON_TZ" in text and "UTC" in text  # the comment says why it is in UTC
    assert not any(line.startswith("CRON_TZ") for line in text.splitlines())


def test_cron_field_validator_rejects_bad_fields():
    assert not _valid_cron_field("60", 0, 59) and not _valid_cron_field("1-9", 0, 7)
    assert not _valid_cron_field("*/0", 0, 59) and _valid_cron_field("*/15", 0, 59)


def test_crontab_example_passes_the_real_crontab_check(tmp_path):
    tool = _need("crontab")
    proc = subprocess.run([tool, "-n", str(REPO / "deploy" / CRONTAB)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    bad = tmp_path / "bad.cron"
    bad.write_text("5 0 * * 1-9 /bin/true\n", encoding="utf-8")
    assert subprocess.run([tool, "-n", str(bad)], capture_output=True,
                          timeout=60).returncode != 0


# -- CLI ---------------------------------------------------------------------------------------
def test_krx_oci_install_units_writes_the_rendered_files(tmp_path, capsys):
    out = tmp_path / "out"
    rc = krx_main(["oci", "install-units", "--user", "ops", "--prefix", "/srv/krx",
                   "--data-dir", "/srv/krx-data", "--out", str(out)])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([*UNITS, CRONTAB])
    backend = (out / BACKEND_UNIT).read_text(encoding="utf-8")
    assert "User=ops" in backend and "ReadWritePaths=/srv/krx-data" in backend
    assert "ExecStart=/srv/krx/.venv/bin/krx oci serve" in backend
    assert "systemctl enable --now" in capsys.readouterr().out
    assert krx_main(["oci", "install-units", "--prefix", "/srv/k k", "--out",
                     str(tmp_path / "x")]) == 2
