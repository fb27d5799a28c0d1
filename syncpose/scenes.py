"""Several people in one simulated scene: who each view detects, with true identities kept.

The multi-person counterpart of :func:`~syncpose.simulate.simulate_clip`, the measuring stick
of association and tracking. People move with real motion capture (their limbs) along paths
the scene gives them (:func:`crossing_paths`: straight lines through the middle of the capture
area, walked to and fro at different speeds and in different directions, so paths cross and
people pass in front of each other). Each view sees every person at its own capture time
(weak synchronisation as :class:`~syncpose.simulate.SyncModel` says) through the same detector
error model (:class:`~syncpose.simulate.DetectorNoise`). People hide each other: in each
view, the joints of a person that fall on a nearer person's body (within half a limb's width
of one of their bones) are missed, and a person with too few joints left is not detected at
all. The detections of a view come in no particular order (a detector knows nobody's
identity); ``order`` keeps
which true person each one is, for evaluation only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from syncpose.arrays import BoolArray, FloatArray
from syncpose.camera import Rig
from syncpose.motion import Clip
from syncpose.simulate import DetectorNoise, SyncModel, clip_joints, detector_errors
from syncpose.skeleton import JOINTS, LEFT_RIGHT, MOCAP, PARENTS

#: Closest two simulated people's pelvises come (m): they pass, they do not walk through each
#: other.
MIN_GAP_M = 0.5
#: A joint is hidden behind a nearer person when it falls within this far of one of their
#: bones (half a limb's width, m, scaled to the image by the nearer person's depth) ...
BODY_HALF_WIDTH_M = 0.08
#: ... and a person with fewer than this share of their joints left is not detected at all.
HIDDEN_BELOW = 0.4

Paths = Callable[[FloatArray], FloatArray]  # times (N,) s -> positions (N, P, J, 3) m


@dataclass
class Scene:
    """A simulated multi-person recording. K ticks, V views, P people, J = len(JOINTS).

    ``truth`` (K, P, J, 3) each person's pose at each tick; ``points`` (V, K, P, J, 2) and
    ``confidence`` (V, K, P, J) what each view detected of each true person (NaN / 0 where not
    detected); ``detected`` (V, K, P) whether the view reports that person at all; ``order``
    (V, K, P) the position of each true person in the view's list of detections (-1: not in
    it); ``t_ref`` (K,), ``t_capture`` (V, K) seconds (NaN: the frame was dropped).
    """

    rig: Rig
    t_ref: FloatArray
    t_capture: FloatArray
    truth: FloatArray
    points: FloatArray
    confidence: FloatArray
    detected: BoolArray
    order: np.ndarray

    @property
    def people(self) -> int:
        return int(self.truth.shape[1])

    def detections(self, v: int, k: int) -> list[tuple[int, FloatArray, FloatArray]]:
        """View ``v`` at tick ``k``: ``(true person, points (J, 2), confidence (J,))`` in the
        order the view reports them."""
        found = [int(p) for p in np.argsort(self.order[v, k]) if self.order[v, k, p] >= 0]
        return [(p, self.points[v, k, p], self.confidence[v, k, p]) for p in found]


def crossing_paths(
    clip: Clip,
    people: int,
    rng: np.random.Generator,
    *,
    area_m: float = 3.0,
    duration_s: float = 60.0,
    min_gap_m: float = MIN_GAP_M,
    raw: bool = False,
) -> Paths:
    """``people`` copies of ``clip``'s body motion (each at its own phase, its own travel taken
    out), each walking from one random point of an ``area_m`` square to the next at its own
    pace (0.5-1.2 m/s), so paths cross. Nobody walks through anybody: a step that would bring
    two pelvises closer than ``min_gap_m`` turns aside or waits. Paths are planned for
    ``duration_s`` seconds (later times hold the last position). Joints: the project skeleton,
    or with ``raw`` the clip's own (what a synthetic camera renders)."""
    pos = _pose_source(clip, raw)
    where, heading = _plan(people, rng, area_m, duration_s, min_gap_m)
    phases = rng.uniform(0.0, 2.0 * clip.duration_s, people)
    d = clip.duration_s
    n_joints = pos(np.zeros(1)).shape[1]

    def paths(t: FloatArray) -> FloatArray:
        t = np.asarray(t, dtype=np.float64)
        i = np.clip(t / _STEP_S, 0.0, len(where) - 1.001)
        k = i.astype(int)
        f = (i - k)[:, None, None]
        at = (1.0 - f) * where[k] + f * where[k + 1]  # (N, P, 2)
        out = np.empty((len(t), people, n_joints, 3))
        for p in range(people):
            u = (t + phases[p]) % (2.0 * d)
            body = pos(np.where(u <= d, u, 2.0 * d - u))
            out[:, p] = _turn(body, heading[k, p], at[:, p])
        return out

    return paths


def straight_paths(
    clip: Clip,
    starts: Sequence[tuple[float, float]],
    ends: Sequence[tuple[float, float]],
    duration_s: float,
) -> Paths:
    """People walking straight from ``starts`` to ``ends`` (m) in ``duration_s`` seconds and
    then standing, each with ``clip``'s body motion at its own phase (hand-built scenes)."""
    body = _pose_source(clip)
    a, b = np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64)
    heading = np.arctan2(b[:, 1] - a[:, 1], b[:, 0] - a[:, 0])

    def paths(t: FloatArray) -> FloatArray:
        t = np.asarray(t, dtype=np.float64)
        u = np.clip(t / duration_s, 0.0, 1.0)[:, None]
        return np.stack(
            [
                _turn(body(t + 1.3 * p), float(heading[p]), a[p] + u * (b[p] - a[p]))
                for p in range(len(a))
            ],
            axis=1,
        )

    return paths


_STEP_S = 0.05  # the path planner's time step


def _plan(
    people: int, rng: np.random.Generator, area_m: float, duration_s: float, min_gap_m: float
) -> tuple[FloatArray, FloatArray]:
    """Positions (N, P, 2) and headings (N, P) every :data:`_STEP_S` s (see crossing_paths)."""
    half = area_m / 2.0
    n = int(duration_s / _STEP_S) + 2
    at = np.empty((n, people, 2))
    heading = np.empty((n, people))
    here = _spread(people, rng, half, min_gap_m)
    goal = rng.uniform(-half, half, (people, 2))
    speed = rng.uniform(0.5, 1.2, people)
    facing = rng.uniform(0.0, 2.0 * np.pi, people)
    for k in range(n):
        for p in range(people):
            to = goal[p] - here[p]
            if np.linalg.norm(to) < 0.1:
                goal[p] = rng.uniform(-half, half, 2)
                to = goal[p] - here[p]
            want = float(np.arctan2(to[1], to[0]))
            for turn in (0.0, 0.6, -0.6, 1.2, -1.2, None):
                if turn is None:
                    break  # boxed in: wait
                step = speed[p] * _STEP_S * np.array([np.cos(want + turn), np.sin(want + turn)])
                others = np.delete(here, p, axis=0)
                if len(others) == 0 or np.linalg.norm(others - (here[p] + step), axis=1).min() >= (
                    min_gap_m
                ):
                    here[p] = np.clip(here[p] + step, -half, half)
                    facing[p] = facing[p] + 0.3 * _wrap(want + turn - facing[p])
                    break
        at[k], heading[k] = here, facing
    return at, heading


def _spread(people: int, rng: np.random.Generator, half: float, gap: float) -> FloatArray:
    """Starting points at least ``gap`` apart."""
    for _ in range(1000):
        p = rng.uniform(-half, half, (people, 2))
        d = np.linalg.norm(p[:, None] - p[None], axis=-1) + np.eye(people) * 1e9
        if d.min() >= gap:
            return p
    raise ValueError(f"{people} people do not fit {gap} m apart in a {2 * half} m square")


def _wrap(angle: float) -> float:
    return float((angle + np.pi) % (2.0 * np.pi) - np.pi)


def _pose_source(clip: Clip, raw: bool = False) -> Callable[[FloatArray], FloatArray]:
    """The clip's poses in the project skeleton (``raw``: in the clip's own joints) with its
    pelvis path taken out (the body moves, it does not travel), facing +x at its start."""

    def joints(t: FloatArray) -> FloatArray:
        return np.asarray(clip.sample(t), np.float64) if raw else clip_joints(clip, t)

    first = joints(np.array([0.0]))[0]
    hips = ("UpperLeg_L", "UpperLeg_R") if raw else ("l_hip", "r_hip")
    names = MOCAP.source_names if raw else JOINTS
    left, right = names.index(hips[0]), names.index(hips[1])
    across = first[left, :2] - first[right, :2]
    yaw0 = math.atan2(across[1], across[0]) - math.pi / 2.0  # facing: left hip on the left

    def pos(t: FloatArray) -> FloatArray:
        j = joints(np.asarray(t, np.float64))
        j[..., :2] -= j[:, :1, :2]  # pelvis (the first joint in both) over the origin
        c, s = math.cos(-yaw0), math.sin(-yaw0)
        xy = j[..., :2] @ np.array([[c, s], [-s, c]])
        return np.concatenate([xy, j[..., 2:]], axis=-1)

    return pos


def _turn(body: FloatArray, yaw: float | FloatArray, centre: FloatArray) -> FloatArray:
    """Bodies (N, J, 3) at the origin turned by ``yaw`` (scalar or (N,)) and moved to
    ``centre`` (N, 2)."""
    yaw = np.broadcast_to(np.asarray(yaw, np.float64), (len(body),))
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    x, y = body[..., 0], body[..., 1]
    out = body.copy()
    out[..., 0] = c * x - s * y + centre[:, None, 0]
    out[..., 1] = s * x + c * y + centre[:, None, 1]
    return out


def simulate_scene(
    paths: Paths,
    people: int,
    rig: Rig,
    rng: np.random.Generator,
    *,
    ticks: int,
    sync: SyncModel | None = None,
    noise: DetectorNoise | None = None,
    occlusion: bool = True,
) -> Scene:
    """``ticks`` ticks of ``people`` people moving along ``paths`` seen by ``rig`` (default
    sync: offsets as an aligner makes them; default noise: :class:`DetectorNoise`'s)."""
    sync = sync or SyncModel(offsets="aligned")
    noise = noise or DetectorNoise()
    period = 1.0 / sync.fps
    V, K, P, J = len(rig.cameras), ticks, people, len(JOINTS)
    t_ref: FloatArray = period * (1.0 + np.arange(K, dtype=np.float64))
    offsets = (
        rng.uniform(-period / 2.0, period / 2.0, V)
        if sync.offsets == "aligned"
        else np.zeros(V)
        if sync.offsets == "none"
        else np.concatenate([[0.0], rng.uniform(0.0, period, V - 1)])
    )
    jitter = rng.normal(0.0, sync.jitter_ms / 1000.0, (V, K)) if sync.jitter_ms else 0.0
    t_capture = t_ref[None] + offsets[:, None] + jitter
    truth = paths(t_ref)
    seen = paths(t_capture.reshape(-1)).reshape(V, K, P, J, 3)
    points = np.stack([cam.project(seen[v]) for v, cam in enumerate(rig.cameras)])
    # The error model per person as one long stream per view (its AR(1) runs along time).
    by_person = seen.transpose(0, 2, 1, 3, 4).reshape(V, P * K, J, 3)
    conf, noise_px, swap = detector_errors(rig, by_person, rng, noise, (V, P * K))
    conf = conf.reshape(V, P, K, J).transpose(0, 2, 1, 3)
    noise_px = noise_px.reshape(V, P, K, J, 2).transpose(0, 2, 1, 3, 4)
    swap = swap.reshape(V, P, K).transpose(0, 2, 1)
    points = points + noise_px
    for v, k, p in zip(*np.nonzero(swap), strict=True):
        for a, b in LEFT_RIGHT:
            points[v, k, p, [a, b]] = points[v, k, p, [b, a]]
    inside = np.stack([cam.in_image(points[v]) for v, cam in enumerate(rig.cameras)])
    points[~inside] = np.nan
    detected = np.isfinite(points).all(-1).sum(-1) >= 4  # (V, K, P)
    if occlusion:
        _occlude(rig, seen, points, detected)
    if sync.drop_rate:
        dropped = rng.random((V, K)) < sync.drop_rate
        t_capture = np.where(dropped, np.nan, t_capture)
        detected &= ~dropped[..., None]
    points[~detected] = np.nan
    conf = np.where(np.isfinite(points).all(-1), conf, 0.0)
    order = np.full((V, K, P), -1)
    for v in range(V):
        for k in range(K):
            who = np.flatnonzero(detected[v, k])
            order[v, k, rng.permutation(who)] = np.arange(len(who))
    return Scene(rig, t_ref, t_capture, truth, points, conf, detected, order)


def _occlude(rig: Rig, seen: FloatArray, points: FloatArray, detected: BoolArray) -> None:
    """People hidden by nearer people, in place (see the module docstring)."""
    _, K, P = detected.shape
    bones = np.array([(j, PARENTS[j]) for j in range(len(JOINTS)) if PARENTS[j] >= 0])
    for v, cam in enumerate(rig.cameras):
        depth = cam.to_camera(seen[v][..., 0, :])[..., 2]  # (K, P) pelvis depth
        width = BODY_HALF_WIDTH_M * float(cam.K[0, 0]) / np.maximum(depth, 0.5)  # (K, P) px
        for k in range(K):
            for p in np.argsort(depth[k])[::-1]:  # farthest first
                if not detected[v, k, p]:
                    continue
                hidden = np.zeros(len(JOINTS), dtype=bool)
                for q in range(P):
                    if q == p or depth[k, q] >= depth[k, p] or not detected[v, k, q]:
                        continue
                    near = points[v, k, q]
                    gap = _to_segments(points[v, k, p], near[bones[:, 0]], near[bones[:, 1]])
                    hidden |= np.nan_to_num(gap, nan=np.inf).min(-1) < width[k, q]
                points[v, k, p, hidden] = np.nan
                visible = np.isfinite(points[v, k, p]).all(-1)
                if visible.sum() < HIDDEN_BELOW * len(JOINTS):
                    detected[v, k, p] = False


def _to_segments(x: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    """(J, B) pixel distance of points ``x`` (J, 2) to segments ``a``-``b`` (B, 2)."""
    ab = b - a
    t = np.clip(
        np.einsum("jbk,bk->jb", x[:, None] - a[None], ab) / np.maximum((ab * ab).sum(-1), 1e-9),
        0.0,
        1.0,
    )
    closest = a[None] + t[..., None] * ab[None]
    return np.asarray(np.linalg.norm(x[:, None] - closest, axis=-1), dtype=np.float64)
