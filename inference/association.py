"""Which 2D skeleton in which view is which person, one tick at a time (pure logic, no I/O).

Two steps, both over the skeletons a tick's views detected (:class:`Skeleton2D`):

* :func:`match_to_tracks` — each view on its own: the people already tracked, predicted to that
  view's own capture time and projected into it, against the view's skeletons, by the median
  joint distance relative to the person's height in the image (an optimal assignment per view, so
  no skeleton goes to two people and no person takes two skeletons of one view);
* :func:`group_across_views` — the skeletons left over, grouped into new people by geometry:
  two skeletons of different views are compatible when the rays of their corresponding joints
  pass close to each other in front of both cameras (the median closest-approach distance, over
  the joints both see, so missing joints do not matter). Groups grow by complete linkage: a
  skeleton joins a group only if it is compatible with every member and the group has no
  skeleton of its view yet, so the grouping never holds pairs that contradict each other.

A skeleton no other view agrees with stays alone (a person one view sees is never triangulated).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.optimize import linear_sum_assignment

from syncpose.arrays import FloatArray, nanmedian_last
from syncpose.camera import Rig
from syncpose.skeleton import JOINTS, LEFT_RIGHT

#: Joints two skeletons must share before their distance means anything.
MIN_SHARED_JOINTS = 3

#: Joint -> the same joint of the other side (itself on the midline).
MIRROR = np.arange(len(JOINTS))
for _a, _b in LEFT_RIGHT:
    MIRROR[_a], MIRROR[_b] = _b, _a


@dataclass(frozen=True)
class Skeleton2D:
    """One person as one view detected it: ``points`` (J, 2) pixels on the calibration's grid
    (NaN = not found), ``confidence`` (J,) (0 = not usable)."""

    points: FloatArray
    confidence: FloatArray

    @cached_property
    def usable(self) -> np.ndarray:
        """(J,) the joints found with some confidence (computed once: a skeleton is fixed)."""
        return np.asarray((self.confidence > 0) & np.isfinite(self.points).all(-1))

    @property
    def height_px(self) -> float:
        """The diagonal of the box around the usable joints (pixels; 0 with under two)."""
        p = self.points[self.usable]
        if len(p) < 2:
            return 0.0
        return float(np.linalg.norm(p.max(0) - p.min(0)))


def cost_matrix(predicted: FloatArray, skeletons: Sequence[Skeleton2D]) -> FloatArray:
    """(T, S) how far each of S skeletons is from each of T people's ``predicted`` projections
    (T, J, 2) (NaN where a prediction has no joint): the median joint distance over the
    person's height in the image (inf with fewer than :data:`MIN_SHARED_JOINTS` joints in
    common), as detected or with left and right exchanged, whichever fits (a detector that
    mixes them up still saw the person)."""
    if len(predicted) == 0 or not skeletons:
        return np.zeros((len(predicted), len(skeletons)))
    pts = np.stack([s.points for s in skeletons])[None]  # (1, S, J, 2)
    ok = np.stack([s.usable for s in skeletons])[None]
    return _costs(predicted[:, None], pts, ok)[:, 0]


def _costs(predicted: FloatArray, pts: FloatArray, ok: np.ndarray) -> FloatArray:
    """:func:`cost_matrix` of several views at once: ``predicted`` (T, V, J, 2), the views'
    skeletons ``pts`` (V, S, J, 2) where ``ok`` (V, S, J); returns (T, V, S)."""
    seen = np.asarray(np.isfinite(predicted).all(-1))  # (T, V, J)
    lo = np.where(seen[..., None], predicted, np.inf).min(-2)
    hi = np.where(seen[..., None], predicted, -np.inf).max(-2)
    height = np.maximum(np.nan_to_num(np.linalg.norm(hi - lo, axis=-1), nan=1.0), 1.0)  # (T, V)
    # (2, T, V, S, J): as detected, and left and right exchanged.
    both = seen[None, :, :, None] & np.stack([ok, ok[..., MIRROR]])[:, None]
    diff = predicted[None, :, :, None] - np.stack([pts, pts[..., MIRROR, :]])[:, None]
    d = np.sqrt((diff * diff).sum(-1))
    med = nanmedian_last(np.where(both, d, np.nan))
    best = np.where(both.sum(-1) >= MIN_SHARED_JOINTS, med, np.inf).min(0)
    return np.asarray(best / height[..., None], dtype=np.float64)


def skeleton_cost(predicted: FloatArray, skeleton: Skeleton2D) -> float:
    """:func:`cost_matrix` of one prediction (J, 2) and one skeleton."""
    return float(cost_matrix(predicted[None], [skeleton])[0, 0])


def match_to_tracks(
    predicted: FloatArray, skeletons: Sequence[Sequence[Skeleton2D]], gate: FloatArray
) -> list[dict[int, int]]:
    """Per view, which track takes which skeleton.

    ``predicted`` (T, V, J, 2): each of T tracks projected into each view at the view's capture
    time (NaN where not); ``skeletons`` per view; ``gate`` (T,) the largest cost each track
    accepts. Returns per view ``{skeleton index: track index}``.
    """
    V = len(skeletons)
    n_tracks, S = predicted.shape[0], max((len(f) for f in skeletons), default=0)
    out: list[dict[int, int]] = [{} for _ in range(V)]
    if n_tracks == 0 or S == 0:
        return out
    J = predicted.shape[2]
    pts = np.full((V, S, J, 2), np.nan)  # every view's skeletons, padded to the most
    ok = np.zeros((V, S, J), dtype=bool)
    for v, found in enumerate(skeletons):
        for i, sk in enumerate(found):
            pts[v, i], ok[v, i] = sk.points, sk.usable
    costs = _costs(predicted, pts, ok)  # (T, V, S)
    for v, found in enumerate(skeletons):
        if not found:
            continue
        cost = costs[:, v, : len(found)]
        allowed = cost <= gate[:, None]
        rows, cols = linear_sum_assignment(np.where(allowed, cost, 1e6))
        out[v] = {int(c): int(r) for r, c in zip(rows, cols, strict=True) if allowed[r, c]}
    return out


@dataclass(frozen=True)
class Rays:
    """The rays of people's joints in several views: ``centres`` (V, 3), ``dirs`` (..., V, J,
    3) unit world directions, ``used`` (..., V, J) which are real (a view without the person:
    none). The leading axes, if any, are people: every method works on all of them at once."""

    centres: FloatArray
    dirs: FloatArray
    used: np.ndarray

    @classmethod
    def of(cls, rig: Rig, skeletons: Mapping[int, Skeleton2D]) -> Rays:
        """One person from their skeleton in each view that has one."""
        return cls.of_people(rig, [skeletons]).person(0)

    @classmethod
    def of_people(cls, rig: Rig, people: Sequence[Mapping[int, Skeleton2D]]) -> Rays:
        """Several people (each ``{view: skeleton}``) in one batch (leading axis: people)."""
        V, J = len(rig.cameras), len(JOINTS)
        points = np.full((len(people), V, J, 2), np.nan)
        used = np.zeros((len(people), V, J), dtype=bool)
        for k, mine in enumerate(people):
            for v, sk in mine.items():
                points[k, v], used[k, v] = sk.points, sk.usable
        return cls.batch(rig, points, used)

    @classmethod
    def batch(cls, rig: Rig, points: FloatArray, used: np.ndarray) -> Rays:
        """People's ``points`` (..., V, J, 2) where ``used`` (..., V, J): one
        :meth:`~syncpose.camera.Camera.rays` call per view for all of them."""
        used = np.asarray(used, dtype=bool)
        per_view = np.moveaxis(np.where(used[..., None], points, 0.0), -3, 0)  # (V, ..., J, 2)
        dirs = np.moveaxis(rig.rays_each(per_view), 0, -3)
        dirs = np.where(used[..., None], dirs, 0.0)
        centres = np.stack([cam.centre for cam in rig.cameras])
        return cls(centres, dirs, used)

    def person(self, k: int) -> Rays:
        """Person ``k`` of a batch, on their own (a copy: changing it leaves the batch)."""
        return Rays(self.centres, self.dirs[k], self.used[k].copy())

    def people(self, rows: Sequence[int]) -> Rays:
        """People ``rows`` of a batch (a copy)."""
        return Rays(self.centres, self.dirs[list(rows)], self.used[list(rows)])

    def without(self, v: int) -> Rays:
        """The same person with view ``v`` left out."""
        used = self.used.copy()
        used[..., v, :] = False
        return Rays(self.centres, self.dirs, used)

    def mirrored(self, v: int) -> Rays:
        """The same person with view ``v``'s left and right exchanged."""
        dirs, used = self.dirs.copy(), self.used.copy()
        dirs[..., v, :, :] = self.dirs[..., v, MIRROR, :]
        used[..., v, :] = self.used[..., v, MIRROR]
        return Rays(self.centres, dirs, used)

    def views(self) -> list[int]:
        """The views with any ray (one person)."""
        return [int(v) for v in np.flatnonzero(self.used.any(-1))]

    def normal(self) -> tuple[FloatArray, FloatArray]:
        """Per view and joint ``I - d dᵀ`` (..., V, J, 3, 3) (zero where unused) and it times
        the centre (..., V, J, 3): the terms of the least-squares point nearest the rays."""
        d = self.dirs
        m = np.eye(3) - d[..., :, None] * d[..., None, :]
        m *= self.used[..., None, None]
        return m, (m @ self.centres[:, None, :, None])[..., 0]

    def point(self, normal: tuple[FloatArray, FloatArray] | None = None) -> FloatArray:
        """(..., J, 3) the points nearest each joint's rays (NaN with fewer than two views);
        ``normal``: :meth:`normal`, where the caller has it already."""
        m, mc = normal or self.normal()
        return _solve(m.sum(-4), mc.sum(-3), self.used.sum(-2))

    def leave_one_out(self, normal: tuple[FloatArray, FloatArray] | None = None) -> FloatArray:
        """(..., V, J) how far each view's ray passes from the point the other views give (m;
        NaN where either is missing); ``normal`` as for :meth:`point`."""
        m, mc = normal or self.normal()
        n = self.used.sum(-2)[..., None, :] - self.used  # (..., V, J) views left
        x = _solve(m.sum(-4)[..., None, :, :, :] - m, mc.sum(-3)[..., None, :, :] - mc, n)
        gap = np.linalg.norm((m @ (x - self.centres[:, None])[..., None])[..., 0], axis=-1)
        return np.where(self.used, gap, np.nan)

    def two_view_gap(self) -> FloatArray:
        """(...,) for a person seen by exactly two views, the median ray-to-ray distance (m)
        of the joints both see (inf with fewer than :data:`MIN_SHARED_JOINTS`); NaN for one
        seen by any other number of views."""
        V, J = self.used.shape[-2:]
        used = np.asarray(self.used).reshape(-1, V, J)
        dirs = self.dirs.reshape(-1, V, J, 3)
        seen = np.asarray(used.any(-1))
        two = seen.sum(-1) == 2
        out = np.full(len(used), np.nan)
        if two.any():
            rows = np.flatnonzero(two)
            v1, v2 = np.nonzero(seen[rows])[1].reshape(-1, 2).T  # each row's two views
            both = used[rows, v1] & used[rows, v2]
            c = self.centres
            gaps = ray_distance(c[v1, None], dirs[rows, v1], c[v2, None], dirs[rows, v2])
            med = nanmedian_last(np.where(both, gaps, np.nan))
            out[rows] = np.where(both.sum(-1) >= MIN_SHARED_JOINTS, med, np.inf)
        return out.reshape(self.used.shape[:-2])


def _solve(a: FloatArray, b: FloatArray, views: np.ndarray) -> FloatArray:
    """``a x = b`` for symmetric 3x3 ``a`` (..., 3, 3) and ``b`` (..., 3) by cofactors (numpy's
    batched solve is ten times slower on the few hundred systems of a tick); NaN where fewer
    than two ``views`` (...) meet or the rays are parallel."""
    a00, a01, a02 = a[..., 0, 0], a[..., 0, 1], a[..., 0, 2]
    a11, a12, a22 = a[..., 1, 1], a[..., 1, 2], a[..., 2, 2]
    c00 = a11 * a22 - a12 * a12
    c01 = a02 * a12 - a01 * a22
    c02 = a01 * a12 - a02 * a11
    c11 = a00 * a22 - a02 * a02
    c12 = a01 * a02 - a00 * a12
    c22 = a00 * a11 - a01 * a01
    det = a00 * c00 + a01 * c01 + a02 * c02
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    x = np.stack(
        [
            c00 * b0 + c01 * b1 + c02 * b2,
            c01 * b0 + c11 * b1 + c12 * b2,
            c02 * b0 + c12 * b1 + c22 * b2,
        ],
        axis=-1,
    )
    ok = (views >= 2) & (np.abs(det) > 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok[..., None], x / det[..., None], np.nan)


def ray_distance(c1: FloatArray, d1: FloatArray, c2: FloatArray, d2: FloatArray) -> FloatArray:
    """Closest-approach distance (...) metres of rays ``c + s·d`` (unit ``d`` (..., 3)); inf
    where the closest points lie behind either camera or the rays are parallel."""
    w = c1 - c2
    b = np.einsum("...j,...j->...", d1, d2)
    d = np.einsum("...j,...j->...", d1, w)
    e = np.einsum("...j,...j->...", d2, w)
    denom = 1.0 - b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (b * e - d) / denom
        t = (e - b * d) / denom
        gap = np.linalg.norm(w + s[..., None] * d1 - t[..., None] * d2, axis=-1)
    return np.where((denom > 1e-9) & (s > 0) & (t > 0), gap, np.inf)


def pair_distances(
    rig: Rig, v1: int, a: Sequence[Skeleton2D], v2: int, b: Sequence[Skeleton2D]
) -> FloatArray:
    """(A, B) median ray-to-ray distance (m) of the joints each skeleton of ``a`` (view ``v1``)
    and each of ``b`` (view ``v2``) both see; inf with fewer than :data:`MIN_SHARED_JOINTS`."""
    if not a or not b:
        return np.zeros((len(a), len(b)))
    cam1, cam2 = rig.cameras[v1], rig.cameras[v2]
    da = np.stack([cam1.rays(np.nan_to_num(s.points)) for s in a])  # (A, J, 3)
    db = np.stack([cam2.rays(np.nan_to_num(s.points)) for s in b])
    ua, ub = np.stack([s.usable for s in a]), np.stack([s.usable for s in b])
    gaps = ray_distance(cam1.centre, da[:, None], cam2.centre, db[None])  # (A, B, J)
    both = ua[:, None] & ub[None]
    med = nanmedian_last(np.where(both, gaps, np.nan))
    return np.where(both.sum(-1) >= MIN_SHARED_JOINTS, med, np.inf)


def group_across_views(
    rig: Rig, skeletons: Sequence[Sequence[tuple[int, Skeleton2D]]], max_distance_m: float
) -> list[dict[int, int]]:
    """Group skeletons of different views into people.

    ``skeletons`` per view: ``(index, skeleton)`` of the ones still free. Returns the groups
    (``{view: skeleton index}``), largest first; singletons included (a person one view sees).
    """
    nodes = [(v, i, s) for v, found in enumerate(skeletons) for i, s in found]
    n = len(nodes)
    dist = np.full((n, n), np.inf)
    first = np.cumsum([0] + [len(f) for f in skeletons])  # node index of each view's first
    for v1 in range(len(skeletons)):
        for v2 in range(v1 + 1, len(skeletons)):
            d = pair_distances(
                rig, v1, [s for _, s in skeletons[v1]], v2, [s for _, s in skeletons[v2]]
            )
            dist[first[v1] : first[v1 + 1], first[v2] : first[v2 + 1]] = d
            dist[first[v2] : first[v2 + 1], first[v1] : first[v1 + 1]] = d.T
    groups: list[set[int]] = [{a} for a in range(n)]
    where = list(range(n))  # node -> its group
    pairs = sorted(
        (dist[a, b], a, b)
        for a in range(n)
        for b in range(a + 1, n)
        if dist[a, b] <= max_distance_m
    )
    for _, a, b in pairs:
        ga, gb = where[a], where[b]
        if ga == gb:
            continue
        views_a = {nodes[k][0] for k in groups[ga]}
        if any(nodes[k][0] in views_a for k in groups[gb]):
            continue  # one view would give the person two skeletons
        if max(dist[x, y] for x in groups[ga] for y in groups[gb]) > max_distance_m:
            continue  # complete linkage: every member must agree
        groups[ga] |= groups[gb]
        for k in groups[gb]:
            where[k] = ga
        groups[gb] = set()
    out = [{nodes[k][0]: nodes[k][1] for k in g} for g in groups if g]
    sizes = [sum(nodes[k][2].height_px for k in g) for g in groups if g]
    order = sorted(range(len(out)), key=lambda i: (-len(out[i]), -sizes[i]))
    return [out[i] for i in order]
