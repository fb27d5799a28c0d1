"""Calibrate a rig from one video per camera: detect, intrinsics, extrinsics, check, report.

Frames with the same index in every video are taken to be the same moment (a recording made by
one tool, like Caliscope's). The report says how good the result is in the user's terms: pixel
errors per camera, and how far apart neighbouring board corners come out in 3D against the
printed square size.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from syncpose.arrays import FloatArray
from syncpose.calibration.boards import BoardDetector, BoardSpec, Detection
from syncpose.calibration.intrinsics import BoardView, CalibrationError, observe
from syncpose.calibration.triangulate import Triangulation, triangulate
from syncpose.calibration.wizard import CalibrationWizard
from syncpose.camera import Rig, rigid_fit

logger = logging.getLogger(__name__)


@dataclass
class CalibrationReport:
    """Everything ``syncpose calibrate`` reports besides the rig itself."""

    board: str
    seconds: dict[str, float] = field(default_factory=dict)
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)
    board_check: dict[str, float] = field(default_factory=dict)
    comparison: dict[str, Any] = field(default_factory=dict)
    feedback: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "board": self.board,
            "seconds": self.seconds,
            "cameras": self.cameras,
            "board_check": self.board_check,
            "comparison": self.comparison,
            "feedback": self.feedback,
        }


def _open_video(path: Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise CalibrationError(f"{path}: cannot open the video (missing file or unknown format)")
    return cap


def read_views(
    path: Path, detector: BoardDetector, max_frames: int | None = None
) -> tuple[list[BoardView], tuple[int, int]]:
    """Board views of every frame of a video, and the image size (width, height)."""
    cap = _open_video(path)
    views: list[BoardView] = []
    size = (0, 0)
    try:
        while max_frames is None or len(views) < max_frames:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            size = (frame.shape[1], frame.shape[0])
            views.append(observe(detector, np.asarray(frame, dtype=np.uint8), len(views)))
    finally:
        cap.release()
    if not views:
        raise CalibrationError(f"{path}: no frames could be read")
    return views, size


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def read_image_views(
    folder: Path, detector: BoardDetector
) -> tuple[list[BoardView], tuple[int, int]]:
    """Board views of every image in ``folder`` (sorted by name), and their common size."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CalibrationError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    views: list[BoardView] = []
    size: tuple[int, int] | None = None
    for k, path in enumerate(files):
        image = cv2.imread(str(path))
        if image is None:
            raise CalibrationError(f"{path}: not a readable image")
        this = (image.shape[1], image.shape[0])
        if size is not None and this != size:
            raise CalibrationError(
                f"{path}: {this[0]}x{this[1]}, but the first image is {size[0]}x{size[1]}"
            )
        size = this
        views.append(observe(detector, np.asarray(image, dtype=np.uint8), k))
    assert size is not None
    return views, size


def detect_videos(
    videos: Mapping[str, Path], spec: BoardSpec, max_frames: int | None = None
) -> tuple[dict[str, list[BoardView]], dict[str, tuple[int, int]]]:
    """Board views of every frame of every video, and each camera's image size."""
    for path in videos.values():  # fail on a missing or unreadable file before any long work
        _open_video(Path(path)).release()
    detector = BoardDetector(spec)
    views: dict[str, list[BoardView]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for name, path in videos.items():
        views[name], sizes[name] = read_views(Path(path), detector, max_frames)
        seen = sum(1 for v in views[name] if v.detection.count)
        logger.info("%s: board found in %d of %d frames", name, seen, len(views[name]))
        if seen == 0:
            raise CalibrationError(
                f"camera {name}: the board was not found in any of the {len(views[name])} frames "
                f"of {path}. Check that the board definition ({spec.describe()}) matches the "
                "printed board (squares, dictionary, colour inversion) and that it is in view."
            )
    return views, sizes


def calibrate_videos(
    videos: Mapping[str, Path],
    spec: BoardSpec,
    *,
    floor_frame: int | None = None,
    max_frames: int | None = None,
) -> tuple[Rig, CalibrationReport]:
    """Calibrate the cameras named in ``videos`` (name -> video file)."""
    t0 = time.perf_counter()
    views, sizes = detect_videos(videos, spec, max_frames)
    detection_s = time.perf_counter() - t0
    rig, report = calibrate_views(views, sizes, spec, floor_frame=floor_frame)
    report.seconds = {"detection": round(detection_s, 3), **report.seconds}
    return rig, report


def calibrate_views(
    views: Mapping[str, list[BoardView]],
    sizes: Mapping[str, tuple[int, int]],
    spec: BoardSpec,
    *,
    floor_frame: int | None = None,
) -> tuple[Rig, CalibrationReport]:
    """Calibrate from board views already detected (frame index = moment), through the wizard."""
    report = CalibrationReport(board=spec.describe())
    t1 = time.perf_counter()
    wizard = CalibrationWizard(sizes)
    wizard.choose_board(spec)
    for name, vs in views.items():
        for v in vs:
            wizard.add_view(name, v)
    intrinsics = wizard.finish_intrinsics()
    if wizard.errors:
        raise CalibrationError("; ".join(wizard.errors.values()))
    for name, res in intrinsics.items():
        report.feedback += res.feedback
        reasons: dict[str, int] = {}
        for why in res.rejected.values():
            key = why.split(" (")[0].split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
        report.cameras[name] = {
            "intrinsic_rms_px": round(res.rms_px, 4),
            "lens_model": res.lens_model,
            "held_out_error_px": res.held_out_error_px,
            "views_used": len(res.per_view_error_px),
            "frames_rejected": reasons,
            "coverage": res.coverage.tolist(),
        }
    t2 = time.perf_counter()
    n_frames = max(len(vs) for vs in views.values())
    for k in range(n_frames):  # the same frame index is the same moment in every video
        wizard.add_frame(k, {n: vs[k].detection for n, vs in views.items() if k < len(vs)})
    wizard.solve()
    wizard.accept()
    wizard.set_floor(floor_frame)
    wizard.result()
    ext = wizard.extrinsics
    assert ext is not None  # the wizard reached DONE
    t3 = time.perf_counter()
    detections = {n: {v.frame: v.detection for v in vs} for n, vs in views.items()}
    rig = ext.rig
    for cam in rig.cameras:
        report.cameras[cam.name].update(
            {
                "rms_px": round(ext.rms_px[cam.name], 4),
                "observations": ext.observations[cam.name],
                "focal_px": round(float(cam.K[0, 0]), 2),
                "principal_point_px": [round(float(v), 2) for v in cam.K[:2, 2]],
                "distortion": [round(float(v), 5) for v in cam.dist],
                "centre_m": [round(float(v), 4) for v in cam.centre],
            }
        )
    report.board_check = board_check(rig, detections, spec)
    t4 = time.perf_counter()
    report.seconds = {
        "intrinsics": round(t2 - t1, 3),
        "extrinsics": round(t3 - t2, 3),
        "check": round(t4 - t3, 3),
    }
    rig.metadata.update(
        {"board": spec.describe(), "world_frame": rig.metadata.get("world_frame", "")}
    )
    return rig, report


def corner_array(
    detections: Mapping[Any, Detection], frames: Sequence[Any], n_corners: int
) -> FloatArray:
    """(len(frames), n_corners, 2) pixels of the board corners seen at each frame; NaN where
    a corner was not seen (or the frame has no detection)."""
    out = np.full((len(frames), n_corners, 2), np.nan)
    for i, f in enumerate(frames):
        det = detections.get(f)
        if det is not None and det.count:
            out[i, det.ids] = det.corners
    return out


def triangulate_corners(
    rig: Rig, detections: Mapping[str, Mapping[Any, Detection]], spec: BoardSpec
) -> Triangulation:
    """Every detected corner of every frame, triangulated with ``rig``: (frames, corners)."""
    frames = sorted({f for d in detections.values() for f in d}, key=str)
    obs = np.stack([corner_array(detections[c.name], frames, spec.n_corners) for c in rig.cameras])
    return triangulate(rig, obs)


def board_check(
    rig: Rig, detections: Mapping[str, Mapping[Any, Detection]], spec: BoardSpec
) -> dict[str, float]:
    """Triangulate every detected corner; how far apart neighbouring corners come out (mm)."""
    tri = triangulate_corners(rig, detections, spec)
    corners = spec.object_points()
    gaps = np.linalg.norm(corners[:, None] - corners[None], axis=-1)
    a, b = np.nonzero(np.triu(np.abs(gaps - spec.square_m) < 1e-6))
    d = np.linalg.norm(tri.points[:, a] - tri.points[:, b], axis=-1)
    d = d[np.isfinite(d)]
    errors = tri.errors[np.isfinite(tri.errors)]
    if not len(d):
        return {"pairs": 0}
    return {
        "pairs": len(d),
        "square_mm": round(spec.square_m * 1000, 3),
        "mean_mm": round(float(np.mean(d)) * 1000, 3),
        "rms_error_mm": round(float(np.sqrt(np.mean((d - spec.square_m) ** 2))) * 1000, 3),
        "reprojection_median_px": round(float(np.median(errors)), 4),
    }


def compare_rigs(rig: Rig, reference: Rig, names: Sequence[str] | None = None) -> dict[str, Any]:
    """Focal lengths and camera centres against a reference rig (matched by order).

    World frames differ, so centres are compared after the rigid motion that best aligns the
    two sets of centres; distances between camera pairs need no alignment at all.
    """
    ours = rig.cameras
    theirs = reference.cameras[: len(ours)]
    A = np.array([c.centre for c in ours])
    B = np.array([c.centre for c in theirs])
    T = rigid_fit(B, A)
    B_aligned = B @ T[:3, :3].T + T[:3, 3]
    out: dict[str, Any] = {"cameras": {}}
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        out["cameras"][a.name] = {
            "reference": b.name,
            "focal_px": [round(float(a.K[0, 0]), 2), round(float(b.K[0, 0]), 2)],
            "focal_diff_percent": round(100 * float(a.K[0, 0] - b.K[0, 0]) / float(b.K[0, 0]), 2),
            "centre_diff_mm_after_alignment": round(
                float(np.linalg.norm(A[i] - B_aligned[i])) * 1000, 1
            ),
        }
    pair = [
        abs(np.linalg.norm(A[i] - A[j]) - np.linalg.norm(B[i] - B[j])) * 1000
        for i in range(len(A))
        for j in range(i + 1, len(A))
    ]
    out["camera_distance_diff_mm"] = {
        "median": round(float(np.median(pair)), 1),
        "max": round(float(np.max(pair)), 1),
    }
    return out


def calibrate_live(
    sources: Mapping[str, int | str],
    spec: BoardSpec,
    *,
    seconds: float = 120.0,
    on_feedback: Any = None,
) -> tuple[Rig, CalibrationReport]:
    """Calibrate from live cameras (OpenCV device indices or stream URLs), through the wizard.

    Frames are grabbed from every camera in turn (one moment per round), the board is detected
    and fed to the wizard; ``on_feedback(lines)`` gets each newly missing thing, in words.
    Stops when the wizard has what it needs for both intrinsics and extrinsics, when every
    stream has ended, or after ``seconds``.
    """
    caps = {name: cv2.VideoCapture(src) for name, src in sources.items()}
    try:
        for name, cap in caps.items():
            if not cap.isOpened():
                raise CalibrationError(f"camera {name}: cannot open {sources[name]!r}")
        detector = BoardDetector(spec)
        views: dict[str, list[BoardView]] = {n: [] for n in caps}
        sizes: dict[str, tuple[int, int]] = {}
        wizard: CalibrationWizard | None = None
        last: list[str] = []
        start = time.monotonic()
        k = 0
        while time.monotonic() - start < seconds:
            frames = {}
            for name, cap in caps.items():
                ok, frame = cap.read()
                if ok and frame is not None:
                    frames[name] = np.asarray(frame, dtype=np.uint8)
            if not frames:
                break  # every stream ended
            for name, frame in frames.items():
                sizes.setdefault(name, (frame.shape[1], frame.shape[0]))
                views[name].append(observe(detector, frame, k))
            if wizard is None and len(sizes) == len(caps):
                wizard = CalibrationWizard(dict(sizes))
                wizard.choose_board(spec)
            if wizard is not None:
                for name, frame_views in views.items():
                    if frame_views and frame_views[-1].frame == k:
                        wizard.add_view(name, frame_views[-1])
                status = wizard.status()
                new = [m for m in status.missing if m not in last]
                if new and on_feedback is not None:
                    on_feedback(new)
                last = status.missing
                shared = sum(
                    1
                    for j in range(k + 1)
                    if sum(1 for vs in views.values() if j < len(vs) and vs[j].detection.count >= 6)
                    >= 2
                )
                if status.ready and shared >= 2 * wizard.min_shared_frames:
                    break
            k += 1
    finally:
        for cap in caps.values():
            cap.release()
    if len(sizes) < len(caps):
        missing = [n for n in caps if n not in sizes]
        raise CalibrationError(f"no frames from camera(s) {', '.join(missing)}")
    return calibrate_views(views, sizes, spec)
