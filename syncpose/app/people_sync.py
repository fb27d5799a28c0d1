"""``syncpose sync`` from people: each camera's constant latency from anyone moving in a
recording, by making the views agree in 3D (:mod:`syncpose.calibration.sync`).

The people come from the videos (MediaPipe, several per view) or from OpenPose-format keypoint
files (:mod:`syncpose.openpose`). Frame times: the video files' own timestamps, or
``index / fps``, or a CSV of frame times; ``start_frames`` drops each camera's first frames
(the file then starts there, its times from zero), which is how a user trims videos, and how
the real recordings are made unsynchronised by known whole frames to test the estimate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from syncpose.arrays import FloatArray
from syncpose.calibration.sync import (
    OffsetEstimate,
    Track,
    estimate_offsets,
    slot_people,
    speed_lag_ms,
)
from syncpose.camera import Rig

#: Joints a detector gives with less confidence than this are left out of the estimate.
MIN_CONFIDENCE = 0.5


@dataclass(frozen=True)
class CameraPeople:
    """One camera's recording as people: ``times`` (K,) seconds on its own clock and, per
    frame, everyone detected — (J, 2) pixels each, NaN where a joint is unseen."""

    camera_id: str
    times: FloatArray
    people: list[list[FloatArray]]


@dataclass(frozen=True)
class PeopleSync:
    """Per camera: the estimate (its ``offset_ms`` the latency to configure), and for
    comparison the whole-frame offset from cross-correlating keypoint speeds."""

    estimates: list[OffsetEstimate]
    speed_xcorr_ms: dict[str, float]


def _seen(points: FloatArray, confidence: FloatArray, min_confidence: float) -> FloatArray:
    return np.where((confidence >= min_confidence)[:, None], points, np.nan)


Frames = list[list[FloatArray]]  # per frame, everyone's (J, 2) points


def _drop(times: FloatArray, people: Frames, start: int) -> tuple[FloatArray, Frames]:
    """The recording without its first ``start`` frames, its times from zero again."""
    if start >= len(times):
        raise ValueError(f"--start-frames {start} leaves no frame of {len(times)}")
    kept = times[start:]
    return kept - kept[0], people[start:]


def video_people(
    videos: Sequence[Path],
    rig: Rig,
    *,
    fps: float | None = None,
    start_frames: Sequence[int] | None = None,
    max_people: int = 2,
    min_confidence: float = MIN_CONFIDENCE,
) -> list[CameraPeople]:
    """Everyone MediaPipe finds in each video (up to ``max_people`` a frame), frame by frame;
    times from the file's timestamps, or ``index / fps`` when ``fps`` is given. ``rig``: the
    calibration matched to the videos' names (camera ``i`` is ``videos[i]``)."""
    import cv2

    from syncpose.config import MediaPipeDetectorConfig
    from syncpose.inference.detectors import ViewImage, make_detector

    starts = list(start_frames) if start_frames is not None else [0] * len(videos)
    if len(starts) != len(videos):
        raise ValueError(f"{len(starts)} start frames for {len(videos)} videos")
    ids = rig.names
    detector = make_detector(MediaPipeDetectorConfig(type="mediapipe"), rig, max_people=max_people)
    out = []
    try:
        for cam_id, path, start in zip(ids, videos, starts, strict=True):
            cap = cv2.VideoCapture(str(path))
            if not cap.isOpened():
                raise ValueError(f"{path}: not a video OpenCV can read")
            stamps: list[float] = []
            people: list[list[FloatArray]] = []
            try:
                while True:
                    ok, image = cap.read()
                    if not ok:
                        break
                    stamps.append(float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0)
                    t_ns = round(len(stamps) * 1e9 / (fps or 30.0))  # increasing, per camera
                    frame = np.asarray(image, dtype=np.uint8)
                    found = detector.detect([ViewImage(cam_id, frame, t_ns)])[0]
                    people.append([_seen(p.points, p.confidence, min_confidence) for p in found])
            finally:
                cap.release()
            if len(people) < 2:
                raise ValueError(f"{path}: fewer than two frames decoded")
            times = np.asarray(stamps)
            if fps is not None or not (np.diff(times) > 0).all():
                if fps is None:
                    raise ValueError(f"{path}: the file's frame times do not increase; pass --fps")
                times = np.arange(len(people)) / fps
            times, people = _drop(times, people, start)
            out.append(CameraPeople(cam_id, times, people))
    finally:
        detector.close()
    return out


def keypoint_people(
    folder: str | Path,
    *,
    fps: float,
    layout: str | None = None,
    start_frames: Sequence[int] | None = None,
    min_confidence: float = MIN_CONFIDENCE,
) -> list[CameraPeople]:
    """Everyone in OpenPose-format keypoint files (one folder per camera), frame ``n`` of a
    camera at ``n / fps`` seconds (a missing file number is a frame with nobody)."""
    from syncpose.openpose import choose_layout, find_cameras, read_people

    if fps <= 0:
        raise ValueError("--keypoints needs --fps (the frame rate of the keypoint files)")
    cameras = find_cameras(folder)
    chosen = choose_layout(cameras, layout)
    starts = list(start_frames) if start_frames is not None else [0] * len(cameras)
    if len(starts) != len(cameras):
        raise ValueError(f"{len(starts)} start frames for {len(cameras)} cameras")
    out = []
    for cam, start in zip(cameras, starts, strict=True):
        times = np.asarray(cam.frames, dtype=np.float64) / fps
        people = [
            [_seen(p.points, p.confidence, min_confidence) for p in read_people(path, chosen)]
            for path in cam.paths
        ]
        times, people = _drop(times, people, start)
        out.append(CameraPeople(cam.camera_id, times, people))
    return out


def sync_people(
    rig: Rig,
    cameras: Sequence[CameraPeople],
    *,
    slots: int = 2,
    search_ms: float = 500.0,
    frame_times: Mapping[str, FloatArray] | None = None,
) -> PeopleSync:
    """Each camera's latency against the first, from ``cameras``' people (``rig``: their
    calibration; ``frame_times``: per-camera times from a CSV, replacing the recordings')."""
    tracks = {}
    for cam in cameras:
        times = cam.times
        if frame_times is not None:
            if cam.camera_id not in frame_times:
                raise ValueError(f"the frame-time file has no times for camera {cam.camera_id}")
            times = frame_times[cam.camera_id][: len(cam.people)]
        n = min(len(times), len(cam.people))
        tracks[cam.camera_id] = Track(times[:n], slot_people(cam.people[:n], slots))
    estimates = estimate_offsets(rig, tracks, search_ms=search_ms)
    ref = tracks[estimates[0].camera]
    xcorr = {e.camera: speed_lag_ms(ref, tracks[e.camera]) for e in estimates}
    return PeopleSync(estimates, xcorr)
