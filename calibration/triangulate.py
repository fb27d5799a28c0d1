"""Triangulation used by everything downstream: confidence-weighted DLT with view rejection.

Vectorised over any number of points (joints x frames, board corners, ...). Observations are
undistorted to normalised coordinates first, so the linear system is well conditioned and
distortion is handled exactly. While a point's worst view reprojects worse than
``max_error_px`` and more than ``min_views`` views remain, that view is dropped and the point is
solved again — what Pose2Sim and FreeMoCap do, done for all points at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from syncpose.arrays import BoolArray, FloatArray, IntArray
from syncpose.camera import Camera, Rig


@dataclass(frozen=True)
class Triangulation:
    """Result of :func:`triangulate` for points of shape ``S`` seen by ``V`` cameras.

    ``points`` (*S, 3) metres, NaN where fewer than ``min_views`` views were usable;
    ``reprojection_error`` (*S,) mean pixel error over the views used (NaN likewise);
    ``errors`` (V, *S) per-view pixel error (NaN for views not used); ``views_used`` (V, *S).
    """

    points: FloatArray
    reprojection_error: FloatArray
    errors: FloatArray
    views_used: BoolArray

    @property
    def n_views(self) -> IntArray:
        """(*S,) number of views used."""
        return np.asarray(self.views_used.sum(axis=0), dtype=np.int64)


def _solve(A: FloatArray) -> FloatArray:
    """Least-squares null vectors of (N, 2V, 4) systems -> (N, 3) points (NaN if degenerate)."""
    _, _, vh = np.linalg.svd(A)
    X = vh[:, -1, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        pts = X[:, :3] / X[:, 3:4]
    return np.where(np.abs(X[:, 3:4]) > 1e-12, pts, np.nan)


def triangulate(
    cameras: Rig | Sequence[Camera],
    points_2d: npt.ArrayLike,
    confidence: npt.ArrayLike | None = None,
    *,
    max_error_px: float | npt.ArrayLike = np.inf,
    min_views: int = 2,
) -> Triangulation:
    """Triangulate ``points_2d`` (V, *S, 2) pixels (NaN = not seen) from ``V`` cameras.

    ``confidence`` (V, *S) weights each observation (0 or NaN = not used; default 1).
    ``max_error_px``: the view rejection threshold, one for all views or one per view (V,).
    """
    cams = list(cameras.cameras if isinstance(cameras, Rig) else cameras)
    obs = np.asarray(points_2d, dtype=np.float64)
    V = len(cams)
    if obs.shape[0] != V or obs.shape[-1] != 2:
        raise ValueError(f"points_2d has shape {obs.shape}; expected ({V}, ..., 2)")
    if min_views < 2:
        raise ValueError("min_views must be at least 2")
    shape = obs.shape[1:-1]
    obs = obs.reshape(V, -1, 2)
    N = obs.shape[1]
    if confidence is None:
        w = np.ones((V, N))
    else:
        w = np.asarray(confidence, dtype=np.float64).reshape(V, -1)
        if w.shape != (V, N):
            raise ValueError(f"confidence must have shape {(V, *shape)}")
    w = np.where(np.isfinite(w) & np.isfinite(obs).all(axis=-1), np.maximum(w, 0.0), 0.0)
    used = w > 0

    # Normalised coordinates and [R | t] per view.
    xy = np.stack([cam.undistort(obs[v]) for v, cam in enumerate(cams)])  # (V, N, 2)
    Rt = np.stack([np.hstack([cam.R, cam.tvec[:, None]]) for cam in cams])  # (V, 3, 4)

    limit = np.broadcast_to(np.asarray(max_error_px, dtype=np.float64), (V,))
    points = np.full((N, 3), np.nan)
    todo = np.flatnonzero(used.sum(axis=0) >= min_views)
    errors = np.full((V, N), np.nan)
    for _ in range(V - min_views + 1):
        if todo.size == 0:
            break
        points[todo] = _solve(_dlt_rows(xy[:, todo], Rt, np.where(used[:, todo], w[:, todo], 0.0)))
        errors[:, todo] = _pixel_errors(cams, obs[:, todo], points[todo], used[:, todo])
        if not np.isfinite(limit).any():
            break
        # A view where the solution is behind the camera has no pixel error (NaN): the worst.
        err_todo = np.where(used[:, todo], np.nan_to_num(errors[:, todo], nan=np.inf), -1.0)
        worst = np.argmax(err_todo, axis=0)
        worst_err = err_todo[worst, np.arange(todo.size)]
        redo = (worst_err > limit[worst]) & (used[:, todo].sum(axis=0) > min_views)
        if not redo.any():
            break
        used[worst[redo], todo[redo]] = False
        errors[worst[redo], todo[redo]] = np.nan
        todo = todo[redo]

    enough = used.sum(axis=0) >= min_views
    points[~enough] = np.nan
    errors = np.where(used & enough[None], errors, np.nan)
    count = used.sum(axis=0)
    total = np.where(used, errors, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_err = np.where(enough, total / count, np.nan)
    return Triangulation(
        points=points.reshape(*shape, 3),
        reprojection_error=mean_err.reshape(shape),
        errors=errors.reshape(V, *shape),
        views_used=(used & enough[None]).reshape(V, *shape),
    )


def _dlt_rows(xy: FloatArray, Rt: FloatArray, w: FloatArray) -> FloatArray:
    """The weighted DLT system (N, 2V, 4) for normalised observations ``xy`` (V, N, 2)."""
    x = xy[..., 0:1]  # (V, N, 1)
    y = xy[..., 1:2]
    r1, r2, r3 = Rt[:, None, 0, :], Rt[:, None, 1, :], Rt[:, None, 2, :]  # (V, 1, 4)
    rows_x = (x * r3 - r1) * w[..., None]
    rows_y = (y * r3 - r2) * w[..., None]
    rows = np.concatenate([rows_x, rows_y], axis=0)  # (2V, N, 4)
    rows = np.nan_to_num(rows, nan=0.0)
    return np.asarray(np.transpose(rows, (1, 0, 2)), dtype=np.float64)


def _pixel_errors(
    cams: Sequence[Camera], obs: FloatArray, points: FloatArray, used: BoolArray
) -> FloatArray:
    """(V, N) pixel distance between each used observation and the reprojected point."""
    proj = np.stack([cam.project(points) for cam in cams])  # (V, N, 2)
    err = np.linalg.norm(proj - obs, axis=-1)
    return np.where(used, err, np.nan)
