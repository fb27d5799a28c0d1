"""BVH export: one person's poses as a skeleton with joint rotations, for Blender, Maya,
MotionBuilder and the retargeting tools that read BVH.

The hierarchy is :data:`~syncpose.solve.BONES` (Unity's humanoid names), its rest pose a
T-pose facing +Z, Y up (BVH's usual frame; the Z-up world maps to it as ``(x, y, z) ->
(x, z, -y)``), offsets from the person's bone lengths over the take
(:func:`~syncpose.solve.lengths_of`; a bone the detector never gives has the other side's
length, else a typical one). Units: centimetres by default (what most BVH files and
tools expect), or metres (``units="m"``). Channels: the root's ``Xposition Yposition
Zposition Zrotation Xrotation Yrotation``, every other joint's ``Zrotation Xrotation
Yrotation`` (degrees, composed in that order: ``R = Rz Rx Ry``). A frame where the person is
absent repeats the nearest frame where they were seen (BVH has no "unknown").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from syncpose.arrays import FloatArray
from syncpose.solve import BODY_TO_WORLD, BONES, Lengths, lengths_of, solve

UNITS = {"cm": 100.0, "m": 1.0}
#: Length of the end sites of the bones that end the chains (m, body axes).
_END_SITES = {
    "Head": 0.18,
    "LeftHand": 0.08,
    "RightHand": 0.08,
    "LeftToes": 0.05,
    "RightToes": 0.05,
}


def zxy_degrees(R: FloatArray) -> FloatArray:
    """(..., 3) angles (z, x, y) in degrees with ``R = Rz(z) Rx(x) Ry(y)`` for rotations
    ``R`` (..., 3, 3) (at x = ±90°, where z and y are one turn, all of it goes to z)."""
    x = np.arcsin(np.clip(R[..., 2, 1], -1.0, 1.0))
    gimbal = np.abs(R[..., 2, 1]) > 1.0 - 1e-9
    z = np.where(
        gimbal, np.arctan2(R[..., 1, 0], R[..., 0, 0]), np.arctan2(-R[..., 0, 1], R[..., 1, 1])
    )
    y = np.where(gimbal, 0.0, np.arctan2(-R[..., 2, 0], R[..., 2, 2]))
    return np.asarray(np.degrees(np.stack([z, x, y], axis=-1)), dtype=np.float64)


def _filled(poses: FloatArray) -> FloatArray:
    """``poses`` with each absent frame (no joint known) replaced by the nearest present one."""
    present = np.flatnonzero(np.isfinite(poses).all(-1).any(-1))
    if present.size == 0:
        raise ValueError("the person is never seen: nothing to write")
    k = np.arange(len(poses))
    after = np.clip(np.searchsorted(present, k), 0, present.size - 1)
    before = np.clip(after - 1, 0, present.size - 1)
    nearest = np.where(np.abs(present[before] - k) <= np.abs(present[after] - k), before, after)
    return np.asarray(poses[present[nearest]], dtype=np.float64)


def bvh_text(
    poses: npt.ArrayLike, fps: float, *, units: str = "cm", lengths: Lengths | None = None
) -> str:
    """The BVH file of one person's ``poses`` (K, J, 3) (world, m, Z up; NaN = unknown) at
    ``fps``; ``lengths`` default to the take's own (:func:`~syncpose.solve.lengths_of`)."""
    if units not in UNITS:
        raise ValueError(f"BVH units {units!r}: use one of {sorted(UNITS)}")
    if not fps > 0:
        raise ValueError(f"BVH frame rate must be positive, not {fps}")
    p = _filled(np.asarray(poses, dtype=np.float64))
    lengths = lengths or lengths_of(p)
    offsets = lengths.offsets()
    solved = solve(p)
    scale = UNITS[units]
    children: dict[int, list[int]] = {b: [] for b in range(len(BONES))}
    for b, bone in enumerate(BONES):
        if bone.parent >= 0:
            children[bone.parent].append(b)

    def fmt(v: FloatArray) -> str:
        return " ".join(f"{x * scale:.6f}" for x in v)

    lines = ["HIERARCHY"]
    order: list[int] = []  # the bones as the hierarchy lists them: the channels' order

    def emit(b: int, depth: int) -> None:
        bone, pad = BONES[b], "  " * depth
        order.append(b)
        if bone.parent < 0:
            lines.append(f"{pad}ROOT {bone.name}")
            channels = "6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"
        else:
            lines.append(f"{pad}JOINT {bone.name}")
            channels = "3 Zrotation Xrotation Yrotation"
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {fmt(offsets[b])}")
        lines.append(f"{pad}  CHANNELS {channels}")
        for c in children[b]:
            emit(c, depth + 1)
        if not children[b]:
            end = np.asarray(bone.rest) * _END_SITES.get(bone.name, 0.05)
            lines.extend(
                [f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET {fmt(end)}", pad + "  }"]
            )
        lines.append(pad + "}")

    emit(0, 0)
    root = solved.root @ BODY_TO_WORLD  # world -> body axes (row vectors: v @ W = W^T v)
    angles = zxy_degrees(solved.local[:, order])  # (K, B, 3)
    lines += ["MOTION", f"Frames: {len(p)}", f"Frame Time: {1.0 / fps:.8f}"]
    for k in range(len(p)):
        values = [f"{x * scale:.6f}" for x in root[k]]
        values += [f"{a:.6f}" for a in angles[k].reshape(-1)]
        lines.append(" ".join(values))
    return "\n".join(lines) + "\n"


def write_bvh(path: str | Path, poses: npt.ArrayLike, fps: float, *, units: str = "cm") -> Path:
    """Write :func:`bvh_text` to ``path`` (through a ``.part`` file: never half a file)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(bvh_text(poses, fps, units=units), encoding="utf-8")
    tmp.replace(path)
    return path
