"""Defaults every part of the system agrees on: ports, the time zone, the daily schedule,
where the PC workspace lives, and the gain/loss colours."""

from __future__ import annotations

import os
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

# -- ports on 127.0.0.1 ----------------------------------------------------------------------------
OCI_PORT = 8000  # the OCI backend on its VM (the far end of the SSH tunnel)
PC_PORT = 8000  # the PC backend on the PC
TUNNEL_PORT = 8001  # the tunnel's local end on the PC (where `krx demo` puts its OCI backend)
COCKPIT_PORT = 8501  # the Streamlit cockpit

# The systemd unit the OCI backend runs as on its VM (rendered by oci_backend/units.py; the PC
# names it in its advice when the backend does not answer behind a healthy tunnel).
OCI_BACKEND_UNIT = "krx-oci-backend.service"

# -- time ------------------------------------------------------------------------------------------
TZ_NAME = "Asia/Seoul"
KST = ZoneInfo(TZ_NAME)  # every artifact's time zone (UTC+9, no DST)
KST_UTC_OFFSET_HOURS = 9

# The daily cycle: 09:05 KST, Monday to Friday (SPEC.md §1); XKRX holidays are handled by the
# cycle itself (a HOLIDAY summary).
DAILY_RUN_AT = time(9, 5)
DAILY_RUN_WEEKDAYS = "mon-fri"
# By this time a session day's cycle must have completed, or the backend raises MISSED_MORNING.
MORNING_DEADLINE = time(9, 30)

# -- the PC workspace ------------------------------------------------------------------------------
PC_WORKSPACE_ENV = "KRX_PC_WORKSPACE"
PC_TOKEN_NAME = "pc_token"  # the PC backend's local API token, in its workspace


def default_pc_workspace() -> Path:
    """The PC workspace when `KRX_PC_WORKSPACE` is not set."""
    return Path.home() / ".krx-alertor" / "workspace"


def pc_workspace_from_env() -> Path:
    """`$KRX_PC_WORKSPACE` (with ~ expanded), else the default workspace."""
    env = os.environ.get(PC_WORKSPACE_ENV)
    return Path(env).expanduser() if env else default_pc_workspace()


# -- colours (Korean convention: gains red, losses blue) ------------------------------------------
GAIN_COLOR = "#d62728"
LOSS_COLOR = "#1f5fbf"
FLAT_COLOR = "#555555"

# -- the cockpit's environment (set by whoever starts it: `krx cockpit`, `krx demo`, the launcher)
COCKPIT_URL_ENV = "KRX_COCKPIT_PC_URL"
COCKPIT_TOKEN_FILE_ENV = "KRX_COCKPIT_TOKEN_FILE"
PC_URL = f"http://127.0.0.1:{PC_PORT}"
