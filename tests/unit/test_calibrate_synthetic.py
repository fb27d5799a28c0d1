"""Calibration end to end on boards rendered through known cameras (distortion, blur, noise)."""

from __future__ import annotations

import numpy as np
import pytest

from syncpose.calibration.boards import BoardDetector, BoardSpec
from syncpose.calibration.extrinsics import BOARD_TO_Z_UP, calibrate_extrinsics
from syncpose.calibration.intrinsics import (
    BoardView,
    CalibrationError,
    calibrate_intrinsics,
    observe,
)
from syncpose.camera import Camera, look_at, rigid_fit, rodrigues_to_matrix
from tests.helpers.render import render_view

SPEC = BoardSpec("charuco", 5, 7, 0.09)
SIZE = (1280, 720)


def true_cameras() -> list[Camera]:
    cams = []
    for i, (pos, f, k1) in enumerate(
        [
            ((2.6, -1.2, 1.6), 910.0, -0.22),
            ((2.9, 0.9, 1.2), 880.0, -0.18),
            ((1.0, -2.8, 1.9), 940.0, -0.25),
        ]
    ):
        dist = np.array([k1, 0.06, 0.0, 0.0, 0.0])
        cam = look_at(pos, (0.0, 0.0, 1.0), f, *SIZE, name=f"cam{i}", dist=dist)
        K = cam.K.copy()
        K[:2, 2] += (7.0 * (i - 1), -5.0 * (i - 1))  # principal points off-centre
        cams.append(Camera(cam.name, SIZE, K, cam.dist, cam.rvec, cam.tvec))
    return cams


def board_poses(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Board poses facing the cameras (which stand around +x, -y), tilted up to ~35 degrees."""
    toward = np.array([1.0, -0.55, 0.25])
    z = -toward / np.linalg.norm(toward)  # the board's z axis points away from the viewers
    x = np.cross([0.0, 0.0, 1.0], z)
    x /= np.linalg.norm(x)
    face = np.stack([x, np.cross(z, x), z], axis=1)  # columns: board axes in the world
    poses = []
    for _ in range(n):
        tilt = rodrigues_to_matrix(rng.uniform(-0.6, 0.6, 3) * [1.0, 1.0, 0.5])
        T = np.eye(4)
        T[:3, :3] = face @ tilt
        centre = np.array([0.0, 0.0, 1.0]) + rng.uniform([-0.4, -0.7, -0.55], [0.6, 0.7, 0.55])
        T[:3, 3] = centre - T[:3, :3] @ np.array([0.225, 0.315, 0.0])  # board centre at `centre`
        poses.append(T)
    return poses


def observe_all(
    cameras: list[Camera],
    poses: list[np.ndarray],
    detector: BoardDetector,
    rng: np.random.Generator,
) -> dict[str, list[BoardView]]:
    """Every camera's view of every board pose, rendered and detected."""
    return {
        c.name: [observe(detector, render_view(SPEC, c, P, rng), k) for k, P in enumerate(poses)]
        for c in cameras
    }


@pytest.mark.slow
def test_recovers_known_cameras() -> None:
    rng = np.random.default_rng(7)
    truth = true_cameras()
    poses = board_poses(90, rng)
    detector = BoardDetector(SPEC)
    views = observe_all(truth, poses, detector, rng)
    intrinsics = [calibrate_intrinsics(c.name, views[c.name], detector, SIZE).camera for c in truth]
    detections = {n: {v.frame: v.detection for v in vs} for n, vs in views.items()}
    floor = next(
        k for k in range(len(poses)) if all(detections[c.name][k].count >= 20 for c in truth)
    )
    result = calibrate_extrinsics(intrinsics, detections, detector, floor_frame=floor)
    # The calibrated world is the board at `floor` with Z out of its face ...
    world_from_board = np.eye(4)
    world_from_board[:3, :3] = BOARD_TO_Z_UP
    np.testing.assert_allclose(result.board_poses[floor][:3, :3], BOARD_TO_Z_UP, atol=1e-9)
    # ... compare in it after aligning the two worlds on every board corner of every frame
    # (the gauge), so one noisy floor pose does not decide the comparison.
    corners = SPEC.object_points()
    cal = np.concatenate([corners @ T[:3, :3].T + T[:3, 3] for T in result.board_poses.values()])
    true = np.concatenate(
        [corners @ poses[f][:3, :3].T + poses[f][:3, 3] for f in result.board_poses]
    )
    cal_from_true = rigid_fit(true, cal)
    assert (
        np.sqrt(
            np.mean(
                np.sum((true @ cal_from_true[:3, :3].T + cal_from_true[:3, 3] - cal) ** 2, axis=1)
            )
        )
        < 0.002
    )
    for true_cam, cam in zip(truth, result.rig.cameras, strict=True):
        f_err = abs(cam.K[0, 0] - true_cam.K[0, 0]) / true_cam.K[0, 0]
        assert f_err < 0.005, (cam.name, cam.K[0, 0], true_cam.K[0, 0])
        centre_true = cal_from_true[:3, :3] @ true_cam.centre + cal_from_true[:3, 3]
        assert np.linalg.norm(cam.centre - centre_true) < 0.005, (cam.name, cam.centre, centre_true)
        R_true = true_cam.R @ cal_from_true[:3, :3].T
        angle = np.degrees(np.arccos(np.clip((np.trace(cam.R @ R_true.T) - 1) / 2, -1, 1)))
        assert angle < 0.2, (cam.name, angle)
        assert result.rms_px[cam.name] < 1.0


def test_camera_sharing_no_view_is_named() -> None:
    rng = np.random.default_rng(3)
    truth = true_cameras()[:2]
    poses = board_poses(12, rng)
    detector = BoardDetector(SPEC)
    views = observe_all(truth, poses, detector, rng)
    intrinsics = [calibrate_intrinsics(c.name, views[c.name], detector, SIZE).camera for c in truth]
    # cam1 saw the board only in frames cam0 did not.
    detections = {
        "cam0": {v.frame: v.detection for v in views["cam0"] if v.frame < 6},
        "cam1": {v.frame: v.detection for v in views["cam1"] if v.frame >= 6},
    }
    with pytest.raises(
        CalibrationError, match=r"camera\(s\) cam1 share no board view with the others"
    ):
        calibrate_extrinsics(intrinsics, detections, detector)


def test_no_board_in_video_says_what_to_do() -> None:
    detector = BoardDetector(SPEC)
    blank = np.full((720, 1280), 128, np.uint8)
    views = [observe(detector, blank, k) for k in range(10)]
    with pytest.raises(
        CalibrationError,
        match=r"camera cam9: only 0 usable board views out of 10 frames \(board seen in 0\)",
    ):
        calibrate_intrinsics("cam9", views, detector, SIZE)
