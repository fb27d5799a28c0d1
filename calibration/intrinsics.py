"""Intrinsic calibration of one camera from board views: frame selection, coverage, calibration.

Frames are judged before they are used: too few corners, blurred, or a near-duplicate of a view
already chosen are rejected *with a reason*. From the rest, frames are chosen greedily for what
they add: image cells not yet covered, and board tilts not yet seen. After calibration, frames
that reproject far worse than the others are dropped (with their error) and the camera is
solved again.

**Model choice.** A recording where the board never reaches the image corners cannot pin down
five distortion coefficients: the full model then fits noise (k3 of -26 on a webcam). The lens
model is therefore chosen by 2-fold held-out error (fit on half the views, reproject the other
half after solving only their board poses) among: square pixels with k1, k2; k1, k2, p1, p2;
and the full model. The simplest model within 5 % of the best held-out error wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from syncpose.arrays import FloatArray, ImageArray, IntArray
from syncpose.calibration.boards import BoardDetector, Detection
from syncpose.camera import Camera

COVERAGE_GRID = (3, 3)  # rows, columns of the coverage map used for feedback


class CalibrationError(ValueError):
    """Calibration cannot go on; the message names the camera and says what to do."""


@dataclass(frozen=True)
class BoardView:
    """One frame's board detection with how sharp the board looked."""

    frame: int
    detection: Detection
    sharpness: float


def observe(detector: BoardDetector, image: ImageArray, frame: int) -> BoardView:
    """Detect the board and measure its sharpness (variance of the Laplacian around it)."""
    det = detector.detect(image)
    sharpness = 0.0
    if det.count:
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        x0, y0 = np.floor(det.corners.min(axis=0)).astype(int)
        x1, y1 = np.ceil(det.corners.max(axis=0)).astype(int)
        roi = gray[max(y0, 0) : max(y1, y0 + 2), max(x0, 0) : max(x1, x0 + 2)]
        if roi.size:
            sharpness = float(cv2.Laplacian(roi, cv2.CV_64F).var())
    return BoardView(frame, det, sharpness)


def coverage_map(
    views: Sequence[BoardView], size: tuple[int, int], grid: tuple[int, int] = COVERAGE_GRID
) -> IntArray:
    """(rows, cols) count of detected corners in each cell of the image."""
    counts = np.zeros(grid, dtype=np.int64)
    for v in views:
        if v.detection.count:
            np.add.at(counts, _cells(v.detection.corners, size, grid), 1)
    return counts


def _cells(
    corners: FloatArray, size: tuple[int, int], grid: tuple[int, int]
) -> tuple[IntArray, IntArray]:
    """(row, column) of the grid cell of each corner (N, 2) in an image of ``size``."""
    w, h = size
    c = np.clip((corners[:, 0] / w * grid[1]).astype(np.int64), 0, grid[1] - 1)
    r = np.clip((corners[:, 1] / h * grid[0]).astype(np.int64), 0, grid[0] - 1)
    return r, c


def coverage_feedback(camera: str, counts: IntArray) -> list[str]:
    """What the user should still do, in words ("camera 3 has seen the board in the left third
    of the image only"). Empty when every cell has corners."""
    rows, cols = counts.shape
    if counts.sum() == 0:
        return [f"camera {camera} has not seen the board yet"]
    if (counts > 0).all():
        return []
    names_c = ["left", "middle", "right"] if cols == 3 else [f"column {i + 1}" for i in range(cols)]
    names_r = ["top", "middle", "bottom"] if rows == 3 else [f"row {i + 1}" for i in range(rows)]
    seen_c = [names_c[i] for i in range(cols) if counts[:, i].any()]
    seen_r = [names_r[i] for i in range(rows) if counts[i, :].any()]
    out = []
    if len(seen_c) < cols:
        where = " and ".join(seen_c)
        out.append(
            f"camera {camera} has seen the board in the {where} third"
            f"{'s' if len(seen_c) > 1 else ''} of the image only: move it to the "
            f"{' and '.join(n for n in names_c if n not in seen_c)}"
        )
    if len(seen_r) < rows:
        out.append(
            f"camera {camera} has not seen the board in the "
            f"{' and '.join(n for n in names_r if n not in seen_r)} of the image"
        )
    if not out:
        empty = [
            f"{names_r[r]}-{names_c[c]}"
            for r in range(rows)
            for c in range(cols)
            if not counts[r, c]
        ]
        out.append(f"camera {camera}: no corners yet in the {', '.join(empty)} of the image")
    return out


def _tilt(view: BoardView, obj: FloatArray) -> FloatArray:
    """A cheap description of the board's tilt: the homography's perspective row."""
    H, _ = cv2.findHomography(obj[:, :2], view.detection.corners)
    if H is None:
        return np.zeros(2)
    return np.asarray(H[2, :2] / H[2, 2], dtype=np.float64)


def select_views(
    views: Sequence[BoardView],
    detector: BoardDetector,
    size: tuple[int, int],
    *,
    max_views: int = 40,
    min_corners: int = 6,
    blur_fraction: float = 0.25,
) -> tuple[list[BoardView], dict[int, str]]:
    """Choose diverse, sharp views; returns (chosen, {frame: reason for every other frame})."""
    rejected: dict[int, str] = {}
    usable = []
    for v in views:
        if v.detection.count < min_corners:
            rejected[v.frame] = (
                "board not found"
                if v.detection.count == 0
                else f"only {v.detection.count} corners (need {min_corners})"
            )
        else:
            usable.append(v)
    if usable:
        median_sharp = float(np.median([v.sharpness for v in usable]))
        sharp = []
        for v in usable:
            if v.sharpness < blur_fraction * median_sharp:
                rejected[v.frame] = (
                    f"blurred (sharpness {v.sharpness:.0f}, median {median_sharp:.0f})"
                )
            else:
                sharp.append(v)
        usable = sharp
    grid = (6, 8)
    w, h = size
    cells: dict[int, set[tuple[int, int]]] = {}
    tilts: dict[int, FloatArray] = {}
    for v in usable:
        r, c = _cells(v.detection.corners, size, grid)
        cells[v.frame] = set(zip(r.tolist(), c.tolist(), strict=True))
        tilts[v.frame] = _tilt(v, detector.object_points(v.detection)) * max(w, h)
    chosen: list[BoardView] = []
    covered: set[tuple[int, int]] = set()
    remaining = list(usable)
    while remaining and len(chosen) < max_views:

        def gain(v: BoardView, covered: set[tuple[int, int]] = covered) -> float:
            new_cells = len(cells[v.frame] - covered)
            if chosen:
                tilt_gap = min(
                    float(np.linalg.norm(tilts[v.frame] - tilts[c.frame])) for c in chosen
                )
            else:
                tilt_gap = 1.0
            return new_cells + 2.0 * min(tilt_gap, 1.0) + v.detection.count / 100.0

        best = max(remaining, key=gain)
        remaining.remove(best)
        duplicate = next(
            (
                c.frame
                for c in chosen
                if c.detection.count == best.detection.count
                and np.abs(c.detection.corners - best.detection.corners).max() < 3.0
            ),
            None,
        )
        if duplicate is not None:
            rejected[best.frame] = f"near-duplicate of frame {duplicate}"
            continue
        chosen.append(best)
        covered |= cells[best.frame]
    for v in remaining:
        rejected.setdefault(v.frame, f"not needed: {max_views} more diverse views were chosen")
    chosen.sort(key=lambda v: v.frame)
    return chosen, rejected


#: Lens models, simplest first: (name, OpenCV flags).
LENS_MODELS: tuple[tuple[str, int], ...] = (
    (
        "k1,k2 square pixels",
        cv2.CALIB_FIX_ASPECT_RATIO | cv2.CALIB_ZERO_TANGENT_DIST | cv2.CALIB_FIX_K3,
    ),
    ("k1,k2,p1,p2", cv2.CALIB_FIX_K3),
    ("k1,k2,p1,p2,k3", 0),
)


@dataclass
class IntrinsicsResult:
    """The calibrated camera (pose zero) and how good it is."""

    camera: Camera
    rms_px: float
    per_view_error_px: dict[int, float]
    rejected: dict[int, str]
    coverage: IntArray
    feedback: list[str] = field(default_factory=list)
    lens_model: str = ""
    held_out_error_px: dict[str, float] = field(default_factory=dict)


def calibrate_intrinsics(
    name: str,
    views: Sequence[BoardView],
    detector: BoardDetector,
    size: tuple[int, int],
    *,
    max_views: int = 40,
    min_views: int = 4,
    outlier_factor: float = 3.0,
) -> IntrinsicsResult:
    """Calibrate one camera from its board views (see the module docstring)."""
    chosen, rejected = select_views(views, detector, size, max_views=max_views)
    if len(chosen) < min_views:
        seen = sum(1 for v in views if v.detection.count)
        raise CalibrationError(
            f"camera {name}: only {len(chosen)} usable board views out of {len(views)} frames "
            f"(board seen in {seen}); need {min_views}. Show the board closer, sharper and in "
            "more places of the image, or check the board definition matches the print."
        )
    flags, held_out = _choose_model(name, chosen, detector, size)
    model = next(n for n, f in LENS_MODELS if f == flags)
    for _ in range(2):
        camera, rms, errors = _solve(name, chosen, detector, size, flags)
        median = float(np.median(list(errors.values())))
        bad = [v for v in chosen if errors[v.frame] > outlier_factor * max(median, 0.3)]
        if not bad or len(chosen) - len(bad) < min_views:
            break
        for v in bad:
            rejected[v.frame] = (
                f"reprojection error {errors[v.frame]:.2f} px, over {outlier_factor:g}x the median"
            )
        chosen = [v for v in chosen if v not in bad]
    counts = coverage_map(chosen, size)
    feedback = coverage_feedback(name, counts)
    return IntrinsicsResult(camera, rms, errors, rejected, counts, feedback, model, held_out)


def _choose_model(
    name: str, views: Sequence[BoardView], detector: BoardDetector, size: tuple[int, int]
) -> tuple[int, dict[str, float]]:
    """The lens model with the best 2-fold held-out error (simplest within 5 %)."""
    if len(views) < 8:
        return LENS_MODELS[0][1], {}
    folds = [list(views[0::2]), list(views[1::2])]
    scores: dict[str, float] = {}
    for model, flags in LENS_MODELS:
        errs = []
        for k in range(2):
            camera, _, _ = _solve(name, folds[k], detector, size, flags)
            errs += [_pnp_error(camera, v, detector) for v in folds[1 - k]]
        scores[model] = float(np.mean(errs))
    best = min(scores.values())
    chosen = next(m for m, _ in LENS_MODELS if scores[m] <= 1.05 * best)
    return dict(LENS_MODELS)[chosen], {m: round(e, 4) for m, e in scores.items()}


def _pnp_error(camera: Camera, view: BoardView, detector: BoardDetector) -> float:
    obj = detector.object_points(view.detection)
    ok, rvec, tvec = cv2.solvePnP(obj, view.detection.corners, camera.K, camera.dist)
    if not ok:
        return float("inf")
    proj = camera.with_pose(rvec.reshape(3), tvec.reshape(3)).project(obj)
    return float(np.sqrt(np.mean(np.sum((proj - view.detection.corners) ** 2, axis=1))))


def _solve(
    name: str,
    views: Sequence[BoardView],
    detector: BoardDetector,
    size: tuple[int, int],
    flags: int = 0,
) -> tuple[Camera, float, dict[int, float]]:
    obj = [detector.object_points(v.detection).astype(np.float32) for v in views]
    img = [v.detection.corners.astype(np.float32) for v in views]
    K0 = np.eye(3)  # only its fx/fy ratio (1) matters, for CALIB_FIX_ASPECT_RATIO
    rms, K, dist, rvecs, tvecs = cv2.calibrateCamera(obj, img, size, K0, None, flags=flags)
    camera = Camera(
        name, size, np.asarray(K, np.float64), np.asarray(dist, np.float64).reshape(-1)[:5]
    )
    errors = {}
    for v, o, i, rv, tv in zip(views, obj, img, rvecs, tvecs, strict=True):
        proj = camera.with_pose(np.asarray(rv).reshape(3), np.asarray(tv).reshape(3)).project(o)
        errors[v.frame] = float(np.sqrt(np.mean(np.sum((proj - i) ** 2, axis=1))))
    return camera, float(rms), errors
