"""Association and tracking of several people on hand-built and simulated scenes."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncpose.arrays import FloatArray
from syncpose.config import TrackingConfig
from syncpose.inference.association import Skeleton2D, group_across_views, match_to_tracks
from syncpose.inference.engine import PoseEngine, ViewKeypoints
from syncpose.inference.tracking import PeopleTracker, TrackerTick, ViewPeople
from syncpose.motion import load_motion
from syncpose.scenes import Scene, crossing_paths, simulate_scene, straight_paths
from syncpose.simulate import DetectorNoise, SyncModel, default_rig
from syncpose.skeleton import JOINTS

RIG = default_rig()
CLIP = load_motion("bundled").clips[0]
QUIET = DetectorNoise(outlier_rate=0.0, swap_rate=0.0, miss_rate=0.0)


def walkers(
    starts: list[tuple[float, float]], ends: list[tuple[float, float]], ticks: int
) -> Callable[[FloatArray], FloatArray]:
    """People walking straight from ``starts`` to ``ends`` over ``ticks`` ticks at 30 fps."""
    return straight_paths(CLIP, starts, ends, ticks / 30.0)


Extra = dict[int, list[Skeleton2D]]


def views_at(scene: Scene, k: int, extra: Extra | None = None) -> dict[str, ViewPeople | None]:
    out: dict[str, ViewPeople | None] = {}
    for v, name in enumerate(scene.rig.names):
        t = scene.t_capture[v, k]
        if np.isnan(t):
            out[name] = None
            continue
        found = [Skeleton2D(pts, c) for _, pts, c in scene.detections(v, k)]
        found += (extra or {}).get(v, [])
        out[name] = ViewPeople(float(t), found)
    return out


def run(
    scene: Scene,
    max_people: int = 4,
    config: TrackingConfig | None = None,
    extra: Callable[[int], Extra] | None = None,
) -> list[TrackerTick]:
    tracker = PeopleTracker(RIG, PoseEngine(RIG), config, max_people=max_people)
    ticks = []
    for k in range(len(scene.t_ref)):
        more = extra(k) if extra else None
        ticks.append(tracker.step(float(scene.t_ref[k]), views_at(scene, k, more)))
    return ticks


MIDLINE = [JOINTS.index(j) for j in ("pelvis", "neck", "head")]


def identities(scene: Scene, ticks: list[TrackerTick]) -> dict[int, list[tuple[int, float]]]:
    """Per reported id: (the true person nearest it, the error of its midline m) per tick (the
    midline: a view with left and right swapped, which two views cannot correct, moves the
    limbs, not who the person is)."""
    out: dict[int, list[tuple[int, float]]] = {}
    for k, tick in enumerate(ticks):
        for person in tick.people:
            pose = person.result.pose
            joints = MIDLINE if np.isfinite(pose[MIDLINE]).any() else slice(None)
            gap = np.linalg.norm(scene.truth[k][:, joints] - pose[None, joints], axis=-1)
            err = np.nanmedian(gap, axis=-1)
            out.setdefault(person.person_id, []).append((int(np.argmin(err)), float(err.min())))
    return out


def assert_one_truth_per_id(scene: Scene, ticks: list[TrackerTick], people: int) -> None:
    ids = identities(scene, ticks)
    assert len(ids) == people, f"ids {sorted(ids)} for {people} people"
    owners = {}
    for pid, seen in ids.items():
        who = Counter(p for p, _ in seen)
        owner, n = who.most_common(1)[0]
        assert n == len(seen), f"id {pid} was several people: {who}"
        assert max(e for _, e in seen) < 0.1, f"id {pid} is far from its person"
        owners[pid] = owner
    assert sorted(owners.values()) == list(range(people)), owners


def test_two_people_crossing_in_front_of_a_camera_keep_their_ids() -> None:
    # cam0 looks along -x from (4, 0): they pass each other straight in front of it.
    paths = walkers([(0.0, -1.5), (0.2, 1.5)], [(0.2, 1.5), (0.0, -1.5)], 90)
    scene = simulate_scene(paths, 2, RIG, np.random.default_rng(1), ticks=90, noise=QUIET)
    assert not scene.detected[0].all(), "the scene must hide one of them from cam0"
    ticks = run(scene)
    assert_one_truth_per_id(scene, ticks, 2)
    assert sum(len(t.people) for t in ticks) >= 2 * 88  # both, every tick after the first two


def test_a_person_seen_by_two_views_only_is_still_tracked() -> None:
    scene = simulate_scene(
        walkers([(0, 0)], [(0.5, 0.5)], 60),
        1,
        RIG,
        np.random.default_rng(2),
        ticks=60,
        noise=QUIET,
        occlusion=False,
    )
    scene.detected[2:, 20:40] = False
    scene.order[2:, 20:40] = -1
    ticks = run(scene)
    assert all(len(t.people) == 1 for t in ticks[2:])
    assert {p.person_id for t in ticks for p in t.people} == {1}
    assert all(set(t.people[0].views) == {"cam0", "cam1"} for t in ticks[20:40])


def test_a_false_detection_in_one_view_is_nobody() -> None:
    scene = simulate_scene(
        walkers([(0, 0)], [(0.5, 0)], 40),
        1,
        RIG,
        np.random.default_rng(3),
        ticks=40,
        noise=QUIET,
        occlusion=False,
    )
    rng = np.random.default_rng(0)

    def ghost(k: int) -> dict[int, list[Skeleton2D]]:
        pts = rng.uniform(100, 600, (len(JOINTS), 2))
        return {1: [Skeleton2D(pts, np.full(len(JOINTS), 0.9))]}

    ticks = run(scene, extra=ghost)
    assert all(len(t.people) == 1 for t in ticks[2:])
    assert all(t.unassigned == 1 for t in ticks[2:])
    assert all("cam1" in t.people[0].views for t in ticks[2:])


def test_people_entering_and_leaving_get_new_ids_and_lose_theirs() -> None:
    paths = walkers([(-0.8, 0.0), (0.8, -0.5)], [(-0.8, 0.6), (0.8, 0.5)], 120)
    scene = simulate_scene(
        paths, 2, RIG, np.random.default_rng(4), ticks=120, noise=QUIET, occlusion=False
    )
    scene.detected[:, :30, 1] = False  # the second enters at tick 30 ...
    scene.detected[:, 80:, 1] = False  # ... and leaves at tick 80
    scene.order[~scene.detected] = -1
    config = TrackingConfig(max_gap_ticks=10)
    tracker = PeopleTracker(RIG, PoseEngine(RIG), config, max_people=4)
    counts = []
    for k in range(120):
        tick = tracker.step(float(scene.t_ref[k]), views_at(scene, k))
        counts.append((len(tick.people), tracker.tracks))
    assert counts[10] == (1, 1)
    assert counts[50] == (2, 2)
    assert counts[85] == (1, 2)  # gone from view, still remembered
    assert counts[100] == (1, 1)  # given up after the gap
    # ids: 1 for the first, 2 for the newcomer; none reused
    scene_ticks = run(scene, config=config)
    ids = identities(scene, scene_ticks)
    assert sorted(ids) == [1, 2]


def test_an_id_survives_ten_ticks_unseen_by_every_view() -> None:
    paths = walkers([(-0.6, -0.6), (0.6, 0.6)], [(0.6, -0.6), (-0.6, 0.6)], 90)
    scene = simulate_scene(
        paths, 2, RIG, np.random.default_rng(5), ticks=90, noise=QUIET, occlusion=False
    )
    scene.detected[:, 40:50, 0] = False
    scene.order[~scene.detected] = -1
    ticks = run(scene)
    assert all(len(t.people) == 1 for t in ticks[40:50])
    assert_one_truth_per_id(scene, ticks, 2)


def test_with_max_people_one_it_follows_one_person_and_never_fuses_two() -> None:
    rng = np.random.default_rng(6)
    scene = simulate_scene(crossing_paths(CLIP, 2, rng, duration_s=5.0), 2, RIG, rng, ticks=120)
    ticks = run(scene, max_people=1)
    ids = identities(scene, ticks)
    assert list(ids) == [1]
    assert len(ids[1]) >= 100
    assert len({p for p, _ in ids[1]}) == 1
    errors = np.array([e for _, e in ids[1]])
    assert np.median(errors) < 0.03 and errors.max() < 0.15


def test_with_one_person_it_is_the_single_person_path() -> None:
    rng = np.random.default_rng(7)
    scene = simulate_scene(
        crossing_paths(CLIP, 1, rng, duration_s=3.0),
        1,
        RIG,
        rng,
        ticks=60,
        sync=SyncModel(offsets="aligned", drop_rate=0.05),
    )
    engine = PoseEngine(RIG)
    ticks = run(scene, max_people=1, config=TrackingConfig(confirm_ticks=1))
    for k, tick in enumerate(ticks):
        views: dict[str, ViewKeypoints | None] = {}
        for v, name in enumerate(RIG.names):
            if scene.detected[v, k, 0]:
                t = float(scene.t_capture[v, k])
                views[name] = ViewKeypoints(scene.points[v, k, 0], scene.confidence[v, k, 0], t)
        alone = engine.step(float(scene.t_ref[k]), views)
        if not np.isfinite(alone.pose).any():
            assert tick.people == []
            continue
        assert len(tick.people) == 1
        np.testing.assert_allclose(tick.people[0].result.pose, alone.pose, equal_nan=True)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), people=st.integers(2, 5))
def test_no_skeleton_goes_to_two_people(seed: int, people: int) -> None:
    rng = np.random.default_rng(seed)
    scene = simulate_scene(
        crossing_paths(CLIP, people, rng, duration_s=6.0), people, RIG, rng, ticks=12
    )
    for tick in run(scene, max_people=people):
        taken = [(cam, s) for p in tick.people for cam, s in p.views.items()]
        assert len(taken) == len(set(taken))
        assert all(len(p.views) >= 2 for p in tick.people)


def test_grouping_is_consistent_not_greedy_pairs() -> None:
    rng = np.random.default_rng(8)
    scene = simulate_scene(
        crossing_paths(CLIP, 3, rng, duration_s=1.0),
        3,
        RIG,
        rng,
        ticks=1,
        noise=QUIET,
        occlusion=False,
    )
    free = [
        [(i, Skeleton2D(p, c)) for i, (_, p, c) in enumerate(scene.detections(v, 0))]
        for v in range(4)
    ]
    groups = group_across_views(RIG, free, 0.15)
    truth = [
        {v: int(scene.order[v, 0, p]) for v in range(4) if scene.detected[v, 0, p]}
        for p in range(3)
    ]
    assert sorted(map(sorted, (g.items() for g in groups))) == sorted(
        map(sorted, (t.items() for t in truth))
    )


def test_matching_takes_each_skeleton_once_and_respects_the_gate() -> None:
    pts = np.stack([np.linspace(0, 20, len(JOINTS)), np.linspace(0, 200, len(JOINTS))], -1)
    a = Skeleton2D(pts, np.ones(len(JOINTS)))
    b = Skeleton2D(a.points + 300.0, np.ones(len(JOINTS)))
    predicted = np.stack([a.points + 2.0, a.points + 6.0])[:, None]  # both near a
    matches = match_to_tracks(predicted, [[a, b]], np.array([0.25, 0.25]))
    assert matches == [{0: 0}]  # the nearer track takes a; nobody takes b
    assert match_to_tracks(predicted, [[a]], np.array([0.001, 0.001])) == [{}]


@pytest.mark.parametrize("people", [3])
def test_simulated_crowd_has_few_id_switches(people: int) -> None:
    rng = np.random.default_rng(9)
    scene = simulate_scene(
        crossing_paths(CLIP, people, rng, duration_s=6.0), people, RIG, rng, ticks=150
    )
    ticks = run(scene, max_people=people)
    ids = identities(scene, ticks)
    switches = sum(
        sum(1 for x, y in itertools.pairwise(seen) if x[0] != y[0]) for seen in ids.values()
    )
    assert len(ids) <= people + 1
    assert switches <= 1
