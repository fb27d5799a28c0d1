"""``syncpose reconstruct --keypoints``: OpenPose JSON written from a simulated scene of two
people goes back to the two people, each with an id of their own, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from syncpose.app.cli import main
from syncpose.calibration.rigfile import write_rig
from syncpose.motion import load_motion
from syncpose.openpose import BY_LENGTH, find_cameras, read_people, write_openpose
from syncpose.posefile import read_poses
from syncpose.scenes import Scene, crossing_paths, simulate_scene
from syncpose.simulate import DetectorNoise, default_rig
from syncpose.skeleton import BODY25, BODY25_NAMES, JOINTS

RIG = default_rig()
TICKS = 60


def body25(points: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """(25, 3) OpenPose BODY_25 keypoints (x, y, c) made from project joints (17, 2): the
    real neck and mid-hip, the face points on the head, the toes on the foot, the heels on
    the ankle (what a BODY_25 detector's output of such a person looks like)."""
    source = {
        "nose": "head", "neck": "neck", "mid_hip": "pelvis", "right_eye": "head",
        "left_eye": "head", "right_ear": "head", "left_ear": "head",
        "left_big_toe": "l_foot", "left_small_toe": "l_foot", "left_heel": "l_ankle",
        "right_big_toe": "r_foot", "right_small_toe": "r_foot", "right_heel": "r_ankle",
    }  # fmt: skip
    out = np.zeros((len(BODY25_NAMES), 3))
    for i, name in enumerate(BODY25_NAMES):
        joint = source.get(name) or f"{name[0]}_{name.split('_', 1)[1]}"
        j = JOINTS.index(joint)
        if conf[j] > 0 and np.isfinite(points[j]).all():
            out[i] = (*points[j], conf[j])
    return out


def write_scene(folder: Path, scene: Scene) -> None:
    for v, name in enumerate(RIG.names):
        cam = folder / f"{name}_json"
        cam.mkdir(parents=True)
        for k in range(TICKS):
            people = [body25(p, c) for _, p, c in scene.detections(v, k)]
            write_openpose(cam / f"take_{k:012d}_keypoints.json", people)


@pytest.fixture(scope="module")
def scene() -> Scene:
    rng = np.random.default_rng(5)
    clip = load_motion("bundled").clips[0]
    quiet = DetectorNoise(outlier_rate=0.0, swap_rate=0.0)
    paths = crossing_paths(clip, 2, rng, duration_s=3.0)
    return simulate_scene(paths, 2, RIG, rng, ticks=TICKS, noise=quiet)


def test_body25_files_map_neck_and_mid_hip_directly(tmp_path: Path, scene: Scene) -> None:
    write_scene(tmp_path / "kp", scene)
    cameras = find_cameras(tmp_path / "kp")
    assert [c.camera_id for c in cameras] == RIG.names and len(cameras[0]) == TICKS
    people = read_people(cameras[0].paths[10], BODY25)
    assert 1 <= len(people) <= 2
    truth = [p for _, p, _ in scene.detections(0, 10)]
    neck = JOINTS.index("neck")
    assert min(np.linalg.norm(people[0].points[neck] - t[neck]) for t in truth) < 1e-2


def test_reconstruct_keypoints_recovers_both_people_and_their_ids(
    tmp_path: Path, scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    write_scene(tmp_path / "kp", scene)
    write_rig(tmp_path / "rig.toml", RIG)
    args = ["reconstruct", "--keypoints", str(tmp_path / "kp"), "--calibration",
            str(tmp_path / "rig.toml"), "--fps", "30", "--method", "time_aware"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "no.npz")]) == 1
    assert "body25b" in capsys.readouterr().out  # 25 keypoints: which layout must be said
    out = tmp_path / "people.npz"
    code = main([*args, "--layout", "body25", "--max-people", "2", "--out", str(out),
                 "--report", str(tmp_path / "report.json")])  # fmt: skip
    assert code == 0
    track = read_poses(out)
    assert len(track.ids) == 2
    assert track.frame_index is not None and track.frame_index.tolist() == list(range(TICKS))
    owner: dict[int, int] = {}
    for i, pid in enumerate(track.ids):
        seen = np.flatnonzero(track.present[:, i])
        assert len(seen) > 0.8 * TICKS
        errors = []
        for k in seen:
            gap = np.linalg.norm(scene.truth[k] - track.positions[k, i][None], axis=-1)
            err = np.nanmean(gap, axis=-1)  # (2,) to each true person
            owner.setdefault(pid, int(np.argmin(err)))
            assert int(np.argmin(err)) == owner[pid], "an id changed person"
            errors.append(err.min())
        assert np.median(errors) < 0.03
    assert sorted(owner.values()) == [0, 1]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["detector"] == "keypoint-files:body25" and len(report["people"]) == 2


def test_layout_is_told_by_the_length_where_it_can_be() -> None:
    assert BY_LENGTH == {17: "coco17", 18: "coco18", 26: "halpe26"}
