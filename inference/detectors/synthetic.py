"""The synthetic detector: a synthetic camera's true keypoints through the detector error model.

The same error model the denoiser was trained and evaluated with (:mod:`syncpose.simulate`),
applied frame by frame with one error stream per camera, so a demo rig sees realistic jitter,
outliers, misses and left/right swaps instead of perfect keypoints.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from syncpose.camera import Rig
from syncpose.config import SyntheticDetectorConfig
from syncpose.inference.detectors.base import Keypoints, People, ViewImage
from syncpose.simulate import DetectorErrorStream, DetectorNoise
from syncpose.skeleton import MOCAP


class SyntheticDetector:
    """Needs views with ``keypoints_true`` (synthetic cameras); ``rig`` gives focal lengths."""

    name = "synthetic"
    per_camera = True  # one error stream per camera

    def __init__(self, config: SyntheticDetectorConfig, rig: Rig) -> None:
        noise = DetectorNoise(
            jitter_px=config.jitter_px,
            temporal_correlation=config.temporal_correlation,
            outlier_rate=config.outlier_rate,
            miss_rate=config.miss_rate,
            swap_rate=config.swap_rate,
        )
        self._noise, self._seed = noise, config.seed
        self._streams = {
            (cam.name, 0): DetectorErrorStream(
                noise, float(cam.K[0, 0]), np.random.default_rng([config.seed, i])
            )
            for i, cam in enumerate(rig.cameras)
        }
        self._rig = rig

    def detect(self, views: Sequence[ViewImage]) -> list[People]:
        return [self._one(v) for v in views]

    def _one(self, view: ViewImage) -> People:
        if view.keypoints_true is None or view.keypoints_depth is None:
            raise ValueError(
                f"camera {view.camera_id!r}: the synthetic detector needs a synthetic camera's "
                "true keypoints and depths, and this frame has none"
            )
        names = view.keypoint_names or ()
        if tuple(names) != MOCAP.source_names:
            raise ValueError(
                f"camera {view.camera_id!r}: true keypoints are named {list(names)[:4]}..., "
                f"expected the motion-capture layout {list(MOCAP.source_names)[:4]}..."
            )
        true = np.asarray(view.keypoints_true, np.float64)
        depth = np.asarray(view.keypoints_depth, np.float64)
        if true.ndim == 2:
            true, depth = true[None], depth[None]
        cam = self._rig.camera(view.camera_id)
        people = []
        for p in range(len(true)):
            stream = self._stream(view.camera_id, p)
            uv, _ = MOCAP.apply(true[p])
            d = MOCAP.apply(depth[p][:, None])[0][:, 0]
            points, conf = stream.apply(uv, d)
            inside = cam.in_image(points) & np.isfinite(points).all(axis=1)
            conf = np.where(inside, conf, 0.0)
            if (conf > 0).sum() >= 4:  # a detector reports people, not stray joints
                people.append(Keypoints(np.where(inside[:, None], points, np.nan), conf))
        return sorted(people, key=_size, reverse=True)

    def _stream(self, camera_id: str, person: int) -> DetectorErrorStream:
        """One error stream per camera and person (person 0's is the camera's own)."""
        key = (camera_id, person)
        if key not in self._streams:
            cam = self._rig.camera(camera_id)
            i = self._rig.names.index(camera_id)
            self._streams[key] = DetectorErrorStream(
                self._noise, float(cam.K[0, 0]), np.random.default_rng([self._seed, i, person])
            )
        return self._streams[key]

    def close(self) -> None:
        return None


def _size(kp: Keypoints) -> float:
    p = kp.points[kp.confidence > 0]
    return float(np.linalg.norm(p.max(0) - p.min(0))) if len(p) >= 2 else 0.0
