"""The KIS client tests' keys, account, session, clock and credentials files. Its own module
(not conftest) so test files import it by a name no other test folder uses."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

from krx_common.defaults import KST

PAPER_KEY = "PSfakePaperKey0123456789abcdef01"
REAL_KEY = "RLfakeRealKey0123456789abcdef012"
SECRET = "fake-app-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
CANO, PRDT = "50123456", "01"
SESSION = "2025-03-04"  # a session in data/krx/daily


class Clock:
    """An aware clock a test moves forward (the client's wall clock)."""

    def __init__(self) -> None:
        self.now = datetime.now(KST)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def write_credentials(path: Path, *, kind: str = "paper", mode: int = 0o600,
                      **override: str) -> Path:
    data = {"app_key": PAPER_KEY if kind == "paper" else REAL_KEY, "app_secret": SECRET,
            "cano": CANO, "acnt_prdt_cd": PRDT, "kind": kind, **override}
    path.write_text(json.dumps(data), encoding="utf-8")
    os.chmod(path, mode)
    return path
