"""From a bundle and its views' frames to a :class:`~syncpose.messages.PoseResult` (no I/O).

The one path every caller shares — the live inference worker, ``syncpose reconstruct`` and the
benchmarks: decode the views' pixels (in parallel), detect everyone's 2D keypoints on all
views (the detector batches or parallelises), put the keypoints right (onto the calibration's
pixel grid, confidences below the threshold zeroed), tell the people apart and follow them
(:class:`~syncpose.inference.tracking.PeopleTracker`: which skeleton of which view is whom,
views with left and right mixed up exchanged per person — see :mod:`syncpose.inference.swaps`),
fuse each person with their own :class:`~syncpose.inference.engine.PoseEngine` (denoiser, or
time-aware triangulation), filter, and report every stage's latency. ``keypoints_2d`` in the
result are each person's keypoints as fused. A bundle that cannot give a pose — views missing,
pixels lost, the detector failing on an image, nobody seen by two views — gives a result with
no people and a reason, never an exception.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from syncpose.arrays import AnyArray, FloatArray, ImageArray
from syncpose.calibration.rigfile import rig_calibration
from syncpose.camera import Camera, Rig
from syncpose.clock import NS_PER_S
from syncpose.config import DenoiserConfig, InferenceConfig, RigConfig, TrackingConfig
from syncpose.inference.association import Skeleton2D
from syncpose.inference.denoiser.runtime import DenoiserRuntime
from syncpose.inference.detectors import (
    Detector,
    Keypoints,
    People,
    ViewImage,
    ViewPool,
    make_detector,
)
from syncpose.inference.engine import PoseEngine
from syncpose.inference.filters import OneEuroConfig
from syncpose.inference.tracking import PeopleTracker, TrackerTick, ViewPeople
from syncpose.messages import Bundle, Frame, FrameHeader, PoseResult
from syncpose.skeleton import JOINTS

logger = logging.getLogger(__name__)


#: Frames whose size differs from the calibration's by less than this are used as they are
#: (a 1080-wide video of a camera calibrated at 1088 is the same pixel grid, cropped).
_SAME_GRID = 0.02


@dataclass(frozen=True)
class ViewFrame:
    """What the worker received for one camera's frame: header and pixels (raw (H, W, 3) or
    JPEG bytes (N,)), plus a synthetic camera's true keypoints (see :class:`Frame`)."""

    header: FrameHeader
    pixels: ImageArray | None
    keypoints_true: FloatArray | None = None
    keypoint_names: tuple[str, ...] | None = None
    keypoints_depth: FloatArray | None = None

    @classmethod
    def from_message(cls, frame: Frame, arrays: Mapping[str, AnyArray]) -> ViewFrame:
        def floats(name: str) -> FloatArray | None:
            a = arrays.get(name)
            return None if a is None else np.asarray(a, dtype=np.float64)

        image = arrays.get("image")
        return cls(
            header=frame.header,
            pixels=None if image is None else np.asarray(image, dtype=np.uint8),
            keypoints_true=floats("keypoints_true"),
            keypoint_names=tuple(frame.keypoint_names) if frame.keypoint_names else None,
            keypoints_depth=floats("keypoints_depth"),
        )

    def view(self, camera_id: str, image: ImageArray | None, t_capture_ns: int) -> ViewImage:
        """This frame as a detector takes it (``image``: its decoded pixels)."""
        return ViewImage(
            camera_id,
            image,
            t_capture_ns,
            self.keypoints_true,
            self.keypoint_names,
            self.keypoints_depth,
        )


@dataclass
class FrameDetection:
    """One view's detection: ``people`` (None when it failed, ``error`` says why), the
    ``size`` (w, h) of the image detected, and the time it took."""

    people: People | None
    size: tuple[int, int] | None
    error: str | None
    decode_ms: float
    detect_ms: float


@dataclass
class Detected:
    """A bundle after the first stage: the views detected — (camera, corrected capture time
    ns) — with the people found and image sizes, in the same order; notes on the others."""

    bundle: Bundle
    views: list[tuple[str, int]]
    people: list[People]
    sizes: list[tuple[int, int] | None]
    notes: list[str]
    timings_ms: dict[str, float]


@dataclass
class PoseOutput:
    """A result ready to publish: the message and its arrays (see :class:`PoseResult`)."""

    message: PoseResult
    arrays: dict[str, AnyArray]

    @property
    def positions(self) -> FloatArray:
        """(P, J, 3) everyone's joints."""
        return np.asarray(self.arrays["positions"], dtype=np.float64)

    @property
    def person_ids(self) -> list[int]:
        return list(self.message.person_ids)

    def person_positions(self, person_id: int | None = None) -> FloatArray:
        """(J, 3) one person's joints: ``person_id``'s, by default the first reported (the
        oldest id: the one person a ``max_people: 1`` rig follows); NaN if not in this pose."""
        ids = self.person_ids
        i = 0 if person_id is None and ids else ids.index(person_id) if person_id in ids else -1
        if i < 0:
            return np.full((len(self.message.joint_names), 3), np.nan)
        return np.asarray(self.positions[i], dtype=np.float64)

    def person_keypoints_2d(self, person_id: int | None = None) -> FloatArray:
        """(V, J, 3) one person's 2D keypoints as fused (as :meth:`person_positions` chooses;
        NaN if not in this pose or not sent)."""
        ids, kp = self.person_ids, self.arrays.get("keypoints_2d")
        i = 0 if person_id is None and ids else ids.index(person_id) if person_id in ids else -1
        shape = (len(self.message.camera_ids), len(self.message.joint_names), 3)
        if i < 0 or kp is None:
            return np.full(shape, np.nan)
        return np.asarray(kp[i], dtype=np.float64)


METHODS = ("denoiser", "time_aware", "dlt")


def make_engine(inference: InferenceConfig, rig: Rig, method: str | None = None) -> PoseEngine:
    """The fusion engine: ``method`` (one of :data:`METHODS`), by default the config's choice
    (the shipped denoiser unless ``denoiser`` is null, then time-aware triangulation)."""
    if method is not None and method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if method is None:
        method = "denoiser" if inference.denoiser is not None else "time_aware"
    denoiser = None
    if method == "denoiser":
        d = inference.denoiser or DenoiserConfig()
        denoiser = DenoiserRuntime(
            d.model,
            prefer=d.provider,
            hypotheses=d.hypotheses,
            select=d.select,
            seed=d.seed,
            threads=d.threads,
        )
        logger.debug("denoiser: %s", denoiser.describe())
    smoothing = None
    if inference.smoothing is not None:
        s = inference.smoothing
        smoothing = OneEuroConfig(s.min_cutoff_hz, s.beta, s.d_cutoff_hz)
    return PoseEngine(
        rig,
        denoiser,
        smoothing,
        min_views=inference.min_views,
        time_aware=method != "dlt",
    )


class InferencePipeline:
    """Bundles in, poses out, for one rig. Call :meth:`close` when done."""

    def __init__(
        self,
        rig: Rig,
        detector: Detector,
        engine: PoseEngine,
        *,
        min_confidence: float = 0.3,
        threads: int = 0,
        keypoints_2d: bool = True,
        fix_swaps: bool = True,
        max_people: int = 1,
        tracking: TrackingConfig | None = None,
    ) -> None:
        self.rig = rig
        self.detector = detector
        self.engine = engine  # the template each person's engine is spawned from
        self.tracker = PeopleTracker(
            rig, engine, tracking, max_people=max_people, fix_swaps=fix_swaps
        )
        self.min_confidence = min_confidence
        self.keypoints_2d = keypoints_2d
        self.calibration_id = rig.id
        self._pool = ViewPool(min(threads or len(rig.cameras), len(rig.cameras)))
        self._needs_pixels = detector.name != "synthetic"
        self._grid_warned: set[str] = set()
        self.detector_errors = 0

    @property
    def swaps_fixed(self) -> int:
        """Views whose left and right were exchanged so far (all people)."""
        return self.tracker.swaps_fixed

    @classmethod
    def from_config(cls, config: RigConfig, method: str | None = None) -> InferencePipeline:
        """The pipeline of ``config`` (``method`` overrides the fusion, see :func:`make_engine`)."""
        rig = rig_calibration(config)
        inference = config.inference
        provider = inference.denoiser.provider if inference.denoiser else "auto"
        detector = make_detector(
            config.detector(),
            rig,
            threads=inference.detect_threads,
            provider=provider,
            max_people=inference.max_people,
        )
        return cls.with_detector(rig, detector, inference, method)

    @classmethod
    def with_detector(
        cls, rig: Rig, detector: Detector, inference: InferenceConfig, method: str | None = None
    ) -> InferencePipeline:
        """The pipeline ``inference`` describes, around ``detector`` (keypoint files, say)."""
        return cls(
            rig,
            detector,
            make_engine(inference, rig, method),
            min_confidence=inference.min_confidence,
            threads=inference.detect_threads,
            keypoints_2d=inference.keypoints_2d,
            fix_swaps=inference.fix_swaps,
            max_people=inference.max_people,
            tracking=inference.tracking,
        )

    # -- stages ------------------------------------------------------------------------------

    def _decode(self, frame: ViewFrame) -> ImageArray | None:
        if not self._needs_pixels or frame.pixels is None:
            return None
        if frame.header.encoding == "raw":
            return frame.pixels
        image = cv2.imdecode(frame.pixels, cv2.IMREAD_COLOR)
        return None if image is None else np.asarray(image, dtype=np.uint8)

    def _on_grid(self, camera: Camera, kp: Keypoints, width: int, height: int) -> Keypoints:
        """``kp`` moved to the calibration's pixel grid when the frame was resized."""
        cw, ch = camera.size
        sx, sy = cw / max(width, 1), ch / max(height, 1)
        if abs(sx - 1.0) <= _SAME_GRID and abs(sy - 1.0) <= _SAME_GRID:
            return kp
        if abs(sx - sy) > _SAME_GRID * max(sx, sy):
            if camera.name not in self._grid_warned:
                self._grid_warned.add(camera.name)
                logger.warning(
                    "camera %s: frames are %dx%d but the calibration is %dx%d with another "
                    "aspect ratio; keypoints used unscaled",
                    camera.name,
                    width,
                    height,
                    cw,
                    ch,
                )
            return kp
        return Keypoints(kp.points * (sx, sy), kp.confidence, kp.raw)

    def process(self, bundle: Bundle, frames: Mapping[str, ViewFrame | None]) -> PoseOutput:
        """The pose of ``bundle``; ``frames`` by camera id (absent or None: pixels not received)."""
        return self.fuse(self.detect(bundle, frames))

    @property
    def per_camera(self) -> bool:
        """Whether views can be detected one by one as frames arrive (a detector with state per
        camera) rather than together per bundle (a batching detector)."""
        return self.detector.per_camera

    def detect_frame(self, camera_id: str, frame: ViewFrame) -> FrameDetection:
        """Decode and detect one camera's frame (per-camera mode: call in each camera's frame
        order, from one thread per camera)."""
        t0 = time.perf_counter()
        image = self._decode(frame)
        t1 = time.perf_counter()
        if self._needs_pixels and image is None:
            return FrameDetection(None, None, "image could not be decoded", (t1 - t0) * 1e3, 0.0)
        view = frame.view(camera_id, image, frame.header.t_capture_ns)
        size = None if image is None else (image.shape[1], image.shape[0])
        try:
            people = self.detector.detect([view])[0]
        except Exception as exc:  # noqa: BLE001 (a bad image must not stop the rig: the pose says why)
            return FrameDetection(None, size, self._detector_failed(exc), (t1 - t0) * 1e3, 0.0)
        t2 = time.perf_counter()
        return FrameDetection(people, size, None, (t1 - t0) * 1e3, (t2 - t1) * 1e3)

    def _detector_failed(self, exc: Exception) -> str:
        """Count and log (the first time with its traceback, then every 100th) a failure."""
        self.detector_errors += 1
        n = self.detector_errors
        if n == 1 or n % 100 == 0:
            logger.error("detector failed (%d times so far): %s", n, exc, exc_info=n == 1)
        return f"detector failed: {exc}"

    def detect(
        self,
        bundle: Bundle,
        frames: Mapping[str, ViewFrame | None],
        ready: Mapping[str, FrameDetection | None] | None = None,
    ) -> Detected:
        """The first stage: decode and detect every view (thread-safe against :meth:`fuse` of
        an earlier bundle, so a worker can overlap the two). ``ready``: views already detected
        as their frames arrived (per-camera mode); the others are detected here."""
        t_start = time.perf_counter()
        notes: list[str] = []
        entries: list[tuple[str, ViewFrame, int]] = []  # camera, frame, corrected capture time
        for view in bundle.views:
            if view.header is None or view.offset_ns is None:
                continue
            frame = frames.get(view.camera_id)
            if frame is None or frame.header.seq != view.header.seq:
                notes.append(f"{view.camera_id}: frame {view.header.seq} not received")
                continue
            entries.append((view.camera_id, frame, bundle.t_ref_ns + view.offset_ns))
        done = ready or {}
        todo = [e for e in entries if done.get(e[0]) is None]
        results = dict(done)
        decode_ms = detect_ms = 0.0
        if todo and self.per_camera:
            fresh = self._pool.map(lambda e: self.detect_frame(e[0], e[1]), todo)
            results.update({e[0]: r for e, r in zip(todo, fresh, strict=True)})
        elif todo:
            fresh_batch = self._detect_together(todo)
            results.update({e[0]: r for e, r in zip(todo, fresh_batch, strict=True)})
        seen: list[tuple[str, int]] = []
        people: list[People] = []
        sizes: list[tuple[int, int] | None] = []
        for cam, _, t_cap in entries:
            r = results.get(cam)
            if r is None:
                continue
            decode_ms, detect_ms = max(decode_ms, r.decode_ms), max(detect_ms, r.detect_ms)
            if r.people is None:
                notes.append(f"{cam}: {r.error}")
                continue
            seen.append((cam, t_cap))
            people.append(r.people)
            sizes.append(r.size)
        timings = {
            "decode": decode_ms,
            "detect": detect_ms,
            "wait": (time.perf_counter() - t_start) * 1000.0,
        }
        return Detected(bundle, seen, people, sizes, notes, timings)

    def _detect_together(
        self, entries: list[tuple[str, ViewFrame, int]]
    ) -> list[FrameDetection | None]:
        """Decode the views in parallel and detect them in one call (a batching detector)."""
        t0 = time.perf_counter()
        images = self._pool.map(lambda e: self._decode(e[1]), entries)
        t1 = time.perf_counter()
        decode_ms = (t1 - t0) * 1000.0
        views, sizes = [], []
        out: list[FrameDetection | None] = [None] * len(entries)
        for i, ((cam, frame, t_cap), image) in enumerate(zip(entries, images, strict=True)):
            if self._needs_pixels and image is None:
                out[i] = FrameDetection(None, None, "image could not be decoded", decode_ms, 0.0)
                continue
            views.append((i, frame.view(cam, image, t_cap)))
            sizes.append(None if image is None else (image.shape[1], image.shape[0]))
        try:
            found = self.detector.detect([v for _, v in views])
            error = None
        except Exception as exc:  # noqa: BLE001 (a bad image must not stop the rig: the pose says why)
            found, error = [], self._detector_failed(exc)
        detect_ms = (time.perf_counter() - t1) * 1000.0
        for k, ((i, _), size) in enumerate(zip(views, sizes, strict=True)):
            found_k = found[k] if error is None else None
            out[i] = FrameDetection(found_k, size, error, decode_ms, detect_ms)
        return out

    def fuse(self, detected: Detected) -> PoseOutput:
        """The second stage: keypoints put right, people told apart, fused, filtered (bundles
        in order)."""
        t_start = time.perf_counter()
        bundle, notes = detected.bundle, detected.notes
        views: dict[str, ViewPeople | None] = {}
        for (cam, t_cap), found, size in zip(
            detected.views, detected.people, detected.sizes, strict=True
        ):
            skeletons = []
            for kp in found:
                if size is not None:
                    kp = self._on_grid(self.rig.camera(cam), kp, size[0], size[1])
                conf = np.where(kp.confidence >= self.min_confidence, kp.confidence, 0.0)
                skeletons.append(Skeleton2D(kp.points, conf))
            views[cam] = ViewPeople(t_cap / NS_PER_S, skeletons)
        tick = self.tracker.step(bundle.t_ref_ns / NS_PER_S, views)
        latency = dict(detected.timings_ms)
        for person in tick.people:  # the engines ran together: the slowest stage counts
            for stage, ms in person.result.timings_ms.items():
                latency[stage] = max(latency.get(stage, 0.0), ms)
        latency["fuse"] = latency.get("fuse", 0.0) + tick.timings_ms["associate"]
        fused_ms = (time.perf_counter() - t_start) * 1000.0
        latency["total"] = detected.timings_ms["wait"] + fused_ms
        reason = None
        if not tick.people:
            reason = self._no_pose_reason(detected, tick)
            if notes:
                reason = f"{reason} ({'; '.join(notes)})"
        used = {cam for person in tick.people for cam in person.result.views_used}
        message = PoseResult(
            bundle_seq=bundle.bundle_seq,
            t_ref_ns=bundle.t_ref_ns,
            calibration_id=self.calibration_id,
            joint_names=list(JOINTS),
            camera_ids=self.rig.names,
            person_ids=[p.person_id for p in tick.people],
            views_used=[name for name in self.rig.names if name in used],
            people_views=[list(p.result.views_used) for p in tick.people],
            offsets_ms={
                v.camera_id: round(v.offset_ns / 1e6, 3)
                for v in bundle.views
                if v.offset_ns is not None
            },
            frame_seqs={v.camera_id: v.header.seq for v in bundle.views if v.header is not None},
            method=self.engine.method,
            detector=self.detector.name,
            reason=reason,
            latency_ms={k: round(v, 3) for k, v in latency.items()},
        )
        return PoseOutput(message, self._arrays(tick))

    def _arrays(self, tick: TrackerTick) -> dict[str, AnyArray]:
        V, J = len(self.rig.cameras), len(JOINTS)
        P = len(tick.people)
        arrays: dict[str, AnyArray] = {
            "positions": np.array([p.result.pose for p in tick.people], np.float32).reshape(
                P, J, 3
            ),
            "uncertainty": np.array(
                [p.result.uncertainty for p in tick.people], np.float32
            ).reshape(P, J),
        }
        if self.keypoints_2d:
            kp2d = np.full((P, V, J, 3), np.nan, np.float32)
            for i, p in enumerate(tick.people):
                ok = (p.confidence > 0) & np.isfinite(p.points).all(-1)
                kp2d[i, ..., :2] = np.where(ok[..., None], p.points, np.nan)
                kp2d[i, ..., 2] = np.where(ok, p.confidence, np.nan)
            arrays["keypoints_2d"] = kp2d
        return arrays

    def _no_pose_reason(self, detected: Detected, tick: TrackerTick) -> str:
        """Why a tick has nobody: too few views, nobody two views agree on, or a person
        followed not posed this tick (their engine's reason)."""
        with_people = sum(1 for found in detected.people if found)
        need = self.engine.min_views
        if with_people < need:
            return f"{with_people} view(s) with a person, need {need}"
        if tick.tracked == 0:
            return "nobody seen by two views that agree"
        return "the people tracked could not be posed this tick (too few views agree)"

    def close(self) -> None:
        self._pool.close()
        self.detector.close()
