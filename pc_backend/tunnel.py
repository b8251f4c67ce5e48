"""How the PC reaches OCI: a direct URL (`DirectLink`) or the SSH tunnel (`TunnelKeeper`)."""

from __future__ import annotations

import threading
from datetime import datetime

from contracts.common import now_kst
from contracts.pc import TunnelState, TunnelStatus


class DirectLink:
    """No SSH: OCI at a direct URL (the demo, an operator on a VPN)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._since = now_kst()
        self._lock = threading.Lock()
        self._last_up: datetime | None = None

    @property
    def local_url(self) -> str:
        return self.url

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def gate(self) -> str | None:
        return None

    def mark_up(self) -> None:
        with self._lock:
            self._last_up = now_kst()

    def status(self) -> TunnelStatus:
        with self._lock:
            return TunnelStatus(state=TunnelState.DIRECT, last_up_at=self._last_up,
                                since=self._since)
