"""Causal temporal filters for pose streams.

:class:`OneEuro` is the 1€ filter of Casiez, Roussel and Vogel (CHI 2012): a first-order
low-pass whose cut-off rises with the signal's speed, so a still joint is smoothed hard and a
moving one follows with little lag. ``min_cutoff_hz`` sets the smoothing at rest, ``beta`` how
fast the cut-off opens with speed (per m/s here), ``d_cutoff_hz`` the low-pass on the speed
itself. Vectorised over any array shape; a NaN element (a joint not estimated) passes through as
NaN and restarts that element's filter, so a joint that comes back does not drag its old value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from syncpose.arrays import FloatArray


def _alpha(cutoff_hz: FloatArray | float, dt: float) -> FloatArray:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return np.asarray(1.0 / (1.0 + tau / dt), dtype=np.float64)


@dataclass
class OneEuroConfig:
    min_cutoff_hz: float = 2.0
    beta: float = 10.0
    d_cutoff_hz: float = 1.0

    def __post_init__(self) -> None:
        if self.min_cutoff_hz <= 0 or self.d_cutoff_hz <= 0 or self.beta < 0:
            raise ValueError("one-euro: cut-offs must be > 0 and beta >= 0")


class OneEuro:
    """Filter values of a fixed shape arriving at increasing times (seconds)."""

    def __init__(self, config: OneEuroConfig | None = None) -> None:
        self.config = config or OneEuroConfig()
        self._x: FloatArray | None = None
        self._dx: FloatArray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    def __call__(self, x: npt.ArrayLike, t: float) -> FloatArray:
        value = np.asarray(x, dtype=np.float64)
        if self._x is None or self._dx is None or self._t is None:
            return self._restart(value, t)
        if value.shape != self._x.shape:
            raise ValueError(f"one-euro: shape {value.shape} after {self._x.shape}")
        dt = t - self._t
        if dt <= 0:
            raise ValueError(f"one-euro: time went from {self._t} to {t}; must increase")
        cfg = self.config
        fresh = ~np.isfinite(self._x)  # restart where the previous value was missing
        dx = np.where(fresh, 0.0, (value - self._x) / dt)
        a_d = _alpha(cfg.d_cutoff_hz, dt)
        dx_hat = np.where(fresh, 0.0, self._dx + a_d * (dx - self._dx))
        a = _alpha(cfg.min_cutoff_hz + cfg.beta * np.abs(dx_hat), dt)
        out = np.where(fresh, value, self._x + a * (value - self._x))
        self._x = out
        self._dx = np.where(np.isfinite(dx_hat), dx_hat, 0.0)
        self._t = t
        return out

    def _restart(self, value: FloatArray, t: float) -> FloatArray:
        self._x = value.copy()
        self._dx = np.zeros_like(value)
        self._t = t
        return value.copy()
