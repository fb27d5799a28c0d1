"""The denoiser's inputs, built from any rig's 2D evidence in a rig-independent form (numpy only).

A bundle at tick ``t_ref`` becomes, in a *body frame* (origin at the initial pelvis estimate, Z
up, turned so that the initial hips point along +Y: the subject's yaw is removed):

* ``init`` (J, 3): the initial estimate, time-aware robust triangulation (``init_valid`` marks
  joints it could solve; the others are placed at the origin);
* observations: each view's current *and* previous frame is one observation ``o`` (so O = 2V),
  with the camera centre (3), the unit ray through each joint's keypoint (J, 3), the detector
  confidence (J; 0 = missing), the time offset ``delta`` = capture time − t_ref in seconds (the
  δ_v the aligner knows, negative for previous frames) and ``focal`` = 1000 / focal length in
  pixels (how precise one pixel is as an angle);
* ``history`` (P, J, 3): the initial estimates of the previous ``P`` ticks in this frame, with
  ``history_dt`` (P,) seconds back and ``history_valid`` (P, J): causal context only.

No pixel coordinate and no camera order reaches the model, so it works for any rig of 2-8
cameras. Everything is float32 and batch-first (B = ticks), the layout of the ONNX graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from syncpose.arrays import BoolArray, Float32Array, FloatArray
from syncpose.calibration.triangulate import triangulate
from syncpose.camera import Rig
from syncpose.inference.baselines import reject_px, time_aware_points
from syncpose.skeleton import JOINTS

F32 = Float32Array

HISTORY = 3  # previous ticks of context
_PELVIS = JOINTS.index("pelvis")
_HIPS = (JOINTS.index("l_hip"), JOINTS.index("r_hip"))
_SHOULDERS = (JOINTS.index("l_shoulder"), JOINTS.index("r_shoulder"))

#: Names of the model inputs, in graph order (``noise`` is added by the runtime).
INPUT_NAMES = (
    "init",
    "init_valid",
    "centres",
    "rays",
    "confidence",
    "delta",
    "focal",
    "history",
    "history_dt",
    "history_valid",
)


@dataclass
class DenoiserInputs:
    """A batch of B bundles in the body frame, plus what maps results back to the world."""

    init: F32  # (B, J, 3)
    init_valid: F32  # (B, J)
    centres: F32  # (B, O, 3)
    rays: F32  # (B, O, J, 3)
    confidence: F32  # (B, O, J)
    delta: F32  # (B, O)
    focal: F32  # (B, O)
    history: F32  # (B, P, J, 3)
    history_dt: F32  # (B, P)
    history_valid: F32  # (B, P, J)
    origin: FloatArray  # (B, 3) world position of the body frame's origin
    yaw: FloatArray  # (B,) radians; body = Rz(-yaw) (world - origin)
    usable: BoolArray  # (B,) at least one joint triangulated

    def feed(self) -> dict[str, F32]:
        return {name: getattr(self, name) for name in INPUT_NAMES}

    def __len__(self) -> int:
        return len(self.init)

    @classmethod
    def concat(cls, parts: Sequence[DenoiserInputs]) -> DenoiserInputs:
        """One batch of ``parts`` in order (all from rigs with the same number of views)."""
        if len(parts) == 1:
            return parts[0]  # one person (every single-person tick): nothing to copy
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )

    def take(self, index: npt.ArrayLike | slice) -> DenoiserInputs:
        """The bundles at ``index`` (any numpy index)."""
        return DenoiserInputs(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def to_world(self, body: npt.ArrayLike) -> FloatArray:
        """Body-frame points (B, ..., 3) -> world (B, ..., 3)."""
        return to_world(body, self.origin, self.yaw)


def _finite(points: FloatArray) -> BoolArray:
    """(...,) whether every coordinate of points (..., 3) is finite."""
    return np.asarray(np.isfinite(points).all(axis=-1), dtype=np.bool_)


def _turn(p: FloatArray, yaw: FloatArray) -> FloatArray:
    """Points (B, ..., 3) turned about Z by ``yaw`` (B,)."""
    shape = (len(yaw),) + (1,) * (p.ndim - 2)
    c, s = np.cos(yaw).reshape(shape), np.sin(yaw).reshape(shape)
    return np.stack([c * p[..., 0] - s * p[..., 1], s * p[..., 0] + c * p[..., 1], p[..., 2]], -1)


def to_body(world: npt.ArrayLike, origin: FloatArray, yaw: FloatArray) -> FloatArray:
    """World points (B, ..., 3) -> the body frames of ``origin`` (B, 3) and ``yaw`` (B,)."""
    p = np.asarray(world, dtype=np.float64)
    return _turn(p - origin.reshape(len(yaw), *(1,) * (p.ndim - 2), 3), -yaw)


def to_world(body: npt.ArrayLike, origin: FloatArray, yaw: FloatArray) -> FloatArray:
    """Body-frame points (B, ..., 3) -> world (B, ..., 3)."""
    p = np.asarray(body, dtype=np.float64)
    return _turn(p, yaw) + origin.reshape(len(yaw), *(1,) * (p.ndim - 2), 3)


def initial_estimate(
    rig: Rig,
    points: FloatArray,
    confidence: FloatArray,
    t_capture: FloatArray,
    t_ref: FloatArray,
) -> FloatArray:
    """(K, J, 3) time-aware robust triangulation: the centre of the informed distribution."""
    moved = time_aware_points(points, t_capture, t_ref)
    return triangulate(rig, moved, confidence, max_error_px=reject_px(rig)).points


def body_frame(init: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Origin (K, 3) and yaw (K,) of each tick's body frame from its initial estimate: the
    pelvis (else the mean of the solved joints); yaw from the hips (else the shoulders, else 0)
    such that left-minus-right hip points along +Y after removing it."""
    K = len(init)
    solved = _finite(init)  # (K, J)
    total = np.where(solved[..., None], init, 0.0).sum(axis=1)
    mean = total / np.maximum(solved.sum(axis=1), 1)[:, None]
    origin = np.where(np.isfinite(init[:, _PELVIS]), init[:, _PELVIS], mean)
    yaw = np.zeros(K)
    for a, b in (_SHOULDERS, _HIPS):  # hips win where both exist
        across = init[:, a, :2] - init[:, b, :2]
        ok = np.isfinite(across).all(axis=1) & (np.linalg.norm(across, axis=1) > 1e-3)
        # left-minus-right along +Y means the body's +X (forward) is that vector turned by -90°.
        angle = np.arctan2(across[:, 1], across[:, 0]) - np.pi / 2.0
        yaw = np.where(ok, angle, yaw)
    return origin, yaw


def sequence_inputs(
    rig: Rig,
    points: FloatArray,
    confidence: FloatArray,
    t_capture: FloatArray,
    t_ref: FloatArray,
    init: FloatArray | None = None,
    last_only: bool = False,
) -> DenoiserInputs:
    """Inputs for every tick of one causal stream (``last_only``: for its last tick only —
    the same values, without computing the observations of ticks that are not returned).

    ``points`` (V, K, J, 2) pixels (NaN = missing), ``confidence`` (V, K, J), ``t_capture``
    (V, K) seconds (NaN = no frame), ``t_ref`` (K,) seconds; ``init`` (K, J, 3) defaults to
    :func:`initial_estimate`. Tick ``k`` uses only frames ``k`` and ``k - 1`` and the initial
    estimates of ticks ``k - P .. k``: nothing from the future.
    """
    K, J = points.shape[1:3]
    P = HISTORY
    if init is None:
        init = initial_estimate(rig, points, confidence, t_capture, t_ref)
    origin, yaw = body_frame(init)
    init_valid = _finite(init)
    init_body = np.where(init_valid[..., None], to_body(init, origin, yaw), 0.0)

    # History: the previous P initial estimates, in this tick's frame.
    history = np.zeros((K, P, J, 3))
    history_valid = np.zeros((K, P, J))
    history_dt = np.zeros((K, P))
    for p in range(1, P + 1):
        if p >= K:
            break
        past = init[:-p]  # tick k - p for k >= p
        moved = to_body(past, origin[p:], yaw[p:])
        ok = _finite(moved)
        history[p:, p - 1] = np.where(ok[..., None], moved, 0.0)
        history_valid[p:, p - 1] = ok
        history_dt[p:, p - 1] = t_ref[p:] - t_ref[:-p]

    # A joint the triangulation missed starts at its latest solved position in the history,
    # else on its most confident current ray at the pelvis' distance (σ_d is large there).
    filled = init_body.copy()
    for p in range(P, 0, -1):
        use = ~init_valid & (history_valid[:, p - 1] > 0)
        filled[use] = history[:, p - 1][use]
    init_body = filled
    filled_valid = init_valid | (history_valid > 0).any(axis=1)

    # Observations: (V current, V previous) frames.
    prev = np.concatenate([np.full_like(points[:, :1], np.nan), points[:, :-1]], axis=1)
    prev_conf = np.concatenate([np.zeros_like(confidence[:, :1]), confidence[:, :-1]], axis=1)
    prev_t = np.concatenate([np.full_like(t_capture[:, :1], np.nan), t_capture[:, :-1]], axis=1)
    obs_pts = np.concatenate([points, prev])  # (O, K, J, 2)
    obs_conf = np.concatenate([confidence, prev_conf])
    obs_t = np.concatenate([t_capture, prev_t])  # (O, K)
    if last_only:
        sel = slice(K - 1, K)
        obs_pts, obs_conf, obs_t = obs_pts[:, sel], obs_conf[:, sel], obs_t[:, sel]
        origin, yaw, t_ref = origin[sel], yaw[sel], t_ref[sel]
        init_body, init_valid, filled_valid = init_body[sel], init_valid[sel], filled_valid[sel]
        history, history_dt, history_valid = history[sel], history_dt[sel], history_valid[sel]
        K = 1
    cams = list(rig.cameras) * 2
    rays_w = np.stack([cam.rays(np.nan_to_num(obs_pts[o])) for o, cam in enumerate(cams)])
    seen = (
        np.isfinite(obs_pts).all(axis=-1)
        & np.isfinite(obs_conf)
        & (obs_conf > 0)
        & np.isfinite(obs_t)[..., None]
    )
    conf = np.where(seen, obs_conf, 0.0)
    centres_w = np.stack([np.broadcast_to(cam.centre, (K, 3)) for cam in cams])  # (O, K, 3)
    centres = to_body(centres_w.transpose(1, 0, 2), origin, yaw)  # (K, O, 3)
    rays = _turn(rays_w.transpose(1, 0, 2, 3), -yaw)  # (K, O, J, 3): directions only turn
    rays = np.where(seen.transpose(1, 0, 2)[..., None], rays, 0.0)
    conf_k = conf.transpose(1, 0, 2)  # (K, O, J)
    best = conf_k.argmax(axis=1)  # (K, J)
    on_ray = ~filled_valid & (conf_k.max(axis=1) > 0)
    if on_ray.any():
        kk, jj = np.nonzero(on_ray)
        oo = best[kk, jj]
        c_, d_ = centres[kk, oo], rays[kk, oo, jj]
        reach = np.maximum(-(c_ * d_).sum(axis=-1), 0.0)  # closest approach to the origin
        init_body[kk, jj] = c_ + reach[:, None] * d_
    delta = np.where(np.isfinite(obs_t), obs_t - t_ref[None], 0.0)
    focal = np.array([1000.0 / cam.K[0, 0] for cam in cams])

    def f32(a: npt.ArrayLike) -> F32:
        return np.ascontiguousarray(a, dtype=np.float32)

    return DenoiserInputs(
        init=f32(init_body),
        init_valid=f32(init_valid),
        centres=f32(centres),
        rays=f32(rays),
        confidence=f32(conf.transpose(1, 0, 2)),
        delta=f32(delta.T),
        focal=f32(np.broadcast_to(focal, (K, len(cams)))),
        history=f32(history),
        history_dt=f32(history_dt),
        history_valid=f32(history_valid),
        origin=origin,
        yaw=yaw,
        usable=np.asarray(init_valid.any(axis=-1), dtype=np.bool_),
    )
