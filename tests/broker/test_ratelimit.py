"""The client-side limiter on a controlled monotonic clock."""

from __future__ import annotations

import threading

from broker.ratelimit import SlidingWindowLimiter


class FakeTime:
    def __init__(self) -> None:
        self.t = 100.0
        self.lock = threading.Lock()

    def clock(self) -> float:
        with self.lock:
            return self.t

    def sleep(self, s: float) -> None:
        with self.lock:
            self.t += s


def test_limiter_never_lets_more_than_limit_into_a_window() -> None:
    ft = FakeTime()
    lim = SlidingWindowLimiter(2, clock=ft.clock, sleep=ft.sleep)
    stamps = []
    for _ in range(9):
        lim.acquire()
        stamps.append(ft.clock())
    for i, t in enumerate(stamps):
        assert sum(1 for u in stamps if t <= u < t + 1.25) <= 2, (i, stamps)
    assert stamps[-1] - stamps[0] >= 4 * 1.25  # 9 requests at 2 per 1.25 s


def test_limiter_is_thread_safe() -> None:
    ft = FakeTime()
    lim = SlidingWindowLimiter(15, clock=ft.clock, sleep=ft.sleep)
    stamps: list[float] = []
    guard = threading.Lock()

    def work() -> None:
        for _ in range(20):
            lim.acquire()
            with guard:
                stamps.append(ft.clock())

    pool = [threading.Thread(target=work) for _ in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert len(stamps) == 80
    stamps.sort()
    assert max(sum(1 for u in stamps if t <= u < t + 1.25) for t in stamps) <= 15

