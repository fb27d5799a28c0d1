"""``syncpose reconstruct --keypoints DIR``: 3D from 2D keypoint files, through the same fusion.

The files (:mod:`syncpose.openpose`) replace detection; everything after it is the live path:
the pipeline's second stage (:meth:`~syncpose.inference.pipeline.InferencePipeline.fuse`:
keypoints to people, tracking, per-person fusion, filter). Tick ``k`` holds file frame
``k + start_frames[v]`` of every camera ``v``, captured at ``k / fps + offsets_ms[v]``, so
``--offsets-ms`` and ``--start-frames`` mean what they mean for videos.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from syncpose.app.offline import EPOCH_NS, OfflineTick, Reconstruction, summarise_people
from syncpose.calibration.rigfile import load_rig
from syncpose.clock import NS_PER_S
from syncpose.config import InferenceConfig
from syncpose.inference.detectors import Keypoints, People, ViewImage
from syncpose.messages import Bundle, BundleView, FrameHeader
from syncpose.openpose import CameraKeypoints, choose_layout, find_cameras, read_people
from syncpose.skeleton import SkeletonMap


class KeypointFiles:
    """The files as the pipeline's detector: a view's people are those of the file frame its
    capture time falls on (see the module docstring)."""

    per_camera = False

    def __init__(
        self,
        cameras: Sequence[CameraKeypoints],
        layout: SkeletonMap,
        fps: float,
        offsets_ms: Sequence[float],
        start_frames: Sequence[int],
    ) -> None:
        self.name = f"keypoint-files:{layout.name}"
        self.layout = layout
        self.fps = fps
        self._cams = {c.camera_id: c for c in cameras}
        self._offset_ns = {
            c.camera_id: round(o * 1e6) for c, o in zip(cameras, offsets_ms, strict=True)
        }
        self._start = {c.camera_id: s for c, s in zip(cameras, start_frames, strict=True)}
        self._by_frame = {c.camera_id: dict(zip(c.frames, c.paths, strict=True)) for c in cameras}

    def frame_of(self, camera_id: str, t_capture_ns: int) -> int:
        """The file frame number of ``camera_id`` captured at ``t_capture_ns``."""
        cam = self._cams[camera_id]
        k = round((t_capture_ns - EPOCH_NS - self._offset_ns[camera_id]) * self.fps / NS_PER_S)
        return cam.frames[0] + k + self._start[camera_id]

    def has(self, camera_id: str, frame: int) -> bool:
        return frame in self._by_frame[camera_id]

    def detect(self, views: Sequence[ViewImage]) -> list[People]:
        out = []
        for view in views:
            path = self._by_frame[view.camera_id].get(
                self.frame_of(view.camera_id, view.t_capture_ns)
            )
            people = [] if path is None else read_people(path, self.layout)
            out.append([Keypoints(p.points, p.confidence, p.raw) for p in people])
        return out

    def close(self) -> None:
        return None


def reconstruct_keypoints(
    folder: str | Path,
    *,
    calibration: Path,
    fps: float,
    inference: InferenceConfig,
    layout: str | None = None,
    offsets_ms: Sequence[float] | None = None,
    start_frames: Sequence[int] | None = None,
    method: str | None = None,
) -> Reconstruction:
    """Reconstruct the people in the keypoint files under ``folder`` (see the module docstring)."""
    from syncpose.inference.pipeline import Detected, InferencePipeline

    if fps <= 0:
        raise ValueError("--fps must be positive (the frame rate the keypoints were made at)")
    cameras = find_cameras(folder)
    n = len(cameras)
    offsets = list(offsets_ms) if offsets_ms is not None else [0.0] * n
    starts = list(start_frames) if start_frames is not None else [0] * n
    if len(offsets) != n or len(starts) != n:
        raise ValueError(f"{len(offsets)} offsets and {len(starts)} start frames for {n} cameras")
    chosen = choose_layout(cameras, layout)
    rig = load_rig(calibration).matched_to([c.camera_id for c in cameras])
    files = KeypointFiles(cameras, chosen, fps, offsets, starts)
    pipeline = InferencePipeline.with_detector(rig, files, inference, method)
    period_ns = NS_PER_S / fps
    ticks_n = max(len(c) - s for c, s in zip(cameras, starts, strict=True))
    t0 = time.perf_counter()
    ticks: list[OfflineTick] = []
    for k in range(ticks_n):
        t_ref = EPOCH_NS + round(k * period_ns)
        views, bundle_views = [], []
        for cam, offset in zip(cameras, offsets, strict=True):
            t_cap = t_ref + round(offset * 1e6)
            frame = files.frame_of(cam.camera_id, t_cap)
            if not files.has(cam.camera_id, frame):
                bundle_views.append(BundleView(camera_id=cam.camera_id))
                continue
            w, h = rig.camera(cam.camera_id).size
            header = FrameHeader(
                camera_id=cam.camera_id, seq=frame, t_capture_ns=t_cap, width=w, height=h,
                encoding="raw",
            )  # fmt: skip
            bundle_views.append(
                BundleView(camera_id=cam.camera_id, header=header, offset_ns=t_cap - t_ref)
            )
            views.append((cam.camera_id, t_cap))
        bundle = Bundle(
            bundle_seq=k, t_ref_ns=t_ref, period_ns=round(period_ns), views=bundle_views
        )
        found = files.detect([ViewImage(c, None, t) for c, t in views])
        timings = {"decode": 0.0, "detect": 0.0, "wait": 0.0}
        detected = Detected(bundle, views, found, [None] * len(views), [], timings)
        ticks.append(OfflineTick(bundle, pipeline.fuse(detected)))
    wall = time.perf_counter() - t0
    pipeline.close()
    if not ticks:
        raise ValueError(f"{folder}: no frames to reconstruct")
    summary = summarise_people(rig, ticks)
    summary.update(
        {
            "method": ticks[0].output.message.method,
            "detector": files.name,
            "rig_fps": fps,
            "recording_s": round(len(ticks) / fps, 3),
            "wall_s": round(wall, 3),
            "speed_x_real_time": round(len(ticks) / fps / wall, 3) if wall > 0 else None,
        }
    )
    frame_index = [cameras[0].frames[0] + k for k in range(len(ticks))]
    inputs = [str(c.folder) for c in cameras]
    return Reconstruction(ticks, summary, None, rig, fps, inputs, frame_index)
