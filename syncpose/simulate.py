"""Weakly synchronised multi-view 2D from real motion capture: the project's measuring stick.

For a clip, a rig and a tick rate: the subject is placed and turned at random in a 2 m x 2 m
area; each camera gets a constant offset δ_v ~ U(0, one period) (camera 0: 0) plus per-frame
jitter; view ``v`` at tick ``t_ref`` sees the pose at ``t_ref + δ_v + jitter`` (cubic
interpolation of the clip), projected through its (distorted) camera; then the detector error
model (SynSP's taxonomy) is applied. The *same* noise is applied to the oracle observations
(all offsets 0), so methods can be compared against the synchronised floor.

Detector error model (defaults, all in :class:`DetectorNoise`): Gaussian jitter of 1.5 px at
1000 px focal length (scaled with focal length and with 1/depth, i.e. constant in the body's
size), correlated from frame to frame (AR(1), ρ = 0.5: real detectors track and smooth, so
consecutive errors are not independent — with white noise, averaging two frames would look
better than a synchronised single frame), 1 % outliers displaced by 20-100 px, 2 % missed
joints (confidence 0), left/right swaps in 0.5 % of a view's frames, and confidence from 0.95
falling with distance beyond 4 m and for joints behind the body (self-occlusion proxy: farther
than the pelvis from the camera by 0.15 m), whose jitter doubles. Deterministic for a seed.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from syncpose.arrays import BoolArray, FloatArray
from syncpose.camera import Camera, Rig, look_at, ring_position
from syncpose.config import RigConfig, SyntheticSourceConfig
from syncpose.keypoints import KeypointTracks
from syncpose.motion import Clip, Motion
from syncpose.skeleton import JOINTS, LEFT_RIGHT, MOCAP

_PELVIS = JOINTS.index("pelvis")


@dataclass(frozen=True)
class DetectorNoise:
    """The detector error model; see the module docstring."""

    jitter_px: float = 1.5  # σ at 1000 px focal length and 4 m
    temporal_correlation: float = 0.5  # AR(1) coefficient of the jitter between frames
    outlier_rate: float = 0.01
    outlier_px: tuple[float, float] = (20.0, 100.0)
    miss_rate: float = 0.02
    swap_rate: float = 0.005
    base_confidence: float = 0.95
    occluded_confidence: float = 0.55

    @classmethod
    def none(cls) -> DetectorNoise:
        return cls(0.0, 0.0, 0.0, (0.0, 0.0), 0.0, 0.0, 1.0, 1.0)


@dataclass(frozen=True)
class SyncModel:
    """How cameras are (not) synchronised."""

    fps: float = 30.0
    # "uniform": δ_v ~ U(0, T), camera 0 at 0 (t_ref on camera 0's frames); "aligned":
    # δ_v ~ U(−T/2, T/2), every camera (t_ref where an aligner puts it, each view's nearest
    # frame); "none": all 0
    offsets: str = "uniform"
    jitter_ms: float = 1.0
    drop_rate: float = 0.0
    missing_views: int = 0  # views missing from every bundle (a different random set per tick)


def default_rig(n_cameras: int = 4) -> Rig:
    """The evaluation rig: 4 (or ``n_cameras``) cameras 1280x720, f = 1000 px, evenly on a 4 m
    circle at 1.2-2.5 m, aimed at the middle of the capture area."""
    return Rig(
        tuple(
            look_at(ring_position(i, n_cameras), (0.0, 0.0, 1.0), 1000.0, 1280, 720, name=f"cam{i}")
            for i in range(n_cameras)
        )
    )


def random_rig(rng: np.random.Generator, n_cameras: int | None = None) -> Rig:
    """2-8 cameras with varied placement (arc, radius, height), intrinsics and distortion."""
    n = int(n_cameras or rng.integers(2, 9))
    start = rng.uniform(0.0, 2.0 * math.pi)
    spread = rng.uniform(math.pi / 2.0, 2.0 * math.pi)
    sizes = [(1280, 720), (1920, 1080), (640, 480), (1080, 1920)]
    cams = []
    for i in range(n):
        angle = start + spread * (i + rng.uniform(-0.2, 0.2)) / max(n, 1)
        radius = rng.uniform(2.5, 6.0)
        pos = (radius * math.cos(angle), radius * math.sin(angle), rng.uniform(0.6, 3.0))
        target = (rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4), rng.uniform(0.7, 1.3))
        w, h = sizes[int(rng.integers(len(sizes)))]
        f = rng.uniform(0.55, 1.1) * max(w, h)
        dist = np.array([rng.uniform(-0.3, 0.1), rng.uniform(-0.05, 0.1), 0.0, 0.0, 0.0])
        cams.append(look_at(pos, target, f, w, h, name=f"cam{i}", dist=dist))
    return Rig(tuple(cams))


def place_subject(clip: Clip, rng: np.random.Generator, area_m: float = 2.0) -> FloatArray:
    """The clip's positions (T, J, 3) moved so its mean pelvis is at a random point of the
    ``area_m`` square and turned by a random yaw."""
    pos = clip.positions
    centre = pos[:, 0, :2].mean(axis=0)
    yaw = rng.uniform(0.0, 2.0 * math.pi)
    R = np.array([[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]])
    shift = rng.uniform(-area_m / 2.0, area_m / 2.0, size=2)
    out = pos.copy()
    out[..., :2] = (pos[..., :2] - centre) @ R.T + shift
    return out


@dataclass
class Sequence2D(KeypointTracks):
    """One simulated clip: the detections (:class:`~syncpose.keypoints.KeypointTracks`, weakly
    synchronised) and the simulation's ground truth. Shapes: K ticks, V views, J = len(JOINTS).

    ``clip`` the clip's name; ``truth`` (K, J, 3) the pose at each tick; ``oracle``
    (V, K, J, 2) the detections with every offset 0 (same noise); ``offsets`` (V,) the
    constant δ_v in seconds.
    """

    clip: str
    truth: FloatArray
    oracle: FloatArray
    offsets: FloatArray


def simulate_clip(
    clip: Clip,
    rig: Rig,
    rng: np.random.Generator,
    *,
    sync: SyncModel = SyncModel(),
    noise: DetectorNoise = DetectorNoise(),
    max_ticks: int | None = None,
) -> Sequence2D:
    """Simulate one clip (see the module docstring); needs a clip longer than two periods."""
    period = 1.0 / sync.fps
    V = len(rig.cameras)
    positions = place_subject(clip, rng)
    placed = Clip(clip.name, positions, clip.fps)
    # Ticks from one period in (so every view has a previous frame) to one period before the end.
    t_ref = np.arange(period, clip.duration_s - period, period)
    if max_ticks is not None:
        t_ref = t_ref[:max_ticks]
    K = len(t_ref)
    if sync.offsets == "uniform":
        offsets = np.concatenate([[0.0], rng.uniform(0.0, period, V - 1)])
    elif sync.offsets == "aligned":
        offsets = rng.uniform(-period / 2.0, period / 2.0, V)
    elif sync.offsets == "none":
        offsets = np.zeros(V)
    else:
        raise ValueError(f"unknown offsets model {sync.offsets!r} (uniform, aligned or none)")
    jitter = (
        rng.normal(0.0, sync.jitter_ms / 1000.0, size=(V, K))
        if sync.jitter_ms
        else np.zeros((V, K))
    )
    t_capture = t_ref[None] + offsets[:, None] + jitter
    truth = clip_joints(placed, t_ref)
    seen = clip_joints(placed, np.clip(t_capture, 0.0, placed.duration_s))  # (V, K, J, 3)
    points = np.stack([cam.project(seen[v]) for v, cam in enumerate(rig.cameras)])
    oracle = np.stack([cam.project(truth) for cam in rig.cameras])
    confidence, noise_px, swap = detector_errors(rig, seen, rng, noise, (V, K))
    points, oracle = points + noise_px, oracle + noise_px
    for v, k in zip(*np.nonzero(swap), strict=True):
        for a, b in LEFT_RIGHT:
            points[v, k, [a, b]] = points[v, k, [b, a]]
            oracle[v, k, [a, b]] = oracle[v, k, [b, a]]
    if sync.missing_views:
        if sync.missing_views >= V:
            raise ValueError(f"cannot leave {sync.missing_views} of {V} views out of every bundle")
        order = np.argsort(rng.random((V, K)), axis=0)  # a random permutation of views per tick
        gone = np.zeros((V, K), dtype=bool)
        np.put_along_axis(gone, order[: sync.missing_views], True, axis=0)
        for arr in (points, oracle):
            arr[gone] = np.nan
        t_capture = np.where(gone, np.nan, t_capture)
    if sync.drop_rate:
        dropped = rng.random((V, K)) < sync.drop_rate
        points[dropped] = np.nan
        t_capture = np.where(dropped, np.nan, t_capture)
    for arr in (points, oracle):
        outside = ~np.stack([cam.in_image(arr[v]) for v, cam in enumerate(rig.cameras)])
        arr[outside] = np.nan
    confidence = np.where(np.isfinite(points).all(axis=-1), confidence, 0.0)
    tracks = (rig, t_ref, points, confidence, t_capture)  # the KeypointTracks part
    return Sequence2D(*tracks, clip=clip.name, truth=truth, oracle=oracle, offsets=offsets)


def clip_joints(clip: Clip, t: FloatArray) -> FloatArray:
    joints, _ = MOCAP.apply(clip.sample(t))
    return joints


def confidence_and_scale(
    noise: DetectorNoise, focal_px: float, depth: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Confidence and jitter σ (pixels), both (..., J), of keypoints at camera-frame ``depth``
    (..., J) metres: lower confidence far away and behind the body, where jitter doubles."""
    behind = depth > depth[..., _PELVIS : _PELVIS + 1] + 0.15
    far = np.clip((depth - 4.0) / 8.0, 0.0, 0.5)
    conf = np.where(behind, noise.occluded_confidence, noise.base_confidence) - far
    scale = noise.jitter_px * (focal_px / 1000.0) * (4.0 / np.maximum(depth, 0.5))
    return conf, scale * np.where(behind, 2.0, 1.0)


def _outliers(rng: np.random.Generator, noise: DetectorNoise, shape: tuple[int, ...]) -> FloatArray:
    """(*shape, 2) pixel displacements: non-zero for the ``outlier_rate`` share of keypoints."""
    out = rng.random(shape) < noise.outlier_rate
    mag = rng.uniform(*noise.outlier_px, size=shape)
    ang = rng.uniform(0.0, 2.0 * math.pi, size=shape)
    shift: FloatArray = (out * mag)[..., None] * np.stack([np.cos(ang), np.sin(ang)], axis=-1)
    return shift


def detector_errors(
    rig: Rig, seen: FloatArray, rng: np.random.Generator, noise: DetectorNoise, vk: tuple[int, int]
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Confidence (V, K, J), pixel noise (V, K, J, 2) and swapped view-frames (V, K)."""
    V, K = vk
    J = len(JOINTS)
    conf = np.empty((V, K, J))
    scale = np.empty((V, K, J))
    for v, cam in enumerate(rig.cameras):
        depth = cam.to_camera(seen[v])[..., 2]  # (K, J)
        conf[v], scale[v] = confidence_and_scale(noise, float(cam.K[0, 0]), depth)
    white = rng.normal(size=(V, K, J, 2))
    rho = noise.temporal_correlation
    if rho:
        innovation = math.sqrt(1.0 - rho * rho)
        for k in range(1, K):
            white[:, k] = rho * white[:, k - 1] + innovation * white[:, k]
    noise_px = white * scale[..., None]
    if noise.outlier_rate:
        noise_px += _outliers(rng, noise, (V, K, J))
    if noise.miss_rate:
        conf[rng.random((V, K, J)) < noise.miss_rate] = 0.0
    swap = rng.random((V, K)) < noise.swap_rate if noise.swap_rate else np.zeros((V, K), bool)
    noise_px = np.where((conf > 0)[..., None], noise_px, np.nan)
    return np.clip(conf, 0.0, 1.0), noise_px, swap


class DetectorErrorStream:
    """The same detector error model, applied frame by frame to one camera's true keypoints
    (the live synthetic detector). The jitter's AR(1) state carries from call to call."""

    def __init__(self, noise: DetectorNoise, focal_px: float, rng: np.random.Generator) -> None:
        self.noise = noise
        self.focal_px = focal_px
        self.rng = rng
        self._white: FloatArray | None = None

    def apply(self, uv: FloatArray, depth: FloatArray) -> tuple[FloatArray, FloatArray]:
        """True ``uv`` (J, 2) pixels (NaN = not visible) at camera-frame ``depth`` (J,) metres
        -> detected points (J, 2) (NaN = missed) and confidence (J,)."""
        noise, rng = self.noise, self.rng
        J = uv.shape[0]
        conf, scale = confidence_and_scale(noise, self.focal_px, np.asarray(depth, np.float64))
        fresh = rng.normal(size=(J, 2))
        rho = noise.temporal_correlation
        if self._white is None or not rho:
            self._white = fresh
        else:
            self._white = rho * self._white + math.sqrt(1.0 - rho * rho) * fresh
        points = uv + self._white * scale[:, None]
        if noise.outlier_rate:
            points = points + _outliers(rng, noise, (J,))
        if noise.miss_rate:
            conf = np.where(rng.random(J) < noise.miss_rate, 0.0, conf)
        if noise.swap_rate and rng.random() < noise.swap_rate:
            for a, b in LEFT_RIGHT:
                points[[a, b]] = points[[b, a]]
        conf = np.where(np.isfinite(points).all(axis=1), np.clip(conf, 0.0, 1.0), 0.0)
        return np.where((conf > 0)[:, None], points, np.nan), conf


def synthetic_camera(
    config: SyntheticSourceConfig, camera_id: str, index: int, count: int
) -> Camera:
    """The camera a synthetic source films through (also its exact calibration)."""
    position = config.position or ring_position(index, count)
    return look_at(
        position, config.look_at, config.focal_px, config.width, config.height, name=camera_id
    )


def synthetic_rig(config: RigConfig) -> Rig:
    """The exact calibration of a rig whose cameras are all synthetic."""
    cams = []
    for i, cam in enumerate(config.cameras):
        if not isinstance(cam.source, SyntheticSourceConfig):
            raise ValueError(f"camera {cam.id!r} is not synthetic: it needs a calibration file")
        cams.append(synthetic_camera(cam.source, cam.id, i, len(config.cameras)))
    return Rig(tuple(cams), {"synthetic": config.rig.name})


class MotionPlayer:
    """Plays the clips of a motion (one named clip, or all in turn) as an endless timeline.

    Each clip plays forwards, then backwards: the motion never jumps where a clip would start
    again (a jump no camera could see coming, and no tracker should be judged on).
    """

    def __init__(self, motion: Motion, clip: str | None = None) -> None:
        self.motion = motion
        self.clips = (motion.clip(clip),) if clip else motion.clips
        self._durations = [max(c.duration_s, 1.0 / c.fps) for c in self.clips]
        self._starts = np.concatenate([[0.0], np.cumsum([2.0 * d for d in self._durations])])
        self.total_s = float(self._starts[-1])

    def pose_at(self, t_s: float) -> FloatArray:
        """(J, 3) joint positions in metres at timeline time ``t_s`` (wraps around)."""
        t = t_s % self.total_s
        i = min(bisect.bisect_right(self._starts, t) - 1, len(self.clips) - 1)
        u, d = t - self._starts[i], self._durations[i]
        return self.clips[i].sample(u if u <= d else 2.0 * d - u)
