"""2D keypoint detectors, chosen by the ``type`` of the rig's detector config."""

from __future__ import annotations

from collections.abc import Sequence

from syncpose.camera import Rig
from syncpose.config import (
    MediaPipeDetectorConfig,
    OnnxDetectorConfig,
    SyntheticDetectorConfig,
)
from syncpose.inference.detectors.base import Detector, Keypoints, People, ViewImage, ViewPool

__all__ = ["Detector", "Keypoints", "People", "ViewImage", "ViewPool", "make_detector"]


def make_detector(
    config: MediaPipeDetectorConfig | OnnxDetectorConfig | SyntheticDetectorConfig,
    rig: Rig,
    *,
    threads: int = 0,
    provider: str = "auto",
    max_people: int = 1,
) -> Detector:
    """The detector for ``rig`` (camera names = the rig's camera ids), finding up to
    ``max_people`` people per view where it can (MediaPipe's ``num_poses``; with 1 exactly the
    single-person detector of before)."""
    camera_ids: Sequence[str] = rig.names
    if isinstance(config, SyntheticDetectorConfig):
        from syncpose.inference.detectors.synthetic import SyntheticDetector

        return SyntheticDetector(config, rig)
    if isinstance(config, OnnxDetectorConfig):
        from syncpose.inference.detectors.onnx_keypoints import OnnxKeypointDetector

        return OnnxKeypointDetector(config, provider)
    from syncpose.inference.detectors.mediapipe_pose import MediaPipeDetector

    return MediaPipeDetector(config, camera_ids, threads, num_poses=max_people)
