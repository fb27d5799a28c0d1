"""What every 2D detector takes and gives, and the thread pool that runs views in parallel.

A detector turns the images of one bundle's views into :class:`Keypoints` in the project
skeleton (:data:`~syncpose.skeleton.JOINTS`), one per person it finds (the largest in the image
first; no identities: telling people apart is the tracker's job): pixels of the original image
and a confidence per joint. Detectors keep per-camera state (tracking), so each camera's
frames must come in time order, and a detector object serves one rig.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from syncpose.arrays import FloatArray, ImageArray
from syncpose.skeleton import JOINTS

T = TypeVar("T")
V = TypeVar("V")


@dataclass(frozen=True)
class Keypoints:
    """One image's detection in the project skeleton: ``points`` (J, 2) pixels (NaN = none),
    ``confidence`` (J,) in [0, 1]; ``raw`` (S, 3) the detector's own keypoints (x px, y px,
    score) when it has its own layout."""

    points: FloatArray
    confidence: FloatArray
    raw: FloatArray | None = None

    @classmethod
    def empty(cls) -> Keypoints:
        """No person found."""
        return cls(np.full((len(JOINTS), 2), np.nan), np.zeros(len(JOINTS)))


@dataclass(frozen=True)
class ViewImage:
    """One view of a bundle as a detector sees it.

    ``image`` (H, W, 3) uint8 BGR; ``t_capture_ns`` its capture time (tracking detectors need
    increasing times per camera). Synthetic cameras add ``keypoints_true`` (S, 2) — or (P, S, 2)
    for P people — pixels (NaN = not visible) named by ``keypoint_names``, and
    ``keypoints_depth`` (S,) or (P, S) metres.
    """

    camera_id: str
    image: ImageArray | None
    t_capture_ns: int
    keypoints_true: FloatArray | None = None
    keypoint_names: tuple[str, ...] | None = None
    keypoints_depth: FloatArray | None = None


#: Everyone a detector found in one image, the largest first (empty: nobody).
People = list[Keypoints]


class Detector(Protocol):
    """Detects the people in every view of a bundle; one :data:`People` per view, in order.

    ``per_camera``: state is per camera and views are independent, so each view may be
    detected on its own as its frame arrives (False: the detector batches a bundle's views).
    """

    name: str
    per_camera: bool

    def detect(self, views: Sequence[ViewImage]) -> list[People]: ...

    def close(self) -> None: ...


class ViewPool:
    """Runs a per-view function over the views of a bundle on ``threads`` threads (1: inline).

    OpenCV, MediaPipe and onnxruntime release the GIL while they compute, so threads give real
    parallelism without copying images to other processes.
    """

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def map(self, fn: Callable[[V], T], views: Sequence[V]) -> list[T]:
        if self._pool is None or len(views) < 2:
            return [fn(v) for v in views]
        return list(self._pool.map(fn, views))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
