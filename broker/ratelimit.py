"""A client-side sliding-window rate limiter (thread-safe, on the monotonic clock).

KIS allows 15 requests a second on the real domain and 2 on the paper one, per app key. The
window is a quarter second longer than a second (`margin_s`) so that jitter between our send
and KIS's arrival never puts `limit + 1` requests in one of KIS's seconds (measured against the
fake on a loaded machine: 0.1 s was not enough).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(self, limit: int, window_s: float = 1.0, *, margin_s: float = 0.25,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit, self.window = limit, window_s + margin_s
        self._clock, self._sleep = clock, sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until one more request fits in the window, then count it."""
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.window:
                    self._sent.popleft()
                if len(self._sent) < self.limit:
                    self._sent.append(now)
                    return
                wait = self._sent[0] + self.window - now
            self._sleep(max(wait, 0.001))
