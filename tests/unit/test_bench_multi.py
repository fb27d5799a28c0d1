"""The multi-person benchmark's measures: PCP, false and missed people, identity switches."""

from __future__ import annotations

import numpy as np

from syncpose.app.bench_multi import evaluate, pcp, run_multi_bench
from syncpose.inference.engine import EngineResult
from syncpose.inference.tracking import PersonPose, TrackerTick
from syncpose.motion import load_motion
from syncpose.scenes import Scene, crossing_paths, simulate_scene
from syncpose.simulate import DetectorNoise, default_rig
from syncpose.skeleton import JOINTS

RIG = default_rig()


def scene(ticks: int = 6) -> Scene:
    rng = np.random.default_rng(0)
    clip = load_motion("bundled").clips[0]
    quiet = DetectorNoise(outlier_rate=0.0, swap_rate=0.0, miss_rate=0.0)
    return simulate_scene(
        crossing_paths(clip, 2, rng, duration_s=1.0), 2, RIG, rng, ticks=ticks, noise=quiet,
        occlusion=False,
    )  # fmt: skip


def person(pid: int, pose: np.ndarray) -> PersonPose:
    J = len(JOINTS)
    result = EngineResult(0.0, pose, np.full(J, np.nan), ["cam0", "cam1"], "time_aware")
    return PersonPose(pid, result, {}, np.zeros((4, J, 2)), np.zeros((4, J)))


def test_pcp_counts_a_limb_right_within_half_its_length() -> None:
    truth = scene().truth[0, 0]
    assert pcp(truth, truth).all()
    moved = truth.copy()
    moved[JOINTS.index("l_wrist")] += 0.5  # the forearm is ~0.25 m
    ok = pcp(moved, truth)
    assert not ok.all() and ok.sum() == len(ok) - 1


def test_perfect_tracks_score_full_marks_and_a_swap_is_counted() -> None:
    s = scene()
    ticks = [TrackerTick([person(1, s.truth[k, 0]), person(2, s.truth[k, 1])], 0, 2)
             for k in range(6)]  # fmt: skip
    r = evaluate(s, ticks)
    assert r["pcp_percent"] == 100.0 and r["mpjpe_mm"] == 0.0
    assert r["id_switches"] == 0 and r["false_per_tick"] == 0 and r["missed_per_tick"] == 0
    swapped = ticks[:3] + [
        TrackerTick([person(1, s.truth[k, 1]), person(2, s.truth[k, 0])], 0, 2) for k in (3, 4, 5)
    ]
    assert evaluate(s, swapped)["id_switches"] == 2


def test_false_and_missed_people_are_counted() -> None:
    s = scene()
    far = s.truth[0, 0] + np.array([5.0, 0.0, 0.0])
    ticks = [TrackerTick([person(1, s.truth[k, 0]), person(9, far)], 0, 2) for k in range(6)]
    r = evaluate(s, ticks)
    assert r["false_per_tick"] == 1.0 and r["missed_per_tick"] == 1.0
    assert r["pcp_percent"] == 50.0


def test_the_simulated_benchmark_runs_and_tracks_everyone() -> None:
    (r,) = run_multi_bench((2,), seconds=2.0)
    assert r["people"] == 2 and r["ticks"] == 60
    assert r["pcp_percent"] > 80 and r["missed_per_tick"] < 0.2
    assert r["associate_ms_median"] > 0
