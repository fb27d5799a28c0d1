"""Rebuild ``syncpose/data/cmu_131_01_60fps.npz`` from the CMU clip in ``../shared/data``.

Usage: ``python scripts/make_bundled_motion.py [--bvh PATH] [--out PATH]``

The CMU clip (subject 131, trial 01: start, walk, stop, hop) is converted to the shared npz
format: 21 joints in the Bandai-Namco naming, 60 fps (every other 120 fps frame), centred on the
mean pelvis position, feet on the floor (z = 0).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from syncpose.motion import Clip, Motion, read_bvh_motion, write_motion

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bvh", type=Path, default=ROOT.parent / "shared/data/mocap/bvh/cmu_131_01.bvh"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "syncpose/data/cmu_131_01_60fps.npz")
    args = parser.parse_args()
    motion = read_bvh_motion(args.bvh)
    clip = motion.clips[0]
    positions = clip.positions[::2].copy()
    positions[..., :2] -= positions[:, 0, :2].mean(axis=0)
    positions[..., 2] -= positions[..., 2].min()
    out = Motion(
        joint_names=motion.joint_names,
        parents=motion.parents,
        clips=(Clip(name="cmu_131_01", positions=positions, fps=clip.fps / 2),),
    )
    write_motion(args.out, out)
    print(f"wrote {args.out} ({positions.shape[0]} frames at {clip.fps / 2} fps)")  # noqa: T201


if __name__ == "__main__":
    main()
