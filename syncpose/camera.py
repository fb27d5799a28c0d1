"""Camera and rig model: pinhole with OpenCV's 5-coefficient radial/tangential distortion.

The one camera model of the project, in the core so that calibration, the simulated cameras of
capture and the simulator all share it. Pure numpy.

Conventions (OpenCV's): world points ``X`` (metres, Z up) map to camera coordinates
``x_cam = R @ X + t`` (x right, y down, z forward); ``rvec`` is the Rodrigues vector of ``R``.
Distortion ``dist = (k1, k2, p1, p2, k3)`` acts on normalised coordinates. Everything is
vectorised over any leading shape; shapes are given as ``(..., 3)`` etc.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from syncpose.arrays import BoolArray, FloatArray

_UNDISTORT_ITERATIONS = 30


def _skew(k: FloatArray) -> FloatArray:
    return np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])


def rodrigues_to_matrix(rvec: npt.ArrayLike) -> FloatArray:
    """(3,) Rodrigues vector (axis x angle) -> (3, 3) rotation matrix."""
    r = np.asarray(rvec, dtype=np.float64).reshape(3)
    theta = float(np.linalg.norm(r))
    if theta < 1e-12:
        return np.eye(3) + _skew(r)
    K = _skew(r / theta)
    return np.eye(3) + math.sin(theta) * K + (1.0 - math.cos(theta)) * (K @ K)


def matrix_to_rodrigues(R: npt.ArrayLike) -> FloatArray:
    """(3, 3) rotation matrix -> (3,) Rodrigues vector (angle in [0, pi])."""
    M = np.asarray(R, dtype=np.float64)
    vee = np.array([M[2, 1] - M[1, 2], M[0, 2] - M[2, 0], M[1, 0] - M[0, 1]])
    theta = math.acos(max(-1.0, min(1.0, (float(np.trace(M)) - 1.0) / 2.0)))
    if theta < 1e-6:
        return vee / 2.0
    if math.pi - theta < 1e-4:  # near a half turn: the axis from the symmetric part
        B = (M + np.eye(3)) / 2.0
        i = int(np.argmax(np.diag(B)))
        axis = B[:, i] / math.sqrt(max(B[i, i], 1e-300))
        if vee @ axis < 0:
            axis = -axis
        return np.asarray(axis / np.linalg.norm(axis) * theta, dtype=np.float64)
    return vee * (theta / (2.0 * math.sin(theta)))


def rigid_fit(src: npt.ArrayLike, dst: npt.ArrayLike) -> FloatArray:
    """The rotation and translation (4x4) that best map points ``src`` (N, 3) onto ``dst``
    (least squares, Kabsch; no scale)."""
    a = np.asarray(src, dtype=np.float64)
    b = np.asarray(dst, dtype=np.float64)
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    U, _, Vt = np.linalg.svd((a - ca).T @ (b - cb))
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(Vt.T @ U.T))])
    R = Vt.T @ D @ U.T
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = cb - R @ ca
    return T


@dataclass(frozen=True, eq=False)
class Camera:
    """One calibrated camera.

    ``size`` is (width, height) in pixels; ``K`` (3, 3); ``dist`` (5,) = k1, k2, p1, p2, k3;
    ``rvec`` (3,) and ``tvec`` (3,) map world to camera coordinates (metres).
    """

    name: str
    size: tuple[int, int]
    K: FloatArray
    dist: FloatArray = field(default_factory=lambda: np.zeros(5))
    rvec: FloatArray = field(default_factory=lambda: np.zeros(3))
    tvec: FloatArray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        for attr, shape in (("K", (3, 3)), ("rvec", (3,)), ("tvec", (3,))):
            value = np.asarray(getattr(self, attr), dtype=np.float64)
            if value.shape != shape:
                raise ValueError(
                    f"camera {self.name!r}: {attr} has shape {value.shape}, not {shape}"
                )
            object.__setattr__(self, attr, value)
        dist = np.asarray(self.dist, dtype=np.float64).reshape(-1)
        if dist.size > 5:
            raise ValueError(f"camera {self.name!r}: {dist.size} distortion coefficients (max 5)")
        object.__setattr__(self, "dist", np.pad(dist, (0, 5 - dist.size)))
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))

    # -- pose ------------------------------------------------------------------------------------

    # Derived matrices are computed once (a camera is immutable) and handed out read-only.

    @cached_property
    def R(self) -> FloatArray:  # noqa: N802 (the usual symbol)
        """(3, 3) world-to-camera rotation."""
        return _frozen(rodrigues_to_matrix(self.rvec))

    @cached_property
    def centre(self) -> FloatArray:
        """(3,) camera centre in world coordinates (metres)."""
        return _frozen(-self.R.T @ self.tvec)

    @cached_property
    def K_inv(self) -> FloatArray:  # noqa: N802 (the usual symbol)
        """(3, 3) inverse of ``K``."""
        return _frozen(np.linalg.inv(self.K))

    @property
    def P(self) -> FloatArray:  # noqa: N802 (the usual symbol)
        """(3, 4) projection matrix ``K [R | t]`` (distortion not included)."""
        return np.asarray(self.K @ np.hstack([self.R, self.tvec[:, None]]), dtype=np.float64)

    def with_pose(self, rvec: npt.ArrayLike, tvec: npt.ArrayLike) -> Camera:
        return Camera(self.name, self.size, self.K, self.dist, np.asarray(rvec), np.asarray(tvec))

    # -- projection ------------------------------------------------------------------------------

    @cached_property
    def _lens(self) -> _Lens:
        return _Lens.of([self], stacked=False)

    def to_camera(self, points: npt.ArrayLike) -> FloatArray:
        """World points (..., 3) -> camera coordinates (..., 3)."""
        return self._lens.to_camera(np.asarray(points, dtype=np.float64))

    def distort(self, xy: npt.ArrayLike) -> FloatArray:
        """Normalised undistorted (..., 2) -> normalised distorted (..., 2)."""
        return self._lens.distort(np.asarray(xy, dtype=np.float64))

    def project(self, points: npt.ArrayLike) -> FloatArray:
        """World points (..., 3) -> pixels (..., 2). NaN for points behind the camera, and for
        points so far off-axis that the radial distortion folds back (the distorted radius no
        longer grows with the angle): the lens model is invalid there, and a far-away point
        must not land inside the image."""
        return self._lens.project(np.asarray(points, dtype=np.float64))

    def undistort(self, pixels: npt.ArrayLike) -> FloatArray:
        """Pixels (..., 2) -> normalised undistorted coordinates (..., 2) (fixed-point inverse)."""
        return self._lens.undistort(np.asarray(pixels, dtype=np.float64))

    def in_image(self, uv: npt.ArrayLike) -> BoolArray:
        """Which pixels (..., 2) fall inside the image (NaN: no)."""
        p = np.asarray(uv, dtype=np.float64)
        u, v = p[..., 0], p[..., 1]
        w, h = self.size
        return np.asarray((u >= 0) & (u < w) & (v >= 0) & (v < h), dtype=np.bool_)

    def rays(self, pixels: npt.ArrayLike) -> FloatArray:
        """Pixels (..., 2) -> unit ray directions (..., 3) in world coordinates, from ``centre``."""
        return self._lens.rays(np.asarray(pixels, dtype=np.float64))

    # -- identity --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": list(self.size),
            "matrix": self.K.tolist(),
            "distortions": self.dist.tolist(),
            "rotation": self.rvec.tolist(),
            "translation": self.tvec.tolist(),
        }

    def same_as(self, other: Camera) -> bool:
        """Exact equality of every parameter."""
        return self.to_dict() == other.to_dict()


@dataclass(frozen=True, eq=False)
class Rig:
    """Named cameras sharing one world frame, plus free-form metadata."""

    cameras: tuple[Camera, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [c.name for c in self.cameras]
        if len(set(names)) != len(names):
            raise ValueError(f"camera names must be unique: {names}")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def camera(self, name: str) -> Camera:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(f"no camera {name!r} in the rig (have {self.names})")

    def subset(self, names: Sequence[str]) -> Rig:
        return Rig(tuple(self.camera(n) for n in names), dict(self.metadata))

    def matched_to(self, camera_ids: Sequence[str]) -> Rig:
        """This calibration's cameras renamed to ``camera_ids``, in that order.

        Names match exactly, else after normalising (case, separators and leading zeros of
        numbers ignored: ``cam_01`` is ``cam1`` is ``CAM-1``), else — with as many cameras as
        ids and no name in common — by order. Anything else is an error naming both lists.
        """
        names = self.names
        if list(camera_ids) == names:
            return self
        norm = {_normal_name(n): n for n in names}
        if len(norm) == len(names) and all(_normal_name(c) in norm for c in camera_ids):
            chosen = [self.camera(norm[_normal_name(c)]) for c in camera_ids]
        elif len(camera_ids) == len(names) and not set(map(_normal_name, camera_ids)) & set(norm):
            chosen = list(self.cameras)
        else:
            raise ValueError(
                f"cannot match rig cameras {list(camera_ids)} to calibrated cameras {names}"
            )
        renamed = [replace(cam, name=c) for c, cam in zip(camera_ids, chosen, strict=True)]
        return Rig(tuple(renamed), dict(self.metadata))

    def project(self, points: npt.ArrayLike) -> FloatArray:
        """World points (..., 3) -> pixels (V, ..., 2), one slice per camera."""
        p = np.asarray(points, dtype=np.float64)
        return self.project_each(np.broadcast_to(p, (len(self.cameras), *p.shape)))

    # Each camera its own points, all cameras in one pass (the few dozen points of a tick cost
    # numpy's per-call overhead, not arithmetic: one pass for the rig instead of one per view).

    @cached_property
    def _lenses(self) -> _Lens:
        return _Lens.of(self.cameras, stacked=True)

    def project_each(self, points: npt.ArrayLike) -> FloatArray:
        """Camera ``v``'s world points ``points[v]`` (V, ..., 3) -> its pixels (V, ..., 2), as
        :meth:`Camera.project` gives them."""
        p = np.asarray(points, dtype=np.float64)
        flat = p.reshape(len(self.cameras), -1, 3)
        return self._lenses.project(flat).reshape(*p.shape[:-1], 2)

    def rays_each(self, pixels: npt.ArrayLike) -> FloatArray:
        """Camera ``v``'s pixels ``pixels[v]`` (V, ..., 2) -> its unit world rays (V, ..., 3),
        as :meth:`Camera.rays` gives them."""
        p = np.asarray(pixels, dtype=np.float64)
        flat = p.reshape(len(self.cameras), -1, 2)
        return self._lenses.rays(flat).reshape(*p.shape[:-1], 3)

    def in_image_each(self, uv: npt.ArrayLike) -> BoolArray:
        """Which of camera ``v``'s pixels ``uv[v]`` (V, ..., 2) fall inside its image."""
        p = np.asarray(uv, dtype=np.float64)
        size = np.array([cam.size for cam in self.cameras], dtype=np.float64)
        size = size.reshape(len(self.cameras), *([1] * (p.ndim - 2)), 2)
        return np.asarray(((p >= 0) & (p < size)).all(-1), dtype=np.bool_)

    @property
    def id(self) -> str:
        """Stable id of the calibration: a hash of every camera parameter (metadata excluded)."""
        canonical = json.dumps([c.to_dict() for c in self.cameras], sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def same_as(self, other: Rig) -> bool:
        return len(self.cameras) == len(other.cameras) and all(
            a.same_as(b) for a, b in zip(self.cameras, other.cameras, strict=True)
        )


@dataclass(frozen=True)
class _Lens:
    """The projection of one camera, or of several stacked along a leading view axis (every
    matrix (V, n, n), every other parameter (V, 1, ...), against points (V, N, ...)): the one
    implementation of the model behind :class:`Camera` and :meth:`Rig.project_each`."""

    Rt: FloatArray  # R transposed (row vectors)
    t: FloatArray
    A: FloatArray  # K's 2x2 part, transposed
    c: FloatArray  # principal point
    A_inv: FloatArray
    c_inv: FloatArray
    k: tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]  # k1, k2, p1, p2, k3
    distorted: bool

    @classmethod
    def of(cls, cameras: Sequence[Camera], *, stacked: bool) -> _Lens:
        def stack(values: Sequence[FloatArray], *, matrix: bool = False) -> FloatArray:
            a = np.stack(values)  # matrices (V, n, n) for matmul, the rest (V, 1, ...)
            return a[0] if not stacked else a if matrix else a[:, None]

        R = [cam.R for cam in cameras]
        dist = stack([cam.dist for cam in cameras])
        return cls(
            Rt=stack([r.T for r in R], matrix=True),
            t=stack([cam.tvec for cam in cameras]),
            A=stack([cam.K[:2, :2].T for cam in cameras], matrix=True),
            c=stack([cam.K[:2, 2] for cam in cameras]),
            A_inv=stack([cam.K_inv[:2, :2].T for cam in cameras], matrix=True),
            c_inv=stack([cam.K_inv[:2, 2] for cam in cameras]),
            k=(dist[..., 0], dist[..., 1], dist[..., 2], dist[..., 3], dist[..., 4]),
            distorted=any(cam.dist.any() for cam in cameras),
        )

    def to_camera(self, points: FloatArray) -> FloatArray:
        return np.asarray(points @ self.Rt + self.t, dtype=np.float64)

    def distort(self, xy: FloatArray) -> FloatArray:
        k1, k2, p1, p2, k3 = self.k
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
        yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
        return np.stack([xd, yd], axis=-1)

    def project(self, points: FloatArray) -> FloatArray:
        cam = self.to_camera(points)
        z = cam[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = cam[..., :2] / z[..., None]
        uv = self.distort(xy) @ self.A + self.c
        k1, k2, _, _, k3 = self.k
        r2 = (xy**2).sum(axis=-1)
        growing = 1.0 + r2 * (3.0 * k1 + r2 * (5.0 * k2 + r2 * 7.0 * k3)) > 0.0
        return np.where(((z > 1e-9) & growing)[..., None], uv, np.nan)

    def undistort(self, pixels: FloatArray) -> FloatArray:
        xd = pixels @ self.A_inv + self.c_inv
        if not self.distorted:
            return np.asarray(xd, dtype=np.float64)
        k1, k2, p1, p2, k3 = self.k
        x0, y0 = xd[..., 0], xd[..., 1]
        x, y = x0.copy(), y0.copy()
        for _ in range(_UNDISTORT_ITERATIONS):
            r2 = x * x + y * y
            radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
            dx = 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
            dy = p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
            x_new, y_new = (x0 - dx) / radial, (y0 - dy) / radial
            with np.errstate(invalid="ignore"):
                change = np.nanmax(np.abs(x_new - x) + np.abs(y_new - y), initial=0.0)
            x, y = x_new, y_new
            if change < 1e-13:  # converged (typically after a handful of iterations)
                break
        return np.stack([x, y], axis=-1)

    def rays(self, pixels: FloatArray) -> FloatArray:
        xy = self.undistort(pixels)
        d_cam = np.concatenate([xy, np.ones((*xy.shape[:-1], 1))], axis=-1)
        d = d_cam @ np.swapaxes(self.Rt, -1, -2)  # R.T @ d for row vectors
        return np.asarray(d / np.linalg.norm(d, axis=-1, keepdims=True), dtype=np.float64)


def _frozen(a: npt.ArrayLike) -> FloatArray:
    out = np.array(a, dtype=np.float64)
    out.flags.writeable = False
    return out


def _normal_name(name: str) -> str:
    """``cam_01`` -> ``cam1``: lower case, no separators, no leading zeros in numbers."""
    cleaned = re.sub(r"[^a-z0-9]", "", name.lower())
    return re.sub(r"0+(\d)", r"\1", cleaned)


def look_at(
    position: npt.ArrayLike,
    target: npt.ArrayLike,
    focal_px: float,
    width: int,
    height: int,
    *,
    name: str = "cam",
    dist: npt.ArrayLike = (),
) -> Camera:
    """A camera at ``position`` aimed at ``target`` (world Z up, no roll), principal point at
    the image centre."""
    c = np.asarray(position, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - c
    norm = float(np.linalg.norm(forward))
    if norm < 1e-9:
        raise ValueError("camera position and look-at target coincide")
    forward /= norm
    right = np.cross(forward, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-6:  # looking straight up or down
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    K = np.array([[focal_px, 0.0, width / 2.0], [0.0, focal_px, height / 2.0], [0.0, 0.0, 1.0]])
    return Camera(name, (width, height), K, np.asarray(dist), matrix_to_rodrigues(R), -R @ c)


def ring_position(index: int, count: int, radius: float = 4.0) -> tuple[float, float, float]:
    """Default place of camera ``index`` of ``count``: evenly on a circle, heights 1.2-2.5 m."""
    angle = 2.0 * math.pi * index / max(count, 1) + math.pi / 4.0
    height = 1.2 + 1.3 * ((index * 0.618034) % 1.0)
    return (radius * math.cos(angle), radius * math.sin(angle), height)
