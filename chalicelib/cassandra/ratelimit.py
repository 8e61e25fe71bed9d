"""Token-bucket rate limiter (rows per second) for scans."""

from __future__ import annotations

import threading
import time
from typing import Callable


class TokenBucket:
    """Allows ``rate`` units per second on average, bursts up to ``burst`` units.

    ``acquire(n)`` blocks until ``n`` units are available. Requests larger than the burst are
    admitted once the bucket is full and leave it in debt, so a big page is never refused, and the
    long-run rate still holds. ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not rate or rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate!r}")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else self.rate
        if self.burst <= 0:
            raise ValueError(f"burst must be > 0, got {burst!r}")
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._last = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._last = now

    def acquire(self, n: float = 1) -> float:
        """Take ``n`` units, sleeping as needed; returns the seconds slept.

        The units are reserved at once (the bucket may go negative) and the caller then sleeps
        until its share is due, so concurrent callers queue fairly and no busy loop can arise.
        """
        if n <= 0:
            return 0.0
        with self._lock:
            self._refill()
            need = min(n, self.burst)
            wait = max(0.0, (need - self._tokens) / self.rate)
            self._tokens -= n
        if wait > 0:
            self._sleep(wait)
        return wait
