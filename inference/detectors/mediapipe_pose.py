"""MediaPipe BlazePose through its Tasks API, with the model shipped in the package.

One :class:`MediaPipePose` per camera: the VIDEO running mode tracks the person from frame to
frame (much faster than detecting afresh), so frames must come in time order. Call
:meth:`close` (or use it as a context manager): the landmarker holds native resources.
:class:`MediaPipeDetector` is the rig's detector: one landmarker per camera, views in parallel
on a thread pool (MediaPipe releases the GIL while it runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from syncpose.arrays import FloatArray, ImageArray
from syncpose.config import MediaPipeDetectorConfig
from syncpose.inference.detectors.base import Keypoints, People, ViewImage, ViewPool
from syncpose.skeleton import BLAZEPOSE33


def default_model_path() -> Path:
    """The shipped ``pose_landmarker_full.task`` (see ``inference/models/NOTICE.md``)."""
    return Path(str(resources.files("syncpose.inference") / "models" / "pose_landmarker_full.task"))


class MediaPipePose:
    """BlazePose full in VIDEO mode; :meth:`detect` takes BGR images in time order."""

    name = "mediapipe-blazepose-full"

    def __init__(
        self,
        model_path: Path | None = None,
        min_confidence: float = 0.5,
        max_side: int = 0,
        num_poses: int = 1,
    ) -> None:
        self.max_side = max_side
        from mediapipe.tasks import python as mp_tasks
        from mediapipe.tasks.python import vision

        options = vision.PoseLandmarkerOptions(
            base_options=mp_tasks.BaseOptions(
                model_asset_path=str(model_path or default_model_path())
            ),
            running_mode=vision.RunningMode.VIDEO,
            num_poses=num_poses,
            min_pose_detection_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )
        self._landmarker = vision.PoseLandmarker.create_from_options(options)
        self._last_ms = -1

    def detect(self, image_bgr: ImageArray, t_ms: int) -> Keypoints:
        """Keypoints of the largest person in ``image_bgr`` captured at ``t_ms`` (strictly
        increasing)."""
        people = self.detect_people(image_bgr, t_ms)
        return people[0] if people else Keypoints.empty()

    def detect_people(self, image_bgr: ImageArray, t_ms: int) -> list[Keypoints]:
        """Everyone found (up to ``num_poses``), the largest in the image first."""
        import mediapipe as mp

        t = max(int(t_ms), self._last_ms + 1)  # the Tasks API needs strictly increasing times
        self._last_ms = t
        h, w = image_bgr.shape[:2]
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            size = (round(w * scale), round(h * scale))
            image_bgr = np.asarray(
                cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA), dtype=np.uint8
            )
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        result = self._landmarker.detect_for_video(
            mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb), t
        )
        people = []
        for landmarks in result.pose_landmarks or []:
            raw = np.array(
                [
                    (lm.x * w, lm.y * h, min(lm.visibility or 0.0, lm.presence or 1.0))
                    for lm in landmarks
                ],
                dtype=np.float64,
            )
            points, conf = BLAZEPOSE33.apply(raw[:, :2], raw[:, 2])
            people.append(Keypoints(points, conf, raw))
        return sorted(people, key=lambda kp: -_box_diagonal(kp.raw))

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __enter__(self) -> MediaPipePose:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class MediaPipeDetector:
    """The rig's MediaPipe detector: a tracking landmarker per camera, views in parallel."""

    name = MediaPipePose.name
    per_camera = True  # one tracker per camera: views can be detected as their frames arrive

    def __init__(
        self,
        config: MediaPipeDetectorConfig,
        camera_ids: Sequence[str],
        threads: int = 0,
        num_poses: int = 1,
    ) -> None:
        self._poses = {
            cam: MediaPipePose(config.model, config.min_confidence, config.max_side, num_poses)
            for cam in camera_ids
        }
        self._pool = ViewPool(min(threads or len(camera_ids), len(camera_ids)))

    def detect(self, views: Sequence[ViewImage]) -> list[People]:
        return self._pool.map(self._one, views)

    def _one(self, view: ViewImage) -> People:
        if view.image is None:
            raise ValueError(f"camera {view.camera_id!r}: the frame has no pixels")
        pose = self._poses[view.camera_id]
        return pose.detect_people(view.image, view.t_capture_ns // 1_000_000)

    def close(self) -> None:
        self._pool.close()
        for pose in self._poses.values():
            pose.close()


def _box_diagonal(raw: FloatArray | None) -> float:
    """Size of a detection in the image: the diagonal of its landmarks' box (pixels)."""
    if raw is None or not len(raw):
        return 0.0
    return float(np.linalg.norm(raw[:, :2].max(0) - raw[:, :2].min(0)))
