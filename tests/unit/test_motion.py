"""Motion files, BVH import and continuous-time sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from syncpose.arrays import FloatArray
from syncpose.motion import (
    MOTION_JOINTS,
    Clip,
    Motion,
    MotionFileError,
    load_motion,
    read_bvh_motion,
    read_motion,
    write_motion,
)
from tests.conftest import shared_file

COEFFS = np.random.default_rng(0).normal(size=(4, 2, 3))  # a cubic per joint and axis


def cubic(t: npt.ArrayLike) -> FloatArray:
    """Positions (..., 2, 3) of the cubic motion at times ``t``."""
    tt = np.asarray(t, dtype=np.float64)[..., None, None]
    return np.asarray(COEFFS[0] + COEFFS[1] * tt + COEFFS[2] * tt**2 + COEFFS[3] * tt**3)


def cubic_clip(n: int = 30, fps: float = 30.0) -> Clip:
    return Clip("poly", cubic(np.arange(n) / fps), fps)


def test_interpolation_is_exact_on_cubic_motion() -> None:
    clip = cubic_clip()
    t = np.random.default_rng(1).uniform(0, clip.duration_s, 200)
    np.testing.assert_allclose(clip.sample(t), cubic(t), atol=1e-9)
    np.testing.assert_allclose(clip.sample(0.123), cubic(0.123), atol=1e-9)


def test_sampling_clamps_to_the_clip() -> None:
    clip = cubic_clip()
    np.testing.assert_allclose(clip.sample(-1.0), clip.positions[0])
    np.testing.assert_allclose(clip.sample(99.0), clip.positions[-1])


def test_write_read_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    clips = tuple(
        Clip(f"c{i}", rng.uniform(-2, 2, size=(n, len(MOTION_JOINTS), 3)), 30.0)
        for i, n in enumerate((5, 9))
    )
    motion = Motion(MOTION_JOINTS, tuple(range(-1, len(MOTION_JOINTS) - 1)), clips)
    write_motion(tmp_path / "m.npz", motion)
    back = read_motion(tmp_path / "m.npz")
    assert back.joint_names == MOTION_JOINTS and [c.name for c in back.clips] == ["c0", "c1"]
    for a, b in zip(clips, back.clips, strict=True):
        np.testing.assert_allclose(a.positions, b.positions, atol=0.0005 + 1e-12)  # int16 mm


def test_bad_motion_file_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, positions_mm=np.zeros((3, 2, 3), np.int16), fps=30.0)
    with pytest.raises(MotionFileError, match=r"bad\.npz: missing field\(s\) \['joint_names'"):
        read_motion(path)


def test_bundled_motion() -> None:
    motion = load_motion("bundled")
    (clip,) = motion.clips
    assert motion.joint_names == MOTION_JOINTS
    assert clip.fps == 60.0 and clip.n_frames > 400
    assert abs(clip.positions[..., 2].min()) < 0.01  # feet on the floor, Z up


@pytest.mark.shared_data
def test_shared_npz_is_read_z_up_in_metres() -> None:
    motion = read_motion(shared_file("mocap/bandai1_train.npz"))
    assert len(motion.clips) == 139 and motion.clips[0].fps == 30.0
    head = motion.clips[0].positions[:, MOTION_JOINTS.index("Head"), 2]
    assert 1.3 < head.mean() < 1.5  # the README: head joint at about 1.4 m


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("name", "head_range"),
    [("cmu_131_01.bvh", (1.2, 1.7)), ("dataset-1_run_normal_001.bvh", (1.25, 1.5))],
)
def test_bvh_import_has_rigid_bones_and_plausible_stature(
    name: str, head_range: tuple[float, float]
) -> None:
    motion = read_bvh_motion(shared_file(f"mocap/bvh/{name}"))
    pos = motion.clips[0].positions
    lengths = np.stack([np.linalg.norm(pos[:, j] - pos[:, p], axis=-1) for p, j in motion.bones])
    assert lengths.std(axis=1).max() < 1e-9  # rigid skeleton
    thigh = lengths[:, 0][motion.bones.index((13, 14))]
    assert 0.3 < thigh < 0.5
    head = pos[:, MOTION_JOINTS.index("Head"), 2].mean()
    assert head_range[0] < head < head_range[1]
    assert pos[..., 2].min() < 0.15  # a foot reaches the floor


@pytest.mark.shared_data
def test_import_bvh_command_writes_the_shared_format(tmp_path: Path) -> None:
    from syncpose.app.cli import main

    bvh = sorted(shared_file("mocap/bvh").glob("dataset-1_*.bvh"))
    out = tmp_path / "m.npz"
    assert main(["import-bvh", *map(str, bvh), "--out", str(out)]) == 0
    motion = read_motion(out)
    assert [c.name for c in motion.clips] == [p.stem for p in bvh]
    assert motion.joint_names == MOTION_JOINTS and motion.clips[0].fps == 30.0
    again = read_bvh_motion(bvh[0]).clips[0].positions
    np.testing.assert_allclose(motion.clips[0].positions, again, atol=0.0005 + 1e-12)
