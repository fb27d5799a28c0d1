"""Camera model and rig files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from syncpose.calibration.rigfile import (
    RigFileError,
    load_rig,
    read_caliscope,
    read_qualisys,
    read_rig,
    write_rig,
)
from syncpose.camera import Camera, Rig
from tests.conftest import shared_file

K = np.array([[900.0, 0.0, 640.0], [0.0, 905.0, 360.0], [0.0, 0.0, 1.0]])
DIST = np.array([-0.25, 0.08, 0.001, -0.0015, -0.01])


def camera(name: str = "c", rvec: tuple[float, ...] = (0.1, -0.2, 0.05)) -> Camera:
    return Camera(name, (1280, 720), K, DIST, np.array(rvec), np.array([0.1, -0.2, 3.0]))


def points(n: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform([-1.0, -0.6, -0.5], [1.0, 0.6, 0.5], size=(n, 3))


def test_projection_matches_opencv() -> None:
    cam = camera()
    X = points()
    expected, _ = cv2.projectPoints(X, cam.rvec, cam.tvec, cam.K, cam.dist)
    np.testing.assert_allclose(cam.project(X), expected.reshape(-1, 2), atol=1e-9)
    assert cam.project(X.reshape(10, 20, 3)).shape == (10, 20, 2)


def test_points_behind_the_camera_are_nan() -> None:
    cam = Camera("c", (640, 480), K)
    assert np.isnan(cam.project([0.0, 0.0, -1.0])).all()


def test_undistort_inverts_distortion_and_rays_hit_the_point() -> None:
    cam = camera()
    X = points()
    uv = cam.project(X)
    xy = cam.undistort(uv)
    cam_pts = cam.to_camera(X)
    np.testing.assert_allclose(xy, cam_pts[:, :2] / cam_pts[:, 2:], atol=1e-9)
    rays = cam.rays(uv)
    to_point = X - cam.centre
    to_point /= np.linalg.norm(to_point, axis=1, keepdims=True)
    np.testing.assert_allclose(rays, to_point, atol=1e-9)


def test_rig_projects_and_casts_rays_for_every_camera_at_once() -> None:
    """The rig's one-pass projection and rays equal each camera's own, lens by lens (one
    camera without distortion among distorted ones), with NaN kept where a camera has it."""
    cams = (
        camera("a"),
        Camera("b", (640, 480), K, np.zeros(5), np.array([0.0, 0.3, 0.0]), np.array([0, 0, 4.0])),
        replace(camera("c", (-0.2, 0.1, 0.3)), dist=DIST * 0.5),
    )
    rig = Rig(cams)
    X = points(60).reshape(3, 4, 5, 3)
    X[1, 0, 0] = [0.0, 0.0, -10.0]  # behind camera b
    uv = rig.project_each(X)
    assert uv.shape == (3, 4, 5, 2)
    for v, cam in enumerate(cams):
        np.testing.assert_array_equal(np.isnan(uv[v]), np.isnan(cam.project(X[v])))
        np.testing.assert_allclose(uv[v], cam.project(X[v]), atol=1e-9)
        np.testing.assert_array_equal(rig.in_image_each(uv)[v], cam.in_image(uv[v]))
    np.testing.assert_allclose(rig.project(X[0]), np.stack([c.project(X[0]) for c in cams]))
    seen = np.where(np.isfinite(uv), uv, 100.0)
    rays = rig.rays_each(seen)
    for v, cam in enumerate(cams):
        np.testing.assert_allclose(rays[v], cam.rays(seen[v]), atol=1e-9)


def test_rig_file_round_trip_is_exact(tmp_path: Path) -> None:
    rig = Rig((camera("left"), camera("right", (0.3, 0.2, -0.1))), {"note": "test", "n": 2})
    write_rig(tmp_path / "rig.toml", rig)
    back = read_rig(tmp_path / "rig.toml")
    assert back.same_as(rig) and back.id == rig.id
    assert back.metadata["note"] == "test" and back.metadata["calibration_id"] == rig.id
    write_rig(tmp_path / "again.toml", back)
    assert (tmp_path / "again.toml").read_text() == (tmp_path / "rig.toml").read_text()


def test_calibration_id_is_stable_and_sensitive() -> None:
    a = Rig((camera("left"),))
    assert a.id == Rig((camera("left"),)).id
    moved = camera("left").with_pose(camera().rvec, camera().tvec + np.array([0.0, 0.0, 1e-9]))
    assert Rig((moved,)).id != a.id


def test_bad_rig_files_say_what_and_where(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[cam_0]\nname = "x"\nsize = [640, 480]\n')
    with pytest.raises(RigFileError, match=r"bad\.toml: \[cam_0\]: missing key 'matrix'"):
        read_rig(bad)
    bad.write_text("not = [valid")
    with pytest.raises(RigFileError, match="not valid TOML"):
        read_rig(bad)
    with pytest.raises(RigFileError, match="No such file"):
        read_rig(tmp_path / "missing.toml")


@pytest.mark.shared_data
def test_qualisys_import_equals_pose2sims_conversion() -> None:
    qca = read_qualisys(shared_file("video/pose2sim_single/Calib.qca.txt"))
    ref = read_rig(shared_file("video/pose2sim_single/Calib_qualisys.toml"))
    assert [c.size for c in qca.cameras] == [c.size for c in ref.cameras] == [(1088, 1920)] * 4
    for a, b in zip(qca.cameras, ref.cameras, strict=True):
        np.testing.assert_allclose(a.K, b.K, atol=1e-9)
        np.testing.assert_allclose(a.dist, b.dist, atol=1e-12)
        np.testing.assert_allclose(a.R, b.R, atol=1e-9)
        np.testing.assert_allclose(a.tvec, b.tvec, atol=1e-9)
    assert load_rig(shared_file("video/pose2sim_single/Calib.qca.txt")).same_as(qca)


@pytest.mark.shared_data
def test_caliscope_import() -> None:
    rig = read_caliscope(shared_file("calibration/caliscope_4cam_charuco/camera_array.toml"))
    assert rig.names == ["cam_0", "cam_1", "cam_2", "cam_3"]
    assert rig.cameras[0].size == (1280, 720)
    assert abs(rig.cameras[0].K[0, 0] - 903.55) < 0.01
    assert load_rig(shared_file("calibration/caliscope_4cam_charuco/camera_array.toml")).same_as(
        rig
    )


@pytest.mark.parametrize(
    "rvec",
    [
        (0.0, 0.0, 0.0),
        (1e-9, -2e-9, 0.0),
        (0.3, -1.2, 0.5),
        (np.pi, 0.0, 0.0),
        (0.0, 3.14159, 0.001),
        (2.0, 1.0, -0.5),
    ],
)
def test_rodrigues_matches_opencv(rvec: tuple[float, float, float]) -> None:
    from syncpose.camera import matrix_to_rodrigues, rodrigues_to_matrix

    R_cv, _ = cv2.Rodrigues(np.array(rvec, dtype=np.float64))
    np.testing.assert_allclose(rodrigues_to_matrix(rvec), R_cv, atol=1e-12)
    back = rodrigues_to_matrix(matrix_to_rodrigues(R_cv))
    np.testing.assert_allclose(back, R_cv, atol=1e-9)


def test_projection_refuses_points_where_barrel_distortion_folds_back() -> None:
    from syncpose.camera import look_at

    cam = look_at((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 1000.0, 1280, 720, dist=(-0.3, -0.05))
    inside = cam.project(np.array([0.5, 0.0, 1.0]))  # 27° off-axis: r = 0.5
    folded = cam.project(np.array([1.5, 0.0, 1.0]))  # r = 1.5: would fold back into view
    assert np.isfinite(inside).all() and np.isnan(folded).all()


def test_calibration_cameras_match_rig_ids() -> None:
    """Calibrated cameras are matched to the rig's ids by name (cam_01 is cam01 is CAM-1), by
    order when no name is shared, and anything else is an error naming both lists."""
    from syncpose.simulate import default_rig

    rig = default_rig(3)
    renamed = Rig(
        tuple(
            Camera(f"cam_0{i + 1}", c.size, c.K, c.dist, c.rvec, c.tvec)
            for i, c in enumerate(rig.cameras)
        )
    )
    by_name = renamed.matched_to(["CAM-3", "cam1", "cam02"])
    assert by_name.names == ["CAM-3", "cam1", "cam02"]
    assert by_name.cameras[0].same_as(
        Camera("CAM-3", rig.cameras[2].size, rig.cameras[2].K, rig.cameras[2].dist,
               rig.cameras[2].rvec, rig.cameras[2].tvec)
    )  # fmt: skip
    by_order = renamed.matched_to(["left", "middle", "right"])
    assert np.allclose(by_order.cameras[1].tvec, rig.cameras[1].tvec)
    with pytest.raises(ValueError, match="cannot match"):
        renamed.matched_to(["cam1", "cam9"])
