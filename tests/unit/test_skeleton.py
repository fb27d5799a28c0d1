"""The project skeleton and its mappings."""

from __future__ import annotations

import numpy as np
import pytest

from syncpose.motion import load_motion
from syncpose.skeleton import (
    BLAZEPOSE33,
    COCO17,
    GROUPS,
    HALPE26,
    JOINTS,
    LEFT_RIGHT,
    MAPS,
    MOCAP,
    PARENTS,
)


def test_groups_partition_the_joints_and_pairs_are_left_right() -> None:
    grouped = [j for g in GROUPS.values() for j in g]
    assert sorted(grouped) == sorted(JOINTS)
    assert len(PARENTS) == len(JOINTS) and PARENTS[0] == -1
    for left, right in LEFT_RIGHT:
        assert JOINTS[left].startswith("l_") and JOINTS[right] == "r_" + JOINTS[left][2:]


@pytest.mark.parametrize("name", ["blazepose33", "coco17", "halpe26", "mocap"])
def test_every_map_covers_the_body(name: str) -> None:
    m = MAPS[name]
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(3, len(m.source_names), 2))
    out, conf = m.apply(pts, np.full((3, len(m.source_names)), 0.8))
    assert out.shape == (3, len(JOINTS), 2) and conf.shape == (3, len(JOINTS))
    has_feet = name != "coco17"
    for j, joint in enumerate(JOINTS):
        if joint.endswith("_foot") and not has_feet:
            assert np.isnan(out[:, j]).all() and (conf[:, j] == 0).all()
        else:
            assert np.isfinite(out[:, j]).all() and (conf[:, j] == 0.8).all()


def test_composite_joints_average_and_take_the_lowest_confidence() -> None:
    pts = np.zeros((33, 2))
    conf = np.ones(33)
    pts[BLAZEPOSE33.source_names.index("left_hip")] = (10.0, 20.0)
    pts[BLAZEPOSE33.source_names.index("right_hip")] = (30.0, 40.0)
    conf[BLAZEPOSE33.source_names.index("right_hip")] = 0.3
    out, c = BLAZEPOSE33.apply(pts, conf)
    np.testing.assert_allclose(out[JOINTS.index("pelvis")], (20.0, 30.0))
    assert c[JOINTS.index("pelvis")] == 0.3


def test_wrong_keypoint_count_is_refused() -> None:
    with pytest.raises(ValueError, match="coco17: 33 keypoints, expected 17"):
        COCO17.apply(np.zeros((33, 2)))
    assert len(HALPE26.source_names) == 26


def test_mocap_to_skeleton_keeps_rigid_bones() -> None:
    pos = load_motion("bundled").clips[0].positions
    joints, _ = MOCAP.apply(pos)
    lengths = np.stack(
        [
            np.linalg.norm(joints[:, j] - joints[:, p], axis=-1)
            for j, p in enumerate(PARENTS)
            if p >= 0
        ]
    )
    neck = JOINTS.index("neck")
    limbs = [j - 1 for j, p in enumerate(PARENTS) if p >= 0 and p != neck]  # shoulders flex
    assert lengths[limbs].std(axis=1).max() < 0.002  # int16 millimetres of the file
    assert 0.3 < lengths[JOINTS.index("l_knee") - 1].mean() < 0.5  # thigh
