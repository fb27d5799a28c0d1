"""The skeleton solve: rotations that give the joints back, twist from the joints that
define it, bone lengths held steady; and the BVH made from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from syncpose.bvh import bvh_text, write_bvh, zxy_degrees
from syncpose.motion import _axis_rotation, load_motion, read_bvh, to_z_up
from syncpose.skeleton import JOINTS, MOCAP, PARENTS
from syncpose.solve import (
    BODY_TO_WORLD,
    BONES,
    MIN_SAMPLES,
    BoneLengths,
    forward,
    lengths_of,
    matrix_to_quaternion,
    solve,
)

J = {n: i for i, n in enumerate(JOINTS)}


def mocap() -> np.ndarray:
    clip = load_motion("bundled").clips[0]
    return np.asarray(MOCAP.apply(clip.positions)[0])


def rigid(poses: np.ndarray) -> np.ndarray:
    """The motion with every bone (parent -> child of :data:`PARENTS`) at its median length:
    real motion capture made rigid (its clavicles, measured from the neck, are not)."""
    out = poses.copy()
    for j, p in enumerate(PARENTS):
        if p < 0:
            continue
        length = np.median(np.linalg.norm(poses[:, j] - poses[:, p], axis=-1))
        d = poses[:, j] - poses[:, p]
        out[:, j] = out[:, p] + length * d / np.linalg.norm(d, axis=-1, keepdims=True)
    return out


def t_pose() -> np.ndarray:
    """A T-pose facing world -Y (the rest pose), pelvis 1 m up."""
    W = BODY_TO_WORLD
    body = {
        "pelvis": (0, 0, 0), "neck": (0, 0.5, 0), "head": (0, 0.7, 0),
        "l_shoulder": (0.18, 0.5, 0), "r_shoulder": (-0.18, 0.5, 0),
        "l_elbow": (0.48, 0.5, 0), "r_elbow": (-0.48, 0.5, 0),
        "l_wrist": (0.73, 0.5, 0), "r_wrist": (-0.73, 0.5, 0),
        "l_hip": (0.1, 0, 0), "r_hip": (-0.1, 0, 0),
        "l_knee": (0.1, -0.45, 0), "r_knee": (-0.1, -0.45, 0),
        "l_ankle": (0.1, -0.88, 0), "r_ankle": (-0.1, -0.88, 0),
        "l_foot": (0.1, -0.88, 0.15), "r_foot": (-0.1, -0.88, 0.15),
    }  # fmt: skip
    pose = np.array([W @ np.array(body[n], dtype=float) for n in JOINTS])
    return np.asarray(pose + np.array([0.3, -0.2, 1.0]), dtype=np.float64)


def test_forward_kinematics_gives_the_joints_back_on_motion_capture() -> None:
    poses = rigid(mocap())
    solved = solve(poses)
    back = forward(solved, lengths_of(poses))
    err = np.linalg.norm(back - poses, axis=-1)
    assert err.max() < 0.005, f"max {err.max() * 1000:.2f} mm"
    # Rotations: proper, and the composed ones are the local ones chained.
    R = solved.local
    np.testing.assert_allclose(
        R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-9
    )
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-9)
    q = solved.quaternions()
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-12)
    assert (q[..., 0] >= 0).all()


def quaternion_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 3, 3) the rotation of unit quaternions (w, x, y, z), by the textbook formula."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def test_quaternions_give_their_rotations_back_including_half_turns() -> None:
    rng = np.random.default_rng(3)
    q = rng.normal(size=(500, 4))
    q[:100, 0] = 0.0  # half turns: the trace is -1, w's candidate is useless
    q[100:110, 1:] = 0.0  # the identity
    q[110:120, 2:] = 0.0  # about x only
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    R = quaternion_matrix(q).reshape(5, 100, 3, 3)
    back = matrix_to_quaternion(R)
    assert back.shape == (5, 100, 4)
    assert (back[..., 0] >= 0).all()
    np.testing.assert_allclose(quaternion_matrix(back), R, atol=1e-12)
    np.testing.assert_allclose(matrix_to_quaternion(np.eye(3)), [1.0, 0.0, 0.0, 0.0])


def test_the_rest_pose_solves_to_no_rotation_and_a_turn_to_the_root_alone() -> None:
    pose = t_pose()[None]
    solved = solve(pose)
    eye = np.broadcast_to(np.eye(3), solved.local.shape)
    np.testing.assert_allclose(solved.local, eye, atol=1e-9)
    # The person turned 90° about the vertical: only the root turns, by that much.
    c, s = 0.0, 1.0
    turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    turned = solve((pose - pose[:, :1]) @ turn.T)
    np.testing.assert_allclose(turned.local[0, 1:], eye[0, 1:], atol=1e-9)
    body_turn = BODY_TO_WORLD.T @ turn @ BODY_TO_WORLD  # about body y (up)
    np.testing.assert_allclose(turned.local[0, 0], body_turn, atol=1e-9)


def test_a_bent_knee_bends_about_the_knee_axis_and_the_foot_twists_the_shank() -> None:
    pose = t_pose()
    W = BODY_TO_WORLD
    # Left knee bent 90°: the shank points backward (body -z).
    knee = pose[J["l_knee"]]
    pose[J["l_ankle"]] = knee + W @ np.array([0.0, 0.0, -0.43])
    pose[J["l_foot"]] = pose[J["l_ankle"]] + W @ np.array([0.0, -0.15, 0.0])  # toes down
    solved = solve(pose[None])
    thigh = solved.local[0, [b.name for b in BONES].index("LeftUpperLeg")]
    np.testing.assert_allclose(thigh, np.eye(3), atol=1e-9)  # the thigh did not move
    shank = solved.local[0, [b.name for b in BONES].index("LeftLowerLeg")]
    # A rotation about the body x axis (the knee's hinge) by 90°.
    np.testing.assert_allclose(shank @ np.array([1.0, 0, 0]), [1.0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(shank @ np.array([0, -1.0, 0]), [0, 0, -1.0], atol=1e-9)
    # The foot, still at right angles to the shank, needs no rotation of its own.
    foot = solved.local[0, [b.name for b in BONES].index("LeftFoot")]
    np.testing.assert_allclose(foot, np.eye(3), atol=1e-9)


def test_bone_lengths_are_robust_then_held_and_follow_slowly() -> None:
    rng = np.random.default_rng(0)
    base = rigid(mocap())
    true = lengths_of(base).segments
    est = BoneLengths()
    got = None
    for k in range(MIN_SAMPLES + 40):
        pose = base[k] + rng.normal(0, 0.01, base[k].shape)
        if k % 7 == 3:  # a wrong wrist now and then
            pose[J["l_wrist"]] += 0.4
        got = est.update(pose)
        if k < MIN_SAMPLES - 1:
            assert got is None
    assert got is not None
    for name, length in true.items():
        assert abs(got.segments[name] - length) < 0.01, name
    # The forearm is 10 cm longer from now on (a new fit of the track): the held length
    # ignores it at first, then moves to it, never by more than a few mm per pose.
    before = got.segments["l_forearm"]
    longer = base.copy()
    wrist = longer[:, J["l_wrist"]] - longer[:, J["l_elbow"]]
    longer[:, J["l_wrist"]] += 0.1 * wrist / np.linalg.norm(wrist, axis=-1, keepdims=True)
    held = [before]
    for k in range(300):
        now = est.update(longer[k % len(longer)])
        assert now is not None
        held.append(now.segments["l_forearm"])
    steps = np.diff(held)
    assert held[1] == pytest.approx(before, abs=1e-3)
    assert (np.abs(steps) < 0.003).all()
    assert held[-1] - before > 0.09


def test_zxy_angles_compose_back_to_the_rotation() -> None:
    rng = np.random.default_rng(1)
    angles = rng.uniform(-80, 80, size=(50, 3))
    R = (
        _axis_rotation("Z", angles[:, 0])
        @ _axis_rotation("X", angles[:, 1])
        @ _axis_rotation("Y", angles[:, 2])
    )
    np.testing.assert_allclose(zxy_degrees(R), angles, atol=1e-9)


def test_bvh_read_back_gives_the_joints(tmp_path: Path) -> None:
    poses = rigid(mocap())[:120]
    poses[50:60] = np.nan  # absent: the nearest seen frame is repeated
    path = write_bvh(tmp_path / "take.bvh", poses, 120.0)
    bvh = read_bvh(path)
    assert bvh.fps == pytest.approx(120.0)
    assert bvh.names == tuple(b.name for b in BONES)
    world = to_z_up(bvh.positions / 100.0, "Y")  # centimetres, Y up
    for b, bone in enumerate(BONES):
        if bone.at in J:
            seen = np.isfinite(poses[:, J[bone.at]]).all(-1)
            err = np.linalg.norm(world[seen, b] - poses[seen, J[bone.at]], axis=-1)
            assert err.max() < 0.005, bone.name
    np.testing.assert_allclose(world[50:55], world[[49] * 5], atol=1e-9)
    metres = read_bvh_text(tmp_path, bvh_text(poses, 120.0, units="m"))
    np.testing.assert_allclose(metres, bvh.positions / 100.0, atol=1e-5)


def read_bvh_text(folder: Path, text: str) -> np.ndarray:
    path = folder / "m.bvh"
    path.write_text(text)
    return read_bvh(path).positions


def test_bvh_refuses_what_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="never seen"):
        bvh_text(np.full((3, len(JOINTS), 3), np.nan), 30.0)
    with pytest.raises(ValueError, match="units"):
        bvh_text(t_pose()[None], 30.0, units="inch")
    with pytest.raises(ValueError, match="shape"):
        solve(np.zeros((2, 5, 3)))


def test_a_detector_without_feet_still_gets_a_whole_skeleton() -> None:
    poses = rigid(mocap())
    poses[:, [J["l_foot"], J["r_foot"]]] = np.nan  # COCO-17 has no feet
    poses[:, J["r_wrist"]] = np.nan  # and one wrist never found
    full = lengths_of(rigid(mocap())).segments
    got = lengths_of(poses).segments
    assert got["r_forearm"] == pytest.approx(got["l_forearm"])  # the other side's
    scale = full["spine"] / 0.50
    assert got["l_foot"] == pytest.approx(0.15 * scale)  # typical, to the person's size
    online = BoneLengths()
    no_feet = rigid(mocap())
    no_feet[:, [J["l_foot"], J["r_foot"]]] = np.nan
    ready = [online.update(p) is not None for p in no_feet[: MIN_SAMPLES + 2]]
    assert ready[-1] and not ready[0]
    solved = solve(poses)
    assert np.isfinite(solved.local).all()
    back = forward(solved, lengths_of(poses))
    known = np.isfinite(poses).all(-1)
    assert np.linalg.norm(back - poses, axis=-1)[known].max() < 0.005


def test_the_solve_benchmark_reports_its_figures(tmp_path: Path) -> None:
    import json

    from syncpose.app.cli import main

    report = tmp_path / "solve.json"
    assert main(["bench", "solve", "--repeat", "1", "--json", str(report)]) == 0
    got = json.loads(report.read_text())
    assert got["poses"] == 497 and got["solve_ms_median"] > 0
    # The clip's clavicles are not rigid (see rigid()): FK misses them by about a centimetre.
    assert got["fk_gap_mm_median"] < 5 and 5 < got["fk_gap_mm_max"] < 20


def test_the_viewers_skeleton_places_the_bones_on_the_joints_with_proper_axes() -> None:
    from syncpose.messages import PoseResult
    from syncpose.server.hub import pose_json
    from syncpose.server.skeletons import LiveSkeletons

    poses = rigid(mocap())[:15]
    skeletons = LiveSkeletons()
    for k, pose in enumerate(poses):
        msg = PoseResult(
            bundle_seq=k, t_ref_ns=k, calibration_id="x", joint_names=list(JOINTS),
            camera_ids=["a", "b"], person_ids=[4], views_used=["a", "b"], method="denoiser",
            detector="synthetic",
        )  # fmt: skip
        arrays = {
            "positions": pose[None].astype(np.float32),
            "uncertainty": np.zeros((1, len(JOINTS)), np.float32),
        }
        data = pose_json(msg, arrays)
        live = skeletons.add(data, msg, arrays)
        assert "skeleton" not in data["people"][0]  # what is recorded stays the joints
        sk = live["people"][0]["skeleton"]
        assert sk["bones"] == [b.name for b in BONES]
        for b, bone in enumerate(BONES):
            if bone.at in J:
                err = np.linalg.norm(np.array(sk["positions"][b]) - pose[J[bone.at]])
                assert err < 0.005, (bone.name, err)
        axes = np.array(sk["axes"])
        np.testing.assert_allclose(
            axes @ np.swapaxes(axes, -1, -2), np.eye(3)[None].repeat(len(BONES), 0), atol=1e-3
        )
