"""systemd's notify protocol for the backend unit (`Type=notify`, `WatchdogSec=`).

The protocol is one datagram per message to the AF_UNIX socket named by `$NOTIFY_SOCKET`
(`sd_notify(3)`); a dozen lines of standard library, so no dependency is taken for it
(`systemd-python` needs libsystemd headers to build; `sdnotify` is unmaintained).

- `READY=1` once the app's start-up (store, scheduler, ticket loop) is done.
- `WATCHDOG=1` every third of `$WATCHDOG_USEC`, from a task on the event loop that first reads
  the state revision in a worker thread: a hung event loop or an exhausted thread pool stops
  the pings, and systemd restarts the process after `WatchdogSec`. A damaged state file does
  not stop them: that is a degraded answer, which a restart would not mend.
- `STOPPING=1` on shutdown.
Without `$NOTIFY_SOCKET` (a terminal, the tests, `krx demo`) nothing is sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import anyio

from krx_common.atomic import StoreError
from oci_backend.store import Store

log = logging.getLogger("krx.oci.systemd")


class SystemdNotifier:
    def __init__(self, address: str, watchdog_s: float | None) -> None:
        # "@name" is an abstract socket: its first byte is NUL on the wire.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_s = watchdog_s

    @classmethod
    def from_env(cls) -> SystemdNotifier | None:
        address = os.environ.get("NOTIFY_SOCKET")
        if not address:
            return None
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        watchdog_s = None
        if usec and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            watchdog_s = int(usec) / 1e6
        return cls(address, watchdog_s)

    def notify(self, message: str) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode("utf-8"), self.address)
            return True
        except OSError as exc:
            log.warning("could not notify systemd (%s): %s", message.split("=", 1)[0], exc)
            return False

    async def run(self, store: Store) -> None:
        """READY=1 now, then WATCHDOG=1 while the loop and the thread pool answer."""
        self.notify("READY=1\nSTATUS=serving")
        if self.watchdog_s is None:
            return
        period = max(self.watchdog_s / 3, 0.05)
        try:
            while True:
                try:
                    with anyio.fail_after(period * 2):
                        await anyio.to_thread.run_sync(store.revision)
                except StoreError:
                    pass  # degraded, not dead: /health says so
                except TimeoutError:
                    log.error("watchdog: the state read took over %.1f s; no ping", period * 2)
                    continue
                self.notify("WATCHDOG=1")
                await asyncio.sleep(period)
        except asyncio.CancelledError:
            self.notify("STOPPING=1")
            raise
