"""Left/right swap repair: a view that mixed up left and right is put right when three or
more views agree; two views, or honest noise, are left alone."""

from __future__ import annotations

import numpy as np

from syncpose.inference.swaps import fix_left_right
from syncpose.motion import load_motion
from syncpose.simulate import default_rig
from syncpose.skeleton import LEFT_RIGHT, MOCAP


def observed(n_cameras: int) -> tuple:  # type: ignore[type-arg]
    rig = default_rig(n_cameras)
    pose = MOCAP.apply(load_motion("bundled").clips[0].positions[40])[0]
    pose[:, :2] -= pose[0, :2]
    rng = np.random.default_rng(1)
    points = rig.project(pose) + rng.normal(0, 1.5, size=(n_cameras, len(pose), 2))
    return rig, points, np.ones(points.shape[:2])


def swap(points: np.ndarray, v: int) -> np.ndarray:
    out = points.copy()
    for a, b in LEFT_RIGHT:
        out[v, [a, b]] = points[v, [b, a]]
    return out


def test_a_swapped_view_is_put_right() -> None:
    rig, points, conf = observed(4)
    fixed, _, swapped = fix_left_right(rig, swap(points, 2), conf)
    assert swapped == [2]
    np.testing.assert_allclose(fixed, points)


def test_clean_views_and_two_view_rigs_are_left_alone() -> None:
    rig, points, conf = observed(4)
    same, _, swapped = fix_left_right(rig, points, conf)
    assert swapped == [] and np.array_equal(same, points)
    rig2, points2, conf2 = observed(2)
    kept, _, swapped2 = fix_left_right(rig2, swap(points2, 1), conf2)
    assert swapped2 == [] and np.array_equal(kept, swap(points2, 1))
