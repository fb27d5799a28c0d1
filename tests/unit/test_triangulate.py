"""Triangulation: exactness, confidence weighting, view rejection, and real board corners."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from syncpose.calibration.rigfile import read_caliscope
from syncpose.calibration.triangulate import triangulate
from syncpose.camera import Rig, look_at, ring_position
from tests.conftest import shared_file


def ring_rig(n: int = 4, dist: bool = True) -> Rig:
    cams = []
    for i in range(n):
        d = np.array([-0.2, 0.05, 0.001, 0.0005, 0.0]) if dist else np.zeros(5)
        cams.append(
            look_at(ring_position(i, n), (0.0, 0.0, 1.0), 1000.0, 1280, 720, name=f"c{i}", dist=d)
        )
    return Rig(tuple(cams))


def body_points(shape: tuple[int, ...] = (50, 17), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform([-1.0, -1.0, 0.0], [1.0, 1.0, 1.9], size=(*shape, 3))


def test_exact_without_noise_any_shape() -> None:
    rig = ring_rig()
    X = body_points()
    tri = triangulate(rig, rig.project(X))
    assert tri.points.shape == (50, 17, 3)
    np.testing.assert_allclose(tri.points, X, atol=1e-8)
    assert np.nanmax(tri.reprojection_error) < 1e-6
    assert tri.views_used.all() and (tri.n_views == 4).all()


def test_missing_views_and_too_few_views() -> None:
    rig = ring_rig()
    X = body_points((30,))
    obs = rig.project(X)
    obs[0, :10] = np.nan  # view 0 misses points 0-9
    obs[1:3, 20:] = np.nan  # points 20+ are seen by views 0 and 3 only
    obs[3, 25:] = np.nan  # ... and 25+ by view 0 alone
    tri = triangulate(rig, obs)
    np.testing.assert_allclose(tri.points[:25], X[:25], atol=1e-8)
    assert np.isnan(tri.points[25:]).all() and np.isnan(tri.reprojection_error[25:]).all()
    assert (tri.n_views[:10] == 3).all() and (tri.n_views[20:25] == 2).all()


def test_outlier_view_is_rejected() -> None:
    rig = ring_rig()
    X = body_points((40,))
    rng = np.random.default_rng(1)
    obs = rig.project(X) + rng.normal(0.0, 0.5, size=(4, 40, 2))
    obs[2, :20] += 60.0  # view 2 is wrong by 85 px on half the points
    plain = triangulate(rig, obs)
    robust = triangulate(rig, obs, max_error_px=10.0)
    assert not robust.views_used[2, :20].any() and robust.views_used[2, 20:].all()
    err_plain = np.linalg.norm(plain.points[:20] - X[:20], axis=-1).mean()
    err_robust = np.linalg.norm(robust.points[:20] - X[:20], axis=-1).mean()
    assert err_robust < 0.005 < err_plain
    assert np.nanmax(robust.reprojection_error) < 3.0


def test_confidence_weights_the_views() -> None:
    rig = ring_rig(dist=False)
    X = body_points((40,))
    obs = rig.project(X)
    obs[1] += 8.0  # one biased view
    trusting = triangulate(rig, obs)
    doubting = triangulate(
        rig, obs, confidence=np.array([1.0, 0.05, 1.0, 1.0])[:, None] * np.ones((4, 40))
    )
    e_trust = np.linalg.norm(trusting.points - X, axis=-1).mean()
    e_doubt = np.linalg.norm(doubting.points - X, axis=-1).mean()
    assert e_doubt < 0.3 * e_trust
    zero = triangulate(
        rig, obs, confidence=np.array([1.0, 0.0, 1.0, 1.0])[:, None] * np.ones((4, 40))
    )
    np.testing.assert_allclose(zero.points, X, atol=1e-8)  # a zero weight removes the view
    assert not zero.views_used[1].any()


def test_shape_errors() -> None:
    rig = ring_rig()
    with pytest.raises(ValueError, match="expected"):
        triangulate(rig, np.zeros((3, 5, 2)))


@pytest.mark.shared_data
def test_real_board_corners_with_reference_calibration() -> None:
    """Caliscope's own detections with its calibration: ~1 px median reprojection (as the data
    README says) and neighbouring corners 54 mm apart."""
    base = "calibration/caliscope_4cam_charuco/"
    rig = read_caliscope(shared_file(base + "camera_array.toml"))
    rows = list(csv.DictReader(shared_file(base + "xy.csv").open()))
    syncs = sorted({int(r["sync_index"]) for r in rows})
    index = {s: i for i, s in enumerate(syncs)}
    n_corners = max(int(r["keypoint_id"]) for r in rows) + 1
    obs = np.full((4, len(syncs), n_corners, 2), np.nan)
    board = np.zeros((n_corners, 2))
    for r in rows:
        kp = int(r["keypoint_id"])
        obs[int(r["cam_id"]), index[int(r["sync_index"])], kp] = r["img_loc_x"], r["img_loc_y"]
        board[kp] = r["board_loc_x"], r["board_loc_y"]
    tri = triangulate(rig, obs)
    errors = tri.errors[np.isfinite(tri.errors)]
    assert 0.8 < np.median(errors) < 1.2
    gaps = np.linalg.norm(board[:, None] - board[None], axis=-1)
    a, b = np.nonzero(np.triu(np.abs(gaps - 0.054) < 1e-4))
    d = np.linalg.norm(tri.points[:, a] - tri.points[:, b], axis=-1)
    d = d[np.isfinite(d)]
    assert len(d) > 500
    assert abs(np.mean(d) - 0.054) < 0.001
    assert np.sqrt(np.mean((d - 0.054) ** 2)) < 0.0015


def test_degenerate_and_behind_camera_solutions_never_raise() -> None:
    """Parallel rays give no point (NaN), not an exception; a view that would see the solution
    from behind is the one rejected."""
    a = look_at((0.0, 0.0, 0.0), (0.0, 0.0, 5.0), 1000.0, 1280, 720, name="a")
    b = look_at((1.0, 0.0, 0.0), (1.0, 0.0, 5.0), 1000.0, 1280, 720, name="b")
    centre = np.array([[640.0, 360.0]])
    parallel = triangulate([a, b], np.stack([centre, centre]), max_error_px=15.0)
    assert np.isnan(parallel.points).all()

    point = np.array([[0.3, 0.2, 5.0]])
    c = look_at((0.0, 0.0, 4.0), (0.0, 0.0, 0.0), 1000.0, 1280, 720, name="c")  # point behind
    obs = np.stack([a.project(point), b.project(point), np.array([[700.0, 300.0]])])
    tri = triangulate([a, b, c], obs, max_error_px=15.0)
    np.testing.assert_allclose(tri.points, point, atol=1e-9)
    assert tri.views_used[:, 0].tolist() == [True, True, False]
