"""A real client for the BVH export: Blender (Debian's ``blender``, headless) imports the file
with its own importer, and its armature's joints stand where the poses put them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from syncpose.bvh import write_bvh
from syncpose.skeleton import JOINTS
from syncpose.solve import BONES
from tests.unit.test_solve import mocap, rigid

SCRIPT = Path(__file__).with_name("blender") / "import_bvh.py"
BLENDER = shutil.which("blender")


@pytest.mark.slow
@pytest.mark.skipif(BLENDER is None, reason="no blender on PATH (Debian: apt install blender)")
def test_blender_imports_the_bvh_and_its_joints_match_the_poses(tmp_path: Path) -> None:
    poses = rigid(mocap())  # real motion capture, bones made rigid
    bvh = write_bvh(tmp_path / "take.bvh", poses, 120.0)
    frames = list(range(0, len(poses), 10))
    out = tmp_path / "heads.json"
    assert BLENDER is not None
    run = subprocess.run(
        [BLENDER, "-b", "--factory-startup", "--python-exit-code", "1", "--python", str(SCRIPT),
         "--", str(bvh), str(out), ",".join(map(str, frames))],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0 and out.exists(), run.stdout[-2000:] + run.stderr[-2000:]
    heads = json.loads(out.read_text())["frames"]
    assert len(heads) == len(frames)
    checked = 0
    for f in frames:
        for bone in BONES:
            if bone.at not in JOINTS:
                continue
            got = np.array(heads[str(f)][bone.name])
            want = poses[f, JOINTS.index(bone.at)]
            assert np.linalg.norm(got - want) < 0.01, (f, bone.name, got, want)
            checked += 1
    assert checked == len(frames) * sum(b.at in JOINTS for b in BONES)
