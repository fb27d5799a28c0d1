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
from syncpose.inference.detectors.base import Keypoints, ViewImage
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
        self._streams = {
            cam.name: DetectorErrorStream(
                noise, float(cam.K[0, 0]), np.random.default_rng([config.seed, i])
            )
            for i, cam in enumerate(rig.cameras)
        }
        self._rig = rig

    def detect(self, views: Sequence[ViewImage]) -> list[Keypoints]:
        return [self._one(v) for v in views]

    def _one(self, view: ViewImage) -> Keypoints:
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
        uv, _ = MOCAP.apply(view.keypoints_true)
        depth = MOCAP.apply(np.asarray(view.keypoints_depth, np.float64)[:, None])[0][:, 0]
        points, conf = self._streams[view.camera_id].apply(uv, depth)
        cam = self._rig.camera(view.camera_id)
        inside = cam.in_image(points) & np.isfinite(points).all(axis=1)
        conf = np.where(inside, conf, 0.0)
        return Keypoints(np.where(inside[:, None], points, np.nan), conf)

    def close(self) -> None:
        return None
