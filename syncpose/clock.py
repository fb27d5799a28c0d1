"""Clocks: monotonic nanoseconds, the midpoint-of-grab timestamp, and a fake clock for tests.

Every time in syncpose is an integer number of nanoseconds on one host's monotonic clock
(``CLOCK_MONOTONIC`` on Linux, shared by all processes of that host). A host's offset to the
aligner's clock is applied by the aligner, never by the capture side.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000


def monotonic_ns() -> int:
    """This host's monotonic clock in integer nanoseconds."""
    return time.monotonic_ns()


def ms_to_ns(ms: float) -> int:
    """Milliseconds (float) to integer nanoseconds, rounded to the nearest."""
    return round(ms * NS_PER_MS)


def period_ns(fps: float) -> int:
    """The frame period of ``fps`` in integer nanoseconds (rounded)."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return round(NS_PER_S / fps)


class Clock(Protocol):
    """What time-dependent code needs from a clock; real and fake clocks both provide it."""

    def now_ns(self) -> int:
        """Current time in nanoseconds."""
        ...

    def sleep_until_ns(self, t_ns: int) -> None:
        """Block until the clock reads at least ``t_ns`` (returns at once if already past)."""
        ...


class MonotonicClock:
    """The host's monotonic clock."""

    def now_ns(self) -> int:
        return time.monotonic_ns()

    def sleep_until_ns(self, t_ns: int) -> None:
        # time.sleep on Linux overshoots by ~60 µs; sleep short of the target, then finish
        # with a short spin so frame pacing stays within a few tens of microseconds.
        while True:
            remaining = t_ns - time.monotonic_ns()
            if remaining <= 0:
                return
            if remaining > 2 * NS_PER_MS:
                time.sleep((remaining - NS_PER_MS) / NS_PER_S)
            elif remaining > 200_000:
                time.sleep(remaining / NS_PER_S / 2)
            else:
                time.sleep(0)


class FakeClock:
    """A clock that only moves when told to (``advance``) or when someone sleeps on it.

    Thread-safe, so a test can drive a worker thread with it.
    """

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        with self._lock:
            return self._now

    def sleep_until_ns(self, t_ns: int) -> None:
        with self._lock:
            self._now = max(self._now, t_ns)

    def advance(self, dt_ns: int) -> int:
        """Move the clock forward by ``dt_ns`` (must be >= 0) and return the new time."""
        if dt_ns < 0:
            raise ValueError("a monotonic clock cannot go back")
        with self._lock:
            self._now += dt_ns
            return self._now


class ShiftedClock:
    """Another clock read ``offset_ns`` ahead: stands in for a second host's clock in tests."""

    def __init__(self, base: Clock, offset_ns: int) -> None:
        self.base = base
        self.offset_ns = offset_ns

    def now_ns(self) -> int:
        return self.base.now_ns() + self.offset_ns

    def sleep_until_ns(self, t_ns: int) -> None:
        self.base.sleep_until_ns(t_ns - self.offset_ns)


def timed_grab(clock: Clock, grab: Callable[[], T]) -> tuple[T, int]:
    """Call ``grab()`` and return its result with the midpoint-of-grab timestamp.

    The frame arrived somewhere inside the call; the midpoint of the call is the unbiased
    estimate of that instant when nothing better (a device timestamp) is known.
    """
    t0 = clock.now_ns()
    result = grab()
    t1 = clock.now_ns()
    return result, t0 + (t1 - t0) // 2
