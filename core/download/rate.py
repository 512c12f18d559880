"""`--max-rate`: one token bucket shared by a batch's download threads, so the batch as a whole reads at most that
many bytes a second.

A download thread asks for leave before each read (`grant`) and reads at most what it was granted, then gives
back what the read did not use (`refund`). Grants are at most a twentieth of a second's worth of bytes, so the
bucket never holds more than that burst and a waiting thread looks at its cancel flag often.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MIN_GRANT = 1024  # bytes: below this a read costs more than it carries
SLICE = 0.05  # seconds' worth of bytes in one grant (and in the bucket when full)
_POLL = 0.05  # seconds a waiting thread sleeps at most before it looks at its cancel flag again


class RateLimiter:
    """A token bucket refilled at `rate` bytes a second, holding at most one grant's worth. Thread-safe."""

    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("a rate limit needs a positive rate")
        self.rate = rate
        self.grant_size = max(MIN_GRANT, int(rate * SLICE))
        self._clock = clock
        self._cond = threading.Condition()
        self._tokens = float(self.grant_size)
        self._stamp = clock()

    def grant(self, wanted: int, should_stop: Callable[[], bool]) -> int:
        """Wait until bytes may be read; return how many (1 to `wanted`). Returns 0 at once when `should_stop`
        says so (the caller then stops reading)."""
        want = max(1, min(wanted, self.grant_size))
        with self._cond:
            while True:
                if should_stop():
                    return 0
                self._refill()
                if self._tokens >= want:
                    self._tokens -= want
                    return want
                self._cond.wait(min(_POLL, (want - self._tokens) / self.rate))

    def refund(self, unused: int) -> None:
        """Give back granted bytes a read did not use."""
        if unused <= 0:
            return
        with self._cond:
            self._refill()
            self._tokens = min(float(self.grant_size), self._tokens + unused)
            self._cond.notify()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.grant_size), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
