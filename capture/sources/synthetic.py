"""A virtual camera looking at a person — or several — who move with real motion capture.

Frame ``k`` is due at ``epoch + clock_offset + k * period + jitter_k``. The source sleeps until
then, stamps the actual instant, and renders the pose *at that instant*, so image, true
keypoints and timestamp agree exactly. Dropped frames and stalls leave gaps that the worker
turns into ``seq`` gaps; a frame more than one period overdue (the process was starved) is
dropped the same way. Several people (``people`` > 1) walk the paths of
:func:`~syncpose.scenes.crossing_paths` (the same scene in every camera given the same seed),
played to and fro so the scene never jumps; the true keypoints are then (P, J, 2).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from syncpose.arrays import FloatArray, ImageArray
from syncpose.camera import Camera
from syncpose.capture.sources.base import SourceFrame
from syncpose.clock import NS_PER_S, Clock, ms_to_ns, period_ns
from syncpose.config import SyntheticSourceConfig
from syncpose.motion import Motion, load_motion
from syncpose.scenes import Paths, crossing_paths
from syncpose.simulate import MotionPlayer, synthetic_camera


class SkeletonRenderer:
    """Draws a floor grid and a stick figure; cheap enough for 4 x 60 fps at 1280x720."""

    def __init__(self, camera: Camera, bones: list[tuple[int, int]]) -> None:
        self.camera = camera
        self.bones = bones
        self.background = self._background()

    def _background(self) -> ImageArray:
        cam = self.camera
        img = np.full((cam.size[1], cam.size[0], 3), (58, 52, 48), dtype=np.uint8)
        ticks = np.linspace(-3.0, 3.0, 13)
        for a in ticks:
            for p, q in (((a, -3.0, 0.0), (a, 3.0, 0.0)), ((-3.0, a, 0.0), (3.0, a, 0.0))):
                seg = np.linspace(p, q, 24)
                uv = cam.project(seg)
                ok = np.isfinite(uv).all(axis=1)
                pts = uv[ok].round().astype(np.int32)
                if len(pts) >= 2:
                    cv2.polylines(img, [pts], False, (96, 96, 96), 1, cv2.LINE_AA)
        return img

    def render(self, uv: FloatArray, depth: FloatArray | None = None) -> ImageArray:
        """A fresh image with the skeletons whose joints project to ``uv`` (J, 2) or (P, J, 2)
        (``depth`` (P,): the farthest drawn first, so nearer people cover them)."""
        img = self.background.copy()
        people = uv[None] if uv.ndim == 2 else uv
        order = np.argsort(-depth) if depth is not None else range(len(people))
        for i in order:
            one = people[i]
            ok = np.asarray(np.isfinite(one).all(axis=1), dtype=bool)
            pts = np.where(ok[:, None], one, 0).round().astype(np.int32)
            colour = _COLOURS[int(i) % len(_COLOURS)]
            for p, c in self.bones:
                if ok[p] and ok[c]:
                    cv2.line(img, tuple(pts[p]), tuple(pts[c]), colour, 6)
            for j in np.flatnonzero(ok):
                cv2.circle(img, tuple(pts[j]), 5, (255, 255, 255), -1)
        return img


_COLOURS = ((60, 200, 255), (255, 180, 60), (140, 255, 120), (200, 120, 255))
#: A scene of several people is planned this long, then played backwards, and so on.
_SCENE_S = 120.0


class SyntheticSource:
    """A :class:`~syncpose.capture.sources.base.FrameSource` for a simulated camera."""

    def __init__(
        self,
        config: SyntheticSourceConfig,
        *,
        camera_id: str,
        camera_index: int,
        camera_count: int,
        rig_fps: float,
        epoch_ns: int,
        clock: Clock,
        motion: Motion | None = None,
    ) -> None:
        self.config = config
        self.description = f"synthetic camera {camera_id!r}"
        self._clock = clock
        self._epoch = epoch_ns
        self._fps = config.fps or rig_fps
        self._period = period_ns(self._fps)
        self._offset = ms_to_ns(config.clock_offset_ms)
        self._jitter = ms_to_ns(config.jitter_ms)
        self._rng = np.random.default_rng([config.seed, camera_index])
        self.player = MotionPlayer(motion or load_motion(config.motion), config.clip)
        self.paths: Paths | None = None
        if config.people > 1:
            clip = self.player.clips[0]
            rng = np.random.default_rng(config.people_seed)
            self.paths = crossing_paths(clip, config.people, rng, duration_s=_SCENE_S, raw=True)
        self.camera = synthetic_camera(config, camera_id, camera_index, camera_count)
        self.renderer = SkeletonRenderer(self.camera, self.player.motion.bones)
        self._names = self.player.motion.joint_names
        self._k = 0

    def open(self) -> None:
        # Start at the first frame that is not already overdue.
        now = self._clock.now_ns()
        base = self._epoch + self._offset
        self._k = max(0, math.ceil((now - base) * self._fps / NS_PER_S))

    def _due(self, k: int) -> int:
        t = self._epoch + self._offset + round(k * NS_PER_S / self._fps)  # no drift
        if self._jitter:
            t += round(self._rng.normal(0.0, self._jitter))
        return t

    def read(self) -> SourceFrame:
        skipped = 0
        cfg = self.config
        while True:
            due = self._due(self._k)
            self._k += 1
            if cfg.stall_rate and self._rng.random() < cfg.stall_rate:
                stall_frames = max(1, round(ms_to_ns(cfg.stall_ms) / self._period))
                self._k += stall_frames - 1
                skipped += stall_frames
                continue
            if cfg.drop_rate and self._rng.random() < cfg.drop_rate:
                skipped += 1
                continue
            if self._clock.now_ns() - due > self._period:
                skipped += 1  # overdue by a whole period: a real camera would have lost it
                continue
            break
        self._clock.sleep_until_ns(due)
        t = self._clock.now_ns()
        t_s = (t - self._epoch) / NS_PER_S
        if self.paths is None:
            pose = self.player.pose_at(t_s)
        else:
            u = t_s % (2.0 * _SCENE_S)  # to and fro: the scene never jumps
            pose = self.paths(np.array([u if u <= _SCENE_S else 2.0 * _SCENE_S - u]))[0]
        uv = self.camera.project(pose)
        visible = np.isfinite(uv).all(axis=-1) & self.camera.in_image(uv)
        keypoints = np.where(visible[..., None], uv, np.nan).astype(np.float32)
        cam_xyz = self.camera.to_camera(pose)
        depth = cam_xyz[..., 2].astype(np.float32)
        pelvis_depth = None if self.paths is None else cam_xyz[:, 0, 2]
        return SourceFrame(
            image=self.renderer.render(uv, pelvis_depth),
            t_capture_ns=t,
            skipped=skipped,
            device_ts_ns=due,
            keypoints=keypoints,
            keypoint_names=self._names,
            keypoint_depth=depth,
        )

    def close(self) -> None:
        return None
