"""A minimal pinhole camera for simulation (no distortion), pure numpy.

The full camera model with distortion lives in ``calibration``; capture may not import it, so the
synthetic source uses this one. World frame: Z up, metres. Camera frame: x right, y down, z forward
(OpenCV convention), ``x_cam = R @ x_world + t``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PinholeCamera:
    """``K`` (3, 3), ``R`` (3, 3), ``t`` (3,), image ``width`` x ``height``."""

    K: FloatArray
    R: FloatArray
    t: FloatArray
    width: int
    height: int

    @property
    def centre(self) -> FloatArray:
        """Camera centre in world coordinates (3,)."""
        return np.asarray(-self.R.T @ self.t, dtype=np.float64)

    def project(self, points: npt.ArrayLike) -> FloatArray:
        """World points (..., 3) -> pixels (..., 2); points behind the camera give NaN."""
        p = np.asarray(points, dtype=np.float64)
        cam = p @ self.R.T + self.t
        z = cam[..., 2:3]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = (cam[..., :2] / z) @ self.K[:2, :2].T + self.K[:2, 2]
        return np.where(z > 1e-6, uv, np.nan)

    def in_image(self, uv: FloatArray) -> npt.NDArray[np.bool_]:
        """Which pixels (..., 2) fall inside the image."""
        u, v = uv[..., 0], uv[..., 1]
        return (u >= 0) & (u < self.width) & (v >= 0) & (v < self.height)


def look_at(
    position: npt.ArrayLike,
    target: npt.ArrayLike,
    focal_px: float,
    width: int,
    height: int,
) -> PinholeCamera:
    """A camera at ``position`` aimed at ``target`` (world Z up, no roll)."""
    c = np.asarray(position, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - c
    norm = np.linalg.norm(forward)
    if norm < 1e-9:
        raise ValueError("camera position and look-at target coincide")
    forward /= norm
    up = np.array([0.0, 0.0, 1.0])
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-6:  # looking straight up or down
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    K = np.array([[focal_px, 0.0, width / 2.0], [0.0, focal_px, height / 2.0], [0.0, 0.0, 1.0]])
    return PinholeCamera(K=K, R=R, t=-R @ c, width=width, height=height)


def ring_position(index: int, count: int, radius: float = 4.0) -> tuple[float, float, float]:
    """Default place of camera ``index`` of ``count``: evenly on a circle, heights 1.2-2.5 m."""
    angle = 2.0 * math.pi * index / max(count, 1) + math.pi / 4.0
    height = 1.2 + 1.3 * ((index * 0.618034) % 1.0)
    return (radius * math.cos(angle), radius * math.sin(angle), height)
