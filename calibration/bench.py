"""``syncpose bench calibration``: our calibration and aniposelib's on the same detections.

On the real four-webcam ChArUco recording: time per stage and the errors of our pipeline, the
comparison with Caliscope's reference calibration, the time-offset estimates from the real
frame times, and aniposelib (``pip install 'syncpose[bench]'``) run on *the same* board
detections, judged by the same measures: per-camera RMS reprojection of triangulated corners
and neighbouring-corner distances against the printed square.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from syncpose.calibration.boards import BoardSpec, Detection, read_caliscope_charuco
from syncpose.calibration.intrinsics import BoardView
from syncpose.calibration.pipeline import (
    board_check,
    calibrate_views,
    compare_rigs,
    corner_array,
    detect_videos,
    triangulate_corners,
)
from syncpose.calibration.rigfile import read_caliscope
from syncpose.calibration.sync import Track, estimate_offsets, read_frame_times, simulate_tracks
from syncpose.camera import Camera, Rig

logger = logging.getLogger(__name__)


def per_camera_rms(
    rig: Rig, detections: dict[str, dict[int, Detection]], spec: BoardSpec
) -> dict[str, float]:
    """RMS reprojection error per camera of every detected corner, triangulated from all views."""
    tri = triangulate_corners(rig, detections, spec)
    out = {}
    for c, cam in enumerate(rig.cameras):
        e = tri.errors[c][np.isfinite(tri.errors[c])]
        out[cam.name] = round(float(np.sqrt(np.mean(e**2))), 4) if e.size else float("nan")
    return out


def run_aniposelib(
    views: dict[str, list[BoardView]], sizes: dict[str, tuple[int, int]], spec: BoardSpec
) -> tuple[Rig | None, dict[str, Any]]:
    """aniposelib's ``calibrate_rows`` on our detections; (rig, info) or (None, reason)."""
    try:
        from aniposelib.boards import CharucoBoard
        from aniposelib.cameras import CameraGroup
    except ImportError:
        return None, {"skipped": "aniposelib is not installed (pip install 'syncpose[bench]')"}
    dict_size = int(spec.dictionary.rsplit("_", 1)[1])
    bits = int(spec.dictionary.split("_")[1].split("X")[0])
    board = CharucoBoard(
        spec.columns,
        spec.rows,
        square_length=spec.square_m,
        marker_length=spec.square_m * spec.marker_ratio,
        marker_bits=bits,
        dict_size=dict_size,
    )
    names = list(views)
    group = CameraGroup.from_names(names)
    for cam, name in zip(group.cameras, names, strict=True):
        cam.set_size(sizes[name])
    rows = [
        [
            {
                "framenum": v.frame,
                "corners": v.detection.corners.reshape(-1, 1, 2).astype(np.float32),
                "ids": v.detection.ids.reshape(-1, 1).astype(np.int32),
            }
            for v in views[name]
            if v.detection.count
        ]
        for name in names
    ]
    t = time.perf_counter()
    try:
        error = group.calibrate_rows(
            rows, board, init_intrinsics=True, init_extrinsics=True, verbose=False
        )
    except Exception as exc:  # a third-party solver: report how it failed, do not crash the bench
        logger.exception("aniposelib failed")
        return None, {"failed": f"{type(exc).__name__}: {exc}"}
    seconds = time.perf_counter() - t
    cams = []
    for cam, name in zip(group.cameras, names, strict=True):
        d = np.asarray(cam.get_distortions(), dtype=np.float64).reshape(-1)
        cams.append(
            Camera(
                name,
                sizes[name],
                np.asarray(cam.get_camera_matrix(), dtype=np.float64),
                d[:5],
                np.asarray(cam.get_rotation(), dtype=np.float64).reshape(3),
                np.asarray(cam.get_translation(), dtype=np.float64).reshape(3),
            )
        )
    return Rig(tuple(cams)), {
        "seconds": round(seconds, 3),
        "reported_error": round(float(error), 4),
    }


def run_calibration_bench(data_dir: Path) -> dict[str, Any]:
    spec = read_caliscope_charuco(data_dir / "charuco.toml")
    videos = {p.stem: p for p in sorted(data_dir.glob("cam_*.mp4"))}
    t0 = time.perf_counter()
    views, sizes = detect_videos(videos, spec)
    detection_s = time.perf_counter() - t0
    rig, report = calibrate_views(views, sizes, spec)
    ours_total = sum(report.seconds.values())
    detections = {n: {v.frame: v.detection for v in vs} for n, vs in views.items()}
    reference = read_caliscope(data_dir / "camera_array.toml")
    out: dict[str, Any] = {
        "benchmark": "calibration",
        "data": str(data_dir),
        "board": spec.describe(),
        "detection_seconds": round(detection_s, 3),
        "syncpose": {
            "seconds": report.seconds,
            "solve_seconds": round(ours_total, 3),
            "intrinsic_rms_px": {n: c["intrinsic_rms_px"] for n, c in report.cameras.items()},
            "lens_model": {n: c["lens_model"] for n, c in report.cameras.items()},
            "bundle_adjustment_rms_px": {n: c["rms_px"] for n, c in report.cameras.items()},
            "triangulated_rms_px": per_camera_rms(rig, detections, spec),
            "board_check": report.board_check,
            "vs_caliscope": compare_rigs(rig, reference),
        },
        "caliscope_reference": {
            "triangulated_rms_px": per_camera_rms(reference, detections, spec),
            "board_check": board_check(reference, detections, spec),
        },
    }
    anipose_rig, info = run_aniposelib(views, sizes, spec)
    if anipose_rig is not None:
        info["triangulated_rms_px"] = per_camera_rms(anipose_rig, detections, spec)
        info["board_check"] = board_check(anipose_rig, detections, spec)
    out["aniposelib"] = info
    times = read_frame_times(data_dir / "timestamps.csv")
    t = time.perf_counter()
    tracks = {
        name: Track(
            times[name][: len(vs)], corner_array(detections[name], range(len(vs)), spec.n_corners)
        )
        for name, vs in views.items()
    }
    offsets = estimate_offsets(rig, tracks, search_ms=400.0)
    out["time_offsets"] = {
        "seconds": round(time.perf_counter() - t, 3),
        "cameras": {
            e.camera: {
                "offset_ms": round(e.offset_ms, 2),
                "std_ms": round(e.std_ms, 2),
                "contrast": round(e.contrast, 2),
                "confident": e.confident,
            }
            for e in offsets
        },
    }
    out["time_offsets_synthetic"] = synthetic_offsets()
    return out


def synthetic_offsets() -> dict[str, Any]:
    """The offset estimator on a simulated rig with known latencies (one and two frames too)."""
    from syncpose.camera import look_at, ring_position

    rig = Rig(
        tuple(
            look_at(ring_position(i, 4), (0, 0, 1), 1000, 1280, 720, name=f"c{i}") for i in range(4)
        )
    )
    latency_ms = [0.0, 12.3, -41.7, 57.9]
    t = time.perf_counter()
    estimates = estimate_offsets(rig, simulate_tracks(rig, latency_ms, [0.0, 7.0, 19.0, 28.0]))
    return {
        "seconds": round(time.perf_counter() - t, 3),
        "setup": "4 cameras at 30 fps, bundled CMU motion, 0.7 px noise, phases 0/7/19/28 ms",
        "cameras": {
            e.camera: {
                "true_ms": truth,
                "estimated_ms": round(e.offset_ms, 2),
                "error_ms": round(e.offset_ms - truth, 2),
                "std_ms": round(e.std_ms, 2),
            }
            for e, truth in zip(estimates, latency_ms, strict=True)
        },
    }
