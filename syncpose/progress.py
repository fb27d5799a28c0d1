"""A one-line progress display on stderr (long offline jobs: training, reconstruction)."""

from __future__ import annotations

import sys
import time


class ProgressLine:
    """``update(done)`` rewrites one stderr line with count, rate and time left; quiet when
    stderr is not a terminal or when not ``enabled``."""

    def __init__(self, label: str, total: int | None, unit: str = "", enabled: bool = True) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.enabled = enabled and sys.stderr.isatty()
        self._t0 = time.monotonic()
        self._last = 0.0

    def write(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write("\r" + text.ljust(110))
            sys.stderr.flush()

    def update(self, done: int, extra: str = "") -> None:
        now = time.monotonic()
        if now - self._last < 0.2 and (self.total is None or done < self.total):
            return
        self._last = now
        elapsed = max(now - self._t0, 1e-9)
        rate = done / elapsed
        text = f"{self.label}: {done}"
        if self.total:
            left = (self.total - done) / rate if rate > 0 else float("nan")
            text += f"/{self.total} ({100.0 * done / self.total:.0f} %, {left:.0f} s left)"
        text += f" {rate:.1f} {self.unit}/s" + (f" {extra}" if extra else "")
        self.write(text)

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
