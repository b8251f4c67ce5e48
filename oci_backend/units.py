"""systemd units and the crontab line of the OCI execution plane, rendered for one install.

`render_units` fills the templates below for a user, an install prefix (the checkout), a venv
and a data dir; `krx oci install-units` writes them to a directory for the operator to copy to
/etc/systemd/system (docs/oci-install.md). The files shipped in `deploy/` are these templates
rendered with the defaults (`UnitParams()`: user krx, /opt/krx-alertor, /var/lib/krx-alertor);
a test keeps them in sync.

Hardening notes (why each unit looks the way it does):
* `ProtectSystem=strict` makes the whole file system read-only; only the data dir is writable
  (`ReadWritePaths`). `ProtectHome=yes` hides /home, /root and /run/user, so the install prefix
  and data dir must live elsewhere (/opt, /var/lib); when one of them is under a home directory
  the units fall back to `ProtectHome=read-only`, which still lets `ReadWritePaths` through.
* `MemoryDenyWriteExecute=yes` forbids W+X memory. numba's LLVM JIT needs exactly that, so it
  must never be set on a unit that may run the backtester or a sweep. The backend and the daily
  cycle do not use numba (indicators are numpy, `strategy.rules` runs as plain Python there).
* The daily-ops service treats exit code 2 (holiday, blocked or stale data, busy) as success:
  it is reported through the summary and notifications, not as a failed unit.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from string import Template

from krx_common.defaults import (
    DAILY_RUN_AT,
    KST_UTC_OFFSET_HOURS,
    OCI_BACKEND_UNIT,
    OCI_PORT,
    TZ_NAME,
)

BACKEND_UNIT = OCI_BACKEND_UNIT
DAILY_SERVICE = "krx-daily-ops.service"
DAILY_TIMER = "krx-daily-ops.timer"
TELEGRAM_UNIT = "krx-telegram.service"
CRONTAB = "crontab.example"

DEFAULT_PREFIX = PurePosixPath("/opt/krx-alertor")
DEFAULT_DATA_DIR = PurePosixPath("/var/lib/krx-alertor")
DEFAULT_ENV_FILE = PurePosixPath("/etc/krx-alertor/oci.env")
DEFAULT_TELEGRAM_TOKEN_FILE = PurePosixPath("/etc/krx-alertor/telegram.token")
# 09:05 KST on weekdays; XKRX holidays are handled by the cycle itself (a HOLIDAY summary).
ON_CALENDAR = f"Mon..Fri *-*-* {DAILY_RUN_AT:%H:%M}:00 {TZ_NAME}"
# Debian's cron ignores CRON_TZ, so the crontab line is in UTC: 00:05 UTC = 09:05 KST (no DST;
# the run hour is at least 9, so the UTC time falls on the same weekday).
CRON_SCHEDULE = (f"{DAILY_RUN_AT.minute} {DAILY_RUN_AT.hour - KST_UTC_OFFSET_HOURS} "
                 "* * 1-5")

_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/+-]*$")
_HOMES = (PurePosixPath("/home"), PurePosixPath("/root"), PurePosixPath("/run/user"))

_HARDENING = """\
UMask=0027
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=${data_dir}
ProtectHome=${protect_home}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
# No numba/LLVM JIT in this unit; never set this on a unit that runs the backtester.
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
CapabilityBoundingSet=
AmbientCapabilities="""

# Who a long-running service runs as, where, and with which data root (backend and bot).
_SERVICE_USER = """\
User=${user}
Group=${group}
WorkingDirectory=${prefix}
EnvironmentFile=-${env_file}
Environment=KRX_DATA_DIR=${data_dir}
Environment=XDG_CACHE_HOME=${data_dir}/cache"""

_BACKEND = """\
# Rendered by `krx oci install-units` (oci_backend/units.py); edit the template, not this file.
[Unit]
Description=KRX Alertor OCI backend (FastAPI on ${host}:${port}, reached only through SSH)
Documentation=file:${prefix}/docs/oci-install.md
After=network-online.target
Wants=network-online.target
# Never give up: retry every RestartSec for as long as it takes.
StartLimitIntervalSec=0

[Service]
# READY=1 once started, WATCHDOG=1 every 10 s from the event loop (oci_backend/systemd.py):
# a hung process is restarted after 30 s without a ping.
Type=notify
NotifyAccess=main
WatchdogSec=30
${service_user}
Environment=PYTHONUNBUFFERED=1
ExecStart=${venv}/bin/krx oci serve --host ${host} --port ${port} --data-dir ${data_dir}
Restart=always
RestartSec=5
TimeoutStopSec=30
# Idle connections must not exhaust the default 1024 fds (the ticket processor failed with
# EMFILE); the backend also caps its connections below this limit.
LimitNOFILE=65536
${hardening}

[Install]
WantedBy=multi-user.target
"""

_TELEGRAM = """\
# Rendered by `krx oci install-units` (oci_backend/units.py); edit the template, not this file.
# Optional: enable only when a bot token exists (docs/telegram.md). Its own process, so a
# Telegram outage or a bot bug never touches the API server; both share the data root's lock.
[Unit]
Description=KRX Alertor Telegram command channel (long polling, no inbound port)
Documentation=file:${prefix}/docs/telegram.md
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
${service_user}
Environment=KRX_TELEGRAM_TOKEN_FILE=${telegram_token_file}
Environment=PYTHONUNBUFFERED=1
ExecStart=${venv}/bin/krx telegram serve --data-dir ${data_dir}
Restart=always
RestartSec=10
TimeoutStopSec=30
${hardening}

[Install]
WantedBy=multi-user.target
"""

_DAILY_SERVICE = """\
# Rendered by `krx oci install-units` (oci_backend/units.py); edit the template, not this file.
[Unit]
Description=KRX Alertor daily cycle and ticket pass (scripts/daily_ops.sh)
Documentation=file:${prefix}/docs/oci-install.md
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
User=${user}
Group=${group}
WorkingDirectory=${prefix}
EnvironmentFile=-${env_file}
Environment=KRX_HOME=${prefix}
Environment=KRX_VENV=${venv}
Environment=KRX_DATA_DIR=${data_dir}
Environment=XDG_CACHE_HOME=${data_dir}/cache
ExecStart=/bin/bash ${prefix}/scripts/daily_ops.sh
# Only 0 (OK or holiday) is success: 2 = a skipped day (blocked, stale or missing data, another
# run busy) shows as a failed unit, besides state/daily_ops.json, /health and an incident.
TimeoutStartSec=30min
${hardening}
"""

_DAILY_TIMER = """\
# Rendered by `krx oci install-units` (oci_backend/units.py); edit the template, not this file.
[Unit]
Description=KRX Alertor daily ops, Mon-Fri 09:05 KST

[Timer]
OnCalendar=${on_calendar}
# Catch up once after downtime (the cycle is idempotent and refuses stale data).
Persistent=true
AccuracySec=1min
Unit=${daily_service}

[Install]
WantedBy=timers.target
"""

_CRONTAB = """\
# KRX Alertor daily ops — the cron alternative to krx-daily-ops.timer (use one, not both).
# Install for the service user:  crontab -u ${user} deploy/crontab.example
# Debian/Ubuntu cron ignores CRON_TZ and runs in the system time zone (UTC on OCI images), so
# the schedule is in UTC: 00:05 UTC = 09:05 KST, Mon-Fri (Korea has no daylight saving time).
# XKRX holidays are detected by the cycle itself (it writes a HOLIDAY summary, exit code 2).
SHELL=/bin/bash
PATH=/usr/local/bin:/usr/bin:/bin
KRX_HOME=${prefix}
KRX_VENV=${venv}
KRX_DATA_DIR=${data_dir}
# The script keeps its own dated log; this file only catches what happens before it starts.
${cron_schedule} /bin/bash ${prefix}/scripts/daily_ops.sh >>${data_dir}/reports/logs/cron.log 2>&1
"""


@dataclass(frozen=True)
class UnitParams:
    """One install: who runs it, where the checkout, venv and data live, where it listens."""

    user: str = "krx"
    group: str | None = None
    prefix: PurePosixPath = DEFAULT_PREFIX
    venv: PurePosixPath | None = None
    data_dir: PurePosixPath = DEFAULT_DATA_DIR
    env_file: PurePosixPath = DEFAULT_ENV_FILE
    telegram_token_file: PurePosixPath = DEFAULT_TELEGRAM_TOKEN_FILE
    host: str = "127.0.0.1"
    port: int = OCI_PORT
    on_calendar: str = ON_CALENDAR
    cron_schedule: str = CRON_SCHEDULE

    def values(self) -> dict[str, str]:
        """Template values after validation; `ValueError` names the offending parameter."""
        for name, value in (("user", self.user), ("group", self.group or self.user)):
            if not _NAME.match(value):
                raise ValueError(f"{name} {value!r} is not a valid system user/group name")
        venv = self.venv or self.prefix / ".venv"
        paths = {"prefix": self.prefix, "venv": venv, "data_dir": self.data_dir,
                 "env_file": self.env_file, "telegram_token_file": self.telegram_token_file}
        for name, p in paths.items():
            text = str(p)
            if not _SAFE_PATH.match(text) or "//" in text or text.rstrip("/") != text:
                raise ValueError(
                    f"{name} {text!r} must be an absolute path of letters, digits and ._+-/ "
                    f"(no spaces, no trailing slash) so it is safe in a unit file")
        try:
            loopback = ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            loopback = self.host == "localhost"
        if not loopback:
            raise ValueError(f"host {self.host!r} is not a loopback address: the OCI backend "
                             f"is only reached through the SSH tunnel")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is out of range")
        under_home = any(_within(PurePosixPath(p), h) for p in (self.prefix, venv,
                                                               self.data_dir) for h in _HOMES)
        return {
            "user": self.user, "group": self.group or self.user,
            **{k: str(v) for k, v in paths.items()},
            "host": self.host, "port": str(self.port),
            "protect_home": "read-only" if under_home else "yes",
            "on_calendar": self.on_calendar, "cron_schedule": self.cron_schedule,
            "daily_service": DAILY_SERVICE,
        }


def _within(path: PurePosixPath, root: PurePosixPath) -> bool:
    return path == root or root in path.parents


def render_units(params: UnitParams | None = None) -> dict[str, str]:
    """File name → content for the backend service, the daily-ops service and timer, the
    Telegram bot service, and the crontab example."""
    v = (params or UnitParams()).values()
    v["hardening"] = Template(_HARDENING).substitute(v)
    v["service_user"] = Template(_SERVICE_USER).substitute(v)
    return {
        BACKEND_UNIT: Template(_BACKEND).substitute(v),
        DAILY_SERVICE: Template(_DAILY_SERVICE).substitute(v),
        DAILY_TIMER: Template(_DAILY_TIMER).substitute(v),
        TELEGRAM_UNIT: Template(_TELEGRAM).substitute(v),
        CRONTAB: Template(_CRONTAB).substitute(v),
    }


def write_units(params: UnitParams | None, out_dir: Path) -> list[Path]:
    """Write the rendered files into `out_dir` (created if needed); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_units(params).items():
        path = out_dir / name
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        written.append(path)
    return written


def shipped_layout() -> dict[str, str]:
    """Where each rendered file lives in the repository (`deploy/`)."""
    return {BACKEND_UNIT: f"deploy/systemd/{BACKEND_UNIT}",
            DAILY_SERVICE: f"deploy/systemd/{DAILY_SERVICE}",
            DAILY_TIMER: f"deploy/systemd/{DAILY_TIMER}",
            TELEGRAM_UNIT: f"deploy/systemd/{TELEGRAM_UNIT}",
            CRONTAB: f"deploy/{CRONTAB}"}
