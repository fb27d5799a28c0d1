"""2D keypoint detectors, chosen by the ``type`` of the rig's detector config."""

from __future__ import annotations

from collections.abc import Sequence

from syncpose.camera import Rig
from syncpose.config import (
    MediaPipeDetectorConfig,
    OnnxDetectorConfig,
    SyntheticDetectorConfig,
)
from syncpose.inference.detectors.base import Detector, Keypoints, ViewImage, ViewPool

__all__ = ["Detector", "Keypoints", "ViewImage", "ViewPool", "make_detector"]


def make_detector(
    config: MediaPipeDetectorConfig | OnnxDetectorConfig | SyntheticDetectorConfig,
    rig: Rig,
    *,
    threads: int = 0,
    provider: str = "auto",
) -> Detector:
    """The detector for ``rig`` (camera names = the rig's camera ids)."""
    camera_ids: Sequence[str] = rig.names
    if isinstance(config, SyntheticDetectorConfig):
        from syncpose.inference.detectors.synthetic import SyntheticDetector

        return SyntheticDetector(config, rig)
    if isinstance(config, OnnxDetectorConfig):
        from syncpose.inference.detectors.onnx_keypoints import OnnxKeypointDetector

        return OnnxKeypointDetector(config, provider)
    from syncpose.inference.detectors.mediapipe_pose import MediaPipeDetector

    return MediaPipeDetector(config, camera_ids, threads)
