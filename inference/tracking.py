"""People followed in 3D from tick to tick, each with a stable integer id (pure logic, no I/O).

:class:`PeopleTracker` takes, per tick, every view's 2D skeletons (any number, any order) and
gives the pose of every tracked person:

1. each track is predicted to every view's own capture time with its velocity (a view 15 ms
   late sees a running person 8 cm further on), projected, and matched against that view's
   skeletons (:func:`~syncpose.inference.association.match_to_tracks`);
2. the skeletons no track took are grouped across views by geometry
   (:func:`~syncpose.inference.association.group_across_views`); a group seen by at least
   ``min_views`` views gives a person lost a moment ago back to their track, or starts a new
   track, unless it is a person already tracked (a match missed) or the tracker is full
   (``max_people`` plus :data:`BYSTANDERS`);
3. each track's views go through its own :class:`~syncpose.inference.engine.PoseEngine`
   (its own history and filter state), the denoiser run once for all of them
   (:func:`~syncpose.inference.engine.step_many`).

A new track gets its id once it has been seen ``confirm_ticks`` ticks in a row (a tentative
track missed once is dropped); a track unseen for more than ``max_gap_ticks`` ticks is given
up. Only confirmed tracks with a pose this tick are reported. A skeleton one view sees and no
track takes is left alone: one view is never triangulated.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from syncpose.arrays import FloatArray, nanmedian_last
from syncpose.camera import Rig
from syncpose.config import TrackingConfig
from syncpose.inference.association import (
    MIRROR,
    Rays,
    Skeleton2D,
    group_across_views,
    match_to_tracks,
    skeleton_cost,
)
from syncpose.inference.engine import EngineResult, PoseEngine, ViewKeypoints, step_many
from syncpose.inference.swaps import fix_left_right
from syncpose.skeleton import JOINTS

#: Fastest a body is believed to move (m/s, a sprint is ~8, a run ~4): caps the velocity a
#: noisy pose implies.
MAX_SPEED = 5.0
#: Weight of the newest velocity in its running average.
VELOCITY_GAIN = 0.5
#: People tracked beyond ``max_people`` (see :class:`PeopleTracker`).
BYSTANDERS = 4
#: A new group this close to a tracked person (median joint distance, m) is that person ...
SAME_PERSON_M = 0.3
#: ... and this much closer still per tick the person has gone unseen, up to REACQUIRE_M.
REACQUIRE_M_PER_TICK = 0.05
REACQUIRE_M = 1.0
#: Longest a prediction moves an unseen person on at its last velocity (s).
COAST_S = 0.3


@dataclass(frozen=True)
class ViewPeople:
    """One view's detections in a tick: every skeleton found and the frame's capture time (s,
    on the aligner's clock)."""

    t_capture_s: float
    skeletons: Sequence[Skeleton2D]


@dataclass
class PersonPose:
    """One tracked person in a tick: ``result`` its pose; ``views`` which skeleton (index in
    that view's list) of which camera it took; ``points`` (V, J, 2) and ``confidence`` (V, J)
    the 2D keypoints fused (rig order, after left/right repair; NaN / 0 for views without)."""

    person_id: int
    result: EngineResult
    views: dict[str, int]
    points: FloatArray
    confidence: FloatArray


@dataclass
class TrackerTick:
    """What a tick gave: the people with a pose (by id), how many skeletons went to nobody."""

    people: list[PersonPose]
    unassigned: int
    tracked: int  # tracks held (tentative, and bystanders beyond max_people, included)
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class _Track:
    engine: PoseEngine
    person_id: int | None = None
    pose: FloatArray | None = None  # (J, 3) last estimate, unknown joints held from before
    velocity: FloatArray = field(default_factory=lambda: np.zeros(3))  # the body's, m/s
    t_s: float = 0.0
    hits: int = 0
    misses: int = 0

    def predict(self, t_s: float) -> FloatArray:
        """Where the person is at ``t_s``: moving on at its velocity, for at most
        :data:`COAST_S` (an unseen person is not assumed to walk on forever)."""
        assert self.pose is not None
        return self.pose + self.velocity * min(t_s - self.t_s, COAST_S)

    def update(self, pose: FloatArray, t_s: float) -> None:
        """Take the new ``pose`` (J, 3) at ``t_s``. The velocity is the body's (the median of
        its joints' displacements, so a limb's swing or one wrong joint does not throw the
        prediction), capped at :data:`MAX_SPEED`, smoothed over ticks."""
        seen = np.asarray(np.isfinite(pose).all(-1))
        if self.pose is None:
            self.pose = pose.copy()
        else:
            dt = t_s - self.t_s
            both = seen & np.isfinite(self.pose).all(-1)
            if dt > 0 and both.any():
                v = np.median(pose[both] - self.pose[both], axis=0) / dt
                v *= min(1.0, MAX_SPEED / max(float(np.linalg.norm(v)), 1e-9))
                self.velocity = (1 - VELOCITY_GAIN) * self.velocity + VELOCITY_GAIN * v
            self.pose = np.where(seen[:, None], pose, self.pose + self.velocity * max(dt, 0.0))
        self.t_s = t_s


@dataclass
class _Agreement:
    """How well each of T tracks' views agree: ``views`` (T,) how many; with three or more,
    ``worst`` (T,) the largest of the views' median leave-one-out gaps (m); with two, ``pair``
    (T,) their median ray-to-ray gap (m) and ``off`` (T,) how far the point they give is from
    where the person is expected (median joint distance, m)."""

    views: np.ndarray
    worst: FloatArray
    pair: FloatArray
    off: FloatArray

    @classmethod
    def of(cls, rays: Rays, expected: Sequence[FloatArray]) -> _Agreement:
        views = rays.used.any(-1).sum(-1)
        worst = pair = off = np.full(len(views), np.nan)
        normal = rays.normal()  # shared by both measures
        if (views >= 3).any():
            worst = _median_rows(rays.leave_one_out(normal), fill=-1.0).max(-1)
        if (views == 2).any():
            point = rays.point(normal)
            off = nanmedian_last(np.linalg.norm(point - np.stack(expected), axis=-1))
            pair = rays.two_view_gap()
        return cls(views, worst, pair, off)

    def within(self, gate: float) -> np.ndarray:
        """(T,) which tracks' views all agree within ``gate`` (m) (one view or none: yes;
        two: rays that meet, where the person is expected)."""
        many = (self.views >= 3) & (self.worst <= gate)
        two = (self.views == 2) & (self.pair <= gate) & ~(self.off > SAME_PERSON_M)
        return np.asarray((self.views < 2) | many | two)

    def put(self, rows: Sequence[int], other: _Agreement) -> None:
        """Replace ``rows`` with ``other``'s (measured on those rows only)."""
        for name in ("views", "worst", "pair", "off"):
            getattr(self, name)[list(rows)] = getattr(other, name)


class PeopleTracker:
    """Follows up to ``max_people`` people seen by ``rig``; ``engine`` is the template each
    track's engine is spawned from (:meth:`PoseEngine.spawn`).

    Up to :data:`BYSTANDERS` more people are tracked but not reported: with ``max_people`` 1
    and a second person walking in front of the first, the second is a track of its own, so
    the view that sees only them gives them to their own track instead of to the first
    person. Reported are the ``max_people`` confirmed tracks with the oldest ids (the people
    already followed).
    """

    def __init__(
        self,
        rig: Rig,
        engine: PoseEngine,
        config: TrackingConfig | None = None,
        *,
        max_people: int = 1,
        fix_swaps: bool = True,
    ) -> None:
        self.rig = rig
        self.template = engine
        self.config = config or TrackingConfig()
        self.max_people = max_people
        self.capacity = max_people + BYSTANDERS
        self.fix_swaps = fix_swaps
        self.swaps_fixed = 0
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._index = {name: v for v, name in enumerate(rig.names)}

    @property
    def tracks(self) -> int:
        """People tracked now (confirmed or not)."""
        return len(self._tracks)

    def step(self, t_ref_s: float, views: Mapping[str, ViewPeople | None]) -> TrackerTick:
        """One tick: ``views`` by camera name (absent or None: no frame from that camera)."""
        unknown = set(views) - set(self._index)
        if unknown:
            raise ValueError(f"camera(s) {sorted(unknown)} not in the rig {self.rig.names}")
        t0 = time.perf_counter()
        V = len(self.rig.cameras)
        found: list[Sequence[Skeleton2D]] = [[] for _ in range(V)]
        t_cap = np.full(V, np.nan)
        for name, vp in views.items():
            if vp is not None:
                found[self._index[name]] = vp.skeletons
                t_cap[self._index[name]] = vp.t_capture_s
        predicted = self._predict(found, t_cap)
        taken = self._match(found, predicted)
        assigned: list[dict[int, int]] = [{} for _ in self._tracks]  # track -> {view: skeleton}
        for v, matches in enumerate(taken):
            for s, t in matches.items():
                assigned[t][v] = s
        kept: dict[int, tuple[FloatArray, FloatArray]] = {}  # track -> its keypoints, put right
        gate = self.config.group_gate_m
        repair_s = 0.0  # left/right repair: fusion's work (one person needs it too), not timed here
        # One track and no view with a second skeleton: nobody to mistake the person for.
        alone = len(self._tracks) <= 1 and all(len(f) <= 1 for f in found)
        if not alone and assigned:
            expected = [t.predict(t_ref_s) for t in self._tracks]
            # First the views far off as detected (someone else: they would spoil the
            # left/right repair), then, left and right put right, the rest of the gate.
            raw = [{v: found[v][s] for v, s in a.items()} for a in assigned]
            rays = Rays.of_people(self.rig, raw)
            agree = _Agreement.of(rays, expected)
            changed: set[int] = set()
            for k, off in enumerate(
                self._disagreeing(raw, rays, agree, predicted, expected, 2 * gate)
            ):
                for v in off:
                    del taken[v][assigned[k].pop(v)]  # free for someone else
                    rays.used[k, v] = False
                    changed.add(k)
            t_fix = time.perf_counter()
            gathered = [self._gather(found, views_of) for views_of in assigned]
            repair_s += time.perf_counter() - t_fix
            repaired = [
                {v: Skeleton2D(points[v], conf[v]) for v in views_of}
                for (points, conf, _), views_of in zip(gathered, assigned, strict=True)
            ]
            for k, (_, _, swapped) in enumerate(gathered):
                for v in swapped:  # the same rays, left and right exchanged
                    rays.dirs[k, v] = rays.dirs[k, v, MIRROR]
                    rays.used[k, v] = rays.used[k, v, MIRROR]
                    changed.add(k)
            if changed:  # only the tracks whose views changed are measured again
                rows = sorted(changed)
                agree.put(rows, _Agreement.of(rays.people(rows), [expected[k] for k in rows]))
            for k, off in enumerate(
                self._disagreeing(repaired, rays, agree, predicted, expected, gate)
            ):
                for v in off:
                    del taken[v][assigned[k].pop(v)]
                if not off:
                    kept[k] = gathered[k][:2]
        self._births(found, taken, t_cap, assigned)
        assoc_ms = (time.perf_counter() - t0 - repair_s) * 1000.0

        t1 = time.perf_counter()
        bundles, fused = [], []
        for k, views_of in enumerate(assigned):
            points, conf = kept.get(k) or self._gather(found, views_of, count=False)[:2]
            by_camera: dict[str, ViewKeypoints | None] = {
                self.rig.names[v]: ViewKeypoints(points[v], conf[v], float(t_cap[v]))
                for v in views_of
            }
            bundles.append((t_ref_s, by_camera))
            fused.append((points, conf))
        results = step_many([t.engine for t in self._tracks], bundles)
        people = self._advance(t_ref_s, results, assigned, fused)
        used = sum(len(a) for a in assigned)
        timings = {
            "associate": assoc_ms,
            "track": (time.perf_counter() - t1 + repair_s) * 1000.0,
        }
        unassigned = sum(len(f) for f in found) - used
        return TrackerTick(people, unassigned, len(self._tracks), timings)

    # -- steps -------------------------------------------------------------------------------

    def _predict(self, found: list[Sequence[Skeleton2D]], t_cap: FloatArray) -> FloatArray:
        """(T, V, J, 2) every track at every view's capture time, projected (NaN: not there)."""
        V, J = len(found), len(JOINTS)
        predicted = np.full((len(self._tracks), V, J, 2), np.nan)
        looked = [v for v in range(V) if np.isfinite(t_cap[v]) and found[v]]
        if not self._tracks or not looked:
            return predicted
        poses = [t.pose for t in self._tracks]
        assert all(p is not None for p in poses)  # a track is made with its first pose
        pose = np.stack(poses)  # type: ignore[arg-type]  # (T, J, 3)
        velocity = np.stack([t.velocity for t in self._tracks])
        since = np.array([t.t_s for t in self._tracks])
        # Track.predict for every track at every view's capture time, all views in one pass
        # (a view without a frame has no time: NaN, as are views that found nobody).
        dt = np.minimum(t_cap[None] - since[:, None], COAST_S)  # (T, V)
        at = pose[:, None] + velocity[:, None, None] * dt[..., None, None]  # (T, V, J, 3)
        uv = self.rig.project_each(np.swapaxes(at, 0, 1))  # (V, T, J, 2)
        inside = self.rig.in_image_each(uv)
        predicted[:, looked] = np.swapaxes(np.where(inside[..., None], uv, np.nan), 0, 1)[:, looked]
        return predicted

    def _match(
        self, found: list[Sequence[Skeleton2D]], predicted: FloatArray
    ) -> list[dict[int, int]]:
        """Per view ``{skeleton: track}`` for the tracks as they stand."""
        gate = np.array(
            [self.config.match_gate * min(1.0 + 0.25 * t.misses, 3.0) for t in self._tracks]
        )
        return match_to_tracks(predicted, found, gate)

    def _disagreeing(
        self,
        people: Sequence[Mapping[int, Skeleton2D]],
        rays: Rays,
        agree: _Agreement,
        predicted: FloatArray,
        expected: Sequence[FloatArray],
        gate: float,
    ) -> list[list[int]]:
        """Per track, the views whose skeleton the others contradict (a view that took
        someone else because its own sight of the person was blocked). ``people`` holds every
        track's skeletons by view, ``rays`` their rays (:meth:`Rays.of_people`), ``agree`` how well
        they agree, ``predicted`` (T, V, J, 2) their projections, ``expected`` (J, 3) each
        where the person should be. A track whose views agree within ``gate`` (m) keeps them
        all; only one that does not goes through :meth:`_disagreeing_one`."""
        fine = agree.within(gate)
        return [
            []
            if fine[k]
            else self._disagreeing_one(people[k], rays.person(k), predicted[k], expected[k], gate)
            for k in range(len(fine))
        ]

    def _disagreeing_one(
        self,
        mine: Mapping[int, Skeleton2D],
        rays: Rays,
        predicted: FloatArray,
        expected: FloatArray,
        gate: float,
    ) -> list[int]:
        """One track's views (its skeletons ``mine``, their ``rays``) that the others
        contradict: left out one at a time, the worst first, while its rays pass farther than
        ``gate`` (m) from the point the other views give (a view that agrees once its left and
        right are exchanged stays); of two views whose rays miss each other, the one farther
        from the track's ``predicted`` projection (V, J, 2), or that meet farther than
        :data:`SAME_PERSON_M` from where it is ``expected`` (J, 3)."""
        out: list[int] = []
        while len(rays.views()) >= 3:
            gaps = rays.leave_one_out()
            per_view = _median_rows(gaps, fill=-1.0)
            worst = int(np.argmax(per_view))
            if per_view[worst] <= gate:
                return out
            flipped = rays.mirrored(worst).leave_one_out()[worst : worst + 1]
            if _median_rows(flipped, fill=np.inf)[0] <= gate:
                return out  # the person, left and right mixed up: the swap repair's job
            out.append(worst)
            rays = rays.without(worst)
        views = rays.views()
        if len(views) == 2:
            v1, v2 = views
            off = _median_gap(rays.point(), expected)
            if rays.two_view_gap() > gate or off > SAME_PERSON_M:
                # Two views that cannot both be this person (rays that miss each other, or
                # meet away from where the person is: two opposite cameras each seeing a
                # different one of two people in line): keep the one its path predicts.
                cost = [skeleton_cost(predicted[v], mine[v]) for v in views]
                out.append(v1 if cost[0] > cost[1] else v2)
        return out

    def _births(
        self,
        found: list[Sequence[Skeleton2D]],
        taken: list[dict[int, int]],
        t_cap: FloatArray,
        assigned: list[dict[int, int]],
    ) -> None:
        """The skeletons no track took, grouped across views: a group where a track that has
        no views this tick is predicted goes to it (the person is back, with their id);
        another starts a tentative track. ``assigned`` (per track ``{view: skeleton}``) is
        extended in place, a new track's entry appended."""
        if not any(len(f) > len(t) for f, t in zip(found, taken, strict=True)):
            return
        free = [
            [(s, sk) for s, sk in enumerate(found[v]) if s not in taken[v] and sk.usable.any()]
            for v in range(len(found))
        ]
        groups = group_across_views(self.rig, free, self.config.group_gate_m)
        min_views = self.template.min_views
        t = float(np.nanmax(t_cap)) if np.isfinite(t_cap).any() else 0.0
        for group in groups:
            if len(group) < min_views:
                continue
            first = Rays.of(self.rig, {v: found[v][s] for v, s in group.items()}).point()
            if not np.isfinite(first).all(-1).any():
                continue
            near, gap = self._nearest(first, t)
            if near is not None and len(assigned[near]) < min_views:
                radius = min(
                    SAME_PERSON_M + REACQUIRE_M_PER_TICK * self._tracks[near].misses, REACQUIRE_M
                )
                if gap <= radius:
                    assigned[near] = dict(group)  # re-acquired
                    continue
            if gap < SAME_PERSON_M or len(self._tracks) >= self.capacity:
                continue  # someone tracked (a match missed), or no room
            self._tracks.append(_Track(self.template.spawn()))
            assigned.append(dict(group))

    def _nearest(self, pose: FloatArray, t_s: float) -> tuple[int | None, float]:
        """The track predicted nearest ``pose`` (J, 3) at ``t_s`` and how far (median joint
        distance, m)."""
        best, best_gap = None, float("inf")
        for k, track in enumerate(self._tracks):
            if track.pose is None:
                continue
            gap = _median_gap(track.predict(t_s), pose)
            if np.isfinite(gap) and gap < best_gap:
                best, best_gap = k, float(gap)
        return best, best_gap

    def _gather(
        self,
        found: list[Sequence[Skeleton2D]],
        views_of: Mapping[int, int],
        *,
        count: bool = True,
    ) -> tuple[FloatArray, FloatArray, list[int]]:
        """One person's keypoints (V, J, 2) and confidences (V, J) from their views, left and
        right put right (:func:`~syncpose.inference.swaps.fix_left_right`), and the views
        whose left and right were exchanged (``count``: counted in :attr:`swaps_fixed`)."""
        V, J = len(found), len(JOINTS)
        points = np.full((V, J, 2), np.nan)
        conf = np.zeros((V, J))
        for v, s in views_of.items():
            points[v], conf[v] = found[v][s].points, found[v][s].confidence
        swapped: list[int] = []
        if self.fix_swaps:
            points, conf, swapped = fix_left_right(self.rig, points, conf)
            self.swaps_fixed += len(swapped) if count else 0
        return points, conf, swapped

    def _advance(
        self,
        t_ref_s: float,
        results: list[EngineResult],
        assigned: list[dict[int, int]],
        fused: list[tuple[FloatArray, FloatArray]],
    ) -> list[PersonPose]:
        """Tracks updated with their results; the dead removed; the followed reported (the
        ``max_people`` confirmed tracks with the oldest ids, where they have a pose)."""
        keep: list[_Track] = []
        posed: list[PersonPose] = []
        for track, result, views_of, (points, conf) in zip(
            self._tracks, results, assigned, fused, strict=True
        ):
            seen = np.isfinite(result.pose).all(-1).any()
            if seen:
                track.update(result.pose, t_ref_s)
                track.hits += 1
                track.misses = 0
            else:
                track.misses += 1
            if track.person_id is None:
                if not seen:
                    continue  # a tentative track missed: not a person after all
                if track.hits >= self.config.confirm_ticks:
                    track.person_id = self._next_id
                    self._next_id += 1
            elif track.misses > self.config.max_gap_ticks:
                continue
            keep.append(track)
            if seen and track.person_id is not None:
                names = {self.rig.names[v]: s for v, s in views_of.items()}
                posed.append(PersonPose(track.person_id, result, names, points, conf))
        self._tracks = keep
        ids = sorted(t.person_id for t in keep if t.person_id is not None)
        followed = set(ids[: self.max_people])
        return sorted((p for p in posed if p.person_id in followed), key=lambda p: p.person_id)


def _median_gap(a: FloatArray, b: FloatArray) -> float:
    """Median distance (m) of the joints two poses (J, 3) both have (NaN: none)."""
    return float(nanmedian_last(np.linalg.norm(a - b, axis=-1)[None])[0])


def _median_rows(x: FloatArray, fill: float) -> FloatArray:
    """Median of each row ignoring NaN; ``fill`` for rows with none."""
    med = nanmedian_last(x)
    return np.where(np.isfinite(med), med, fill)
