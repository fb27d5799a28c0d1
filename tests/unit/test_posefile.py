"""Pose files: every format written, NPZ and JSON read back, TRC as OpenSim expects it."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from syncpose.posefile import PoseTrack, read_poses, write_poses
from syncpose.skeleton import JOINTS


def track(k: int = 5) -> PoseTrack:
    rng = np.random.default_rng(0)
    positions = rng.normal(size=(k, len(JOINTS), 3))
    positions[1, 3] = np.nan  # a joint unknown in one pose
    positions[2] = np.nan  # no pose at all
    unc = np.abs(rng.normal(size=(k, len(JOINTS)))) * 0.01
    unc[2] = np.nan
    return PoseTrack(
        joint_names=list(JOINTS),
        t_s=np.arange(k) / 30.0,
        positions=positions,
        uncertainty=unc,
        bundle_seq=np.arange(k, dtype=np.int64) + 7,
        views_used=[["cam0", "cam1"]] * k,
        fps=30.0,
        camera_ids=["cam0", "cam1"],
        keypoints_2d=rng.normal(size=(k, 2, len(JOINTS), 3)),
        metadata={"method": "denoiser"},
    )


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    original = track()
    back = read_poses(write_poses(tmp_path / f"poses{suffix}", original))
    assert back.joint_names == original.joint_names
    np.testing.assert_allclose(back.positions, original.positions, atol=1e-6)
    np.testing.assert_allclose(back.uncertainty, original.uncertainty, atol=1e-6)
    assert (back.bundle_seq == original.bundle_seq).all()
    assert back.views_used == original.views_used and back.metadata["method"] == "denoiser"
    assert back.solved_fraction == pytest.approx(0.8)
    if suffix == ".npz":
        assert back.keypoints_2d is not None
        np.testing.assert_allclose(back.keypoints_2d, np.asarray(original.keypoints_2d))
    assert not list(tmp_path.glob("*.part"))


def test_trc_is_y_up_with_blank_unknowns(tmp_path: Path) -> None:
    t = track()
    lines = write_poses(tmp_path / "p.trc", t).read_text().splitlines()
    assert lines[0].startswith("PathFileType\t4\t(X/Y/Z)\tp.trc")
    assert lines[2].split("\t") == ["30", "30", "5", str(len(JOINTS)), "m", "30", "1", "5"]
    assert lines[3].split("\t")[2] == "pelvis"
    assert lines[5] == ""
    first = lines[6].split("\t")
    assert first[0] == "1" and float(first[1]) == 0.0
    x, y, z = (float(v) for v in first[2:5])
    px, py, pz = t.positions[0, 0, 0]  # tick 0, person 1, pelvis
    assert (x, y, z) == pytest.approx((px, pz, -py), abs=1e-6)  # Z-up world -> OpenSim Y-up
    missing = lines[8].split("\t")  # pose 2: nothing known
    assert missing[2:] == [""] * (3 * len(JOINTS))


def test_csv_columns_and_errors(tmp_path: Path) -> None:
    t = track()
    with write_poses(tmp_path / "p.csv", t).open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:5] == ["t_s", "bundle_seq", "person", "views_used", "pelvis_x"]
    assert len(rows) == 6 and rows[2][4 + 4 * 3] == ""  # l_shoulder_x unknown in pose 1
    assert rows[1][2] == "1" and rows[3][2] == ""  # pose 2: nobody
    with pytest.raises(ValueError, match="unknown pose format"):
        write_poses(tmp_path / "p.xlsx", t)
    with pytest.raises(ValueError, match="positions has shape"):
        PoseTrack(list(JOINTS), np.zeros(2), np.zeros((3, 17, 3)), np.zeros((2, 17)),
                  np.zeros(2, np.int64), [[], []], 30.0)  # fmt: skip


@pytest.mark.filterwarnings("ignore:No analog data found")
def test_c3d_reads_back_with_an_independent_reader(tmp_path: Path) -> None:
    import c3d  # type: ignore[import-untyped]

    t = track()
    path = write_poses(tmp_path / "p.c3d", t)
    with path.open("rb") as fh:
        reader = c3d.Reader(fh)
        assert reader.point_used == len(JOINTS) and reader.point_rate == 30.0
        assert [s.strip() for s in reader.point_labels] == list(JOINTS)
        assert reader.get("POINT:UNITS").string_value.strip() == "mm"
        frames = [points for _, points, _ in reader.read_frames()]
    assert len(frames) == len(t)
    np.testing.assert_allclose(frames[0][:, :3], t.positions[0, 0] * 1000.0, rtol=1e-5, atol=1e-3)
    assert frames[1][3, 3] < 0  # the joint unknown in pose 1 is marked invalid
    assert (frames[2][:, 3] < 0).all()  # no pose at all


def two_people(k: int = 6) -> PoseTrack:
    rng = np.random.default_rng(1)
    J = len(JOINTS)
    positions = rng.normal(size=(k, 2, J, 3))
    positions[:2, 1] = np.nan  # the second person enters at tick 2
    positions[4, 0] = np.nan  # the first is hidden at tick 4
    unc = np.where(np.isnan(positions[..., 0]), np.nan, 0.01)
    return PoseTrack(
        joint_names=list(JOINTS),
        t_s=np.arange(k) / 30.0,
        positions=positions,
        uncertainty=unc,
        bundle_seq=np.arange(k, dtype=np.int64),
        views_used=[["cam0", "cam1"]] * k,
        fps=30.0,
        camera_ids=["cam0", "cam1"],
        keypoints_2d=rng.normal(size=(k, 2, 2, J, 3)),
        person_ids=np.array([3, 7]),
        frame_index=np.arange(k, dtype=np.int64) + 10,
    )


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_several_people_round_trip_with_their_ids(tmp_path: Path, suffix: str) -> None:
    original = two_people()
    back = read_poses(write_poses(tmp_path / f"people{suffix}", original))
    assert back.ids == [3, 7]
    np.testing.assert_allclose(back.positions, original.positions, atol=1e-6)
    assert back.positions.shape == (6, 2, len(JOINTS), 3)
    assert back.frame_index is not None and back.frame_index.tolist() == list(range(10, 16))
    assert np.isnan(back.person(7)[:2]).all() and np.isfinite(back.person(7)[2:]).all()


def test_npz_of_several_people_holds_the_arrays_users_load(tmp_path: Path) -> None:
    path = write_poses(tmp_path / "people.npz", two_people())
    with np.load(path) as z:
        assert z["positions"].shape == (6, 2, len(JOINTS), 3)
        assert z["person_ids"].tolist() == [3, 7] and z["t_s"].shape == (6,)
        assert z["frame_index"].shape == (6,)


def test_bvh_is_one_skeleton_file_per_person(tmp_path: Path) -> None:
    from syncpose.motion import read_bvh
    from syncpose.posefile import person_paths
    from tests.unit.test_solve import mocap

    t = two_people()
    t.positions = np.stack([mocap()[:6], mocap()[10:16] + 1.0], axis=1)
    t.positions[:2, 1] = np.nan
    first = write_poses(tmp_path / "take.bvh", t)
    files = person_paths(tmp_path / "take.bvh", t.ids)
    assert [f.name for f in files] == ["take_P3.bvh", "take_P7.bvh"] and first == files[0]
    for f in files:
        bvh = read_bvh(f)
        assert bvh.positions.shape[0] == 6 and bvh.fps == pytest.approx(30.0)
    # Person 7 was seen from tick 2: the two ticks before repeat it.
    late = read_bvh(files[1]).positions
    np.testing.assert_allclose(late[0], late[2], atol=1e-6)


def test_trc_is_one_file_per_person_and_csv_has_a_person_column(tmp_path: Path) -> None:
    from syncpose.posefile import person_paths

    t = two_people()
    first = write_poses(tmp_path / "take.trc", t)
    files = person_paths(tmp_path / "take.trc", t.ids)
    assert [f.name for f in files] == ["take_P3.trc", "take_P7.trc"] and first == files[0]
    assert all(f.is_file() for f in files) and not (tmp_path / "take.trc").exists()
    second = files[1].read_text().splitlines()
    assert second[0].endswith("take_P7.trc")
    assert second[6].split("\t")[2:] == [""] * (3 * len(JOINTS))  # not there yet at tick 0
    with write_poses(tmp_path / "take.csv", t).open() as fh:
        rows = list(csv.reader(fh))[1:]
    assert [r[2] for r in rows] == ["3", "3", "3", "7", "3", "7", "7", "3", "7"]


@pytest.mark.filterwarnings("ignore:No analog data found")
def test_c3d_labels_each_persons_points(tmp_path: Path) -> None:
    import c3d

    path = write_poses(tmp_path / "people.c3d", two_people())
    with path.open("rb") as fh:
        reader = c3d.Reader(fh)
        labels = [s.strip() for s in reader.point_labels]
    assert labels[0] == "P3_pelvis" and labels[len(JOINTS)] == "P7_pelvis"
    assert len(labels) == 2 * len(JOINTS)


def test_a_version_1_file_of_one_person_still_reads(tmp_path: Path) -> None:
    import json

    doc = {
        "format": "syncpose-poses", "version": 1, "joint_names": list(JOINTS), "fps": 30.0,
        "frames": [{"t_s": 0.0, "bundle_seq": 4, "views_used": ["cam0"],
                    "positions": [[0.0, 1.0, 2.0]] * len(JOINTS),
                    "uncertainty": [0.01] * len(JOINTS)}],
    }  # fmt: skip
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    back = read_poses(path)
    assert back.ids == [1] and back.positions.shape == (1, 1, len(JOINTS), 3)
