"""Motion files: the shared npz format, BVH import, and continuous-time sampling of clips.

The npz format (see ``../shared/data/README.md``): ``positions_mm`` (T, J, 3), ``joint_names``
(J,), ``parents`` (J,), ``clip_names`` (C,), ``clip_starts`` (C+1,), ``fps``, ``up_axis`` and
``units``. In memory every :class:`Clip` holds float64 metres in syncpose's world frame: **Z up**,
right-handed. Clips are never interpolated across their boundaries.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.interpolate import CubicSpline

from syncpose.arrays import FloatArray

#: Joint names of the shared npz files (Bandai-Namco naming); the bundled clip uses them too.
MOTION_JOINTS: tuple[str, ...] = (
    "Hips", "Spine", "Chest", "Neck", "Head",
    "Shoulder_L", "UpperArm_L", "LowerArm_L", "Hand_L",
    "Shoulder_R", "UpperArm_R", "LowerArm_R", "Hand_R",
    "UpperLeg_L", "LowerLeg_L", "Foot_L", "Toes_L",
    "UpperLeg_R", "LowerLeg_R", "Foot_R", "Toes_R",
)  # fmt: skip

#: CMU mocap joint -> motion joint. CMU joints are placed where their name says (LeftKnee at
#: the knee); CMU has two chest joints and a two-part neck, of which Chest/Chest2/Neck are used.
CMU_TO_MOTION: dict[str, str] = {
    "Hips": "Hips", "Chest": "Spine", "Chest2": "Chest", "Neck": "Neck", "Head": "Head",
    "LeftCollar": "Shoulder_L", "LeftShoulder": "UpperArm_L", "LeftElbow": "LowerArm_L",
    "LeftWrist": "Hand_L", "RightCollar": "Shoulder_R", "RightShoulder": "UpperArm_R",
    "RightElbow": "LowerArm_R", "RightWrist": "Hand_R",
    "LeftHip": "UpperLeg_L", "LeftKnee": "LowerLeg_L", "LeftAnkle": "Foot_L", "LeftToe": "Toes_L",
    "RightHip": "UpperLeg_R", "RightKnee": "LowerLeg_R", "RightAnkle": "Foot_R",
    "RightToe": "Toes_R",
}  # fmt: skip

#: Metres per BVH unit of the CMU mocap files (inches scaled by 1/0.45, per the CMU ASF files).
CMU_METRES_PER_UNIT = 0.0254 / 0.45

_UNITS = {"millimet": 0.001, "centimet": 0.01, "metre": 1.0, "meter": 1.0, "inch": 0.0254}

# Rotation taking a Y-up right-handed frame to syncpose's Z-up frame: (x, y, z) -> (x, -z, y).
_Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


class MotionFileError(ValueError):
    """A motion file is unreadable or inconsistent; the message names the file and the field."""


@dataclass(frozen=True)
class Clip:
    """One continuous take: ``positions`` (T, J, 3) float64 metres, Z up, at ``fps``."""

    name: str
    positions: FloatArray
    fps: float
    _spline: CubicSpline | None = field(default=None, repr=False, compare=False)

    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def duration_s(self) -> float:
        """Time from the first to the last frame (seconds)."""
        return (self.n_frames - 1) / self.fps

    def sample(self, t_s: float | npt.ArrayLike) -> FloatArray:
        """Pose at clip time ``t_s`` seconds: (J, 3) for a scalar, (N, J, 3) for N times.

        Not-a-knot cubic spline through the frames (exact for cubic motion); times outside
        ``[0, duration_s]`` are clamped to the ends, never extrapolated.
        """
        t = np.clip(np.asarray(t_s, dtype=np.float64), 0.0, self.duration_s)
        if self.n_frames < 2:
            return np.broadcast_to(self.positions[0], (*t.shape, *self.positions.shape[1:])).copy()
        spline = self._spline
        if spline is None:
            times = np.arange(self.n_frames) / self.fps
            kind: Any = "not-a-knot" if self.n_frames >= 4 else "natural"
            spline = CubicSpline(times, self.positions, axis=0, bc_type=kind)
            object.__setattr__(self, "_spline", spline)
        return np.asarray(spline(t), dtype=np.float64)


@dataclass(frozen=True)
class Motion:
    """A set of clips over one skeleton."""

    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    clips: tuple[Clip, ...]

    def clip(self, name: str) -> Clip:
        for c in self.clips:
            if c.name == name:
                return c
        raise KeyError(f"no clip {name!r}; have {[c.name for c in self.clips][:10]} ...")

    @property
    def bones(self) -> list[tuple[int, int]]:
        """(parent, child) joint index pairs."""
        return [(p, j) for j, p in enumerate(self.parents) if p >= 0]


def units_to_metres(units: str) -> float:
    """Scale factor of a ``units`` string such as ``'millimetres (int16)'``."""
    u = units.strip().lower()
    for prefix, scale in _UNITS.items():
        if u.startswith(prefix):
            return scale
    raise MotionFileError(f"unknown units {units!r}")


def to_z_up(points: FloatArray, up_axis: str) -> FloatArray:
    """Rotate (..., 3) points from a frame whose up axis is ``up_axis`` into the Z-up frame."""
    up = up_axis.strip().upper()
    if up == "Z":
        return points
    if up == "Y":
        return np.asarray(points @ _Y_UP_TO_Z_UP.T, dtype=np.float64)
    raise MotionFileError(f"unsupported up_axis {up_axis!r} (expected 'Y' or 'Z')")


def read_motion(path: str | Path) -> Motion:
    """Read a motion file in the shared npz format (any file in that format)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise MotionFileError(f"{path}: cannot read as npz: {exc}") from None
    required = ("positions_mm", "joint_names", "parents", "clip_names", "clip_starts", "fps")
    missing = [k for k in required if k not in fields]
    if missing:
        raise MotionFileError(f"{path}: missing field(s) {missing}")
    raw = fields["positions_mm"]
    if raw.ndim != 3 or raw.shape[2] != 3:
        raise MotionFileError(f"{path}: positions_mm has shape {raw.shape}, expected (T, J, 3)")
    names = tuple(str(n) for n in fields["joint_names"])
    parents = tuple(int(p) for p in fields["parents"])
    if len(names) != raw.shape[1] or len(parents) != raw.shape[1]:
        raise MotionFileError(f"{path}: joint_names/parents do not match {raw.shape[1]} joints")
    starts = [int(s) for s in fields["clip_starts"]]
    clip_names = [str(n) for n in fields["clip_names"]]
    if len(starts) != len(clip_names) + 1 or starts[0] != 0 or starts[-1] != raw.shape[0]:
        raise MotionFileError(f"{path}: clip_starts does not partition {raw.shape[0]} frames")
    if any(b <= a for a, b in itertools.pairwise(starts)):
        raise MotionFileError(f"{path}: clip_starts is not strictly increasing")
    scale = units_to_metres(str(fields.get("units", "millimetres")))
    up = str(fields.get("up_axis", "Y"))
    fps = float(fields["fps"])
    if not fps > 0:
        raise MotionFileError(f"{path}: fps must be positive, got {fps}")
    positions = to_z_up(raw.astype(np.float64) * scale, up)
    clips = tuple(
        Clip(name=clip_names[c], positions=positions[starts[c] : starts[c + 1]], fps=fps)
        for c in range(len(clip_names))
    )
    return Motion(joint_names=names, parents=parents, clips=clips)


def write_motion(path: str | Path, motion: Motion) -> None:
    """Write ``motion`` in the shared npz format (int16 millimetres, Y up)."""
    fps = {c.fps for c in motion.clips}
    if len(fps) != 1:
        raise MotionFileError(f"all clips must share one fps to be written, got {sorted(fps)}")
    stacked = np.concatenate([c.positions for c in motion.clips])
    y_up = stacked @ _Y_UP_TO_Z_UP  # inverse rotation (orthonormal)
    mm = np.round(y_up * 1000.0)
    if np.abs(mm).max() > np.iinfo(np.int16).max:
        raise MotionFileError("positions exceed the int16 millimetre range (±32.7 m)")
    starts = np.cumsum([0] + [c.n_frames for c in motion.clips])
    np.savez_compressed(
        path,
        positions_mm=mm.astype(np.int16),
        joint_names=np.array(motion.joint_names),
        parents=np.array(motion.parents, dtype=np.int64),
        clip_names=np.array([c.name for c in motion.clips]),
        clip_starts=starts.astype(np.int64),
        fps=np.float32(fps.pop()),
        up_axis=np.array("Y"),
        units=np.array("millimetres (int16)"),
    )


def bundled_motion_path() -> Path:
    """The short CMU clip shipped in the package (see ``syncpose/data/MOTION.md``)."""
    return Path(str(resources.files("syncpose") / "data" / "cmu_131_01_60fps.npz"))


def load_motion(spec: str) -> Motion:
    """``'bundled'`` or a path to a motion ``.npz`` or ``.bvh`` file."""
    if spec == "bundled":
        return read_motion(bundled_motion_path())
    path = Path(spec)
    if path.suffix.lower() == ".bvh":
        return read_bvh_motion(path)
    return read_motion(path)


# --- BVH -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BvhJoint:
    name: str
    parent: int
    offset: FloatArray  # (3,)
    channels: tuple[str, ...]


@dataclass(frozen=True)
class BvhData:
    """A parsed BVH file: joints (End Sites excluded) and world positions in file units."""

    joints: tuple[BvhJoint, ...]
    positions: FloatArray  # (T, J, 3), file units, file axes
    fps: float

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)


def _axis_rotation(axis: str, deg: FloatArray) -> FloatArray:
    """(T, 3, 3) rotation matrices about ``axis`` by ``deg`` degrees."""
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    one, zero = np.ones_like(a), np.zeros_like(a)
    rows = {
        "X": [[one, zero, zero], [zero, c, -s], [zero, s, c]],
        "Y": [[c, zero, s], [zero, one, zero], [-s, zero, c]],
        "Z": [[c, -s, zero], [s, c, zero], [zero, zero, one]],
    }[axis]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def read_bvh(path: str | Path) -> BvhData:
    """Parse a BVH file and run forward kinematics for every frame.

    Rotation channels compose in the order listed (intrinsic); position channels, when present,
    replace the joint's offset (as the Bandai-Namco files, whose position channels equal offsets).
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    head, sep, motion_text = text.partition("MOTION")
    if not sep:
        raise MotionFileError(f"{path}: no MOTION section")
    tokens = head.split()
    joints: list[BvhJoint] = []
    stack: list[int] = []
    i = 0
    pending: tuple[str, int] | None = None
    in_end_site = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            pending = (tokens[i + 1], stack[-1] if stack else -1)
            i += 2
        elif tok == "End":
            in_end_site = 1
            i += 2
        elif tok == "{":
            if in_end_site:
                in_end_site = 2
            elif pending is not None:
                joints.append(BvhJoint(pending[0], pending[1], np.zeros(3), ()))
                stack.append(len(joints) - 1)
                pending = None
            i += 1
        elif tok == "}":
            if in_end_site == 2:
                in_end_site = 0
            elif stack:
                stack.pop()
            i += 1
        elif tok == "OFFSET":
            vec = np.array([float(x) for x in tokens[i + 1 : i + 4]])
            if not in_end_site and stack:
                j = joints[stack[-1]]
                joints[stack[-1]] = BvhJoint(j.name, j.parent, vec, j.channels)
            i += 4
        elif tok == "CHANNELS":
            n = int(tokens[i + 1])
            j = joints[stack[-1]]
            joints[stack[-1]] = BvhJoint(
                j.name, j.parent, j.offset, tuple(tokens[i + 2 : i + 2 + n])
            )
            i += 2 + n
        else:
            i += 1
    m = re.search(r"Frames:\s*(\d+)\s*Frame Time:\s*([0-9.eE+-]+)", motion_text)
    if not m or not joints:
        raise MotionFileError(f"{path}: malformed BVH header or MOTION section")
    n_frames, frame_time = int(m.group(1)), float(m.group(2))
    values = np.array(motion_text[m.end() :].split(), dtype=np.float64)
    n_channels = sum(len(j.channels) for j in joints)
    if values.size < n_frames * n_channels:
        raise MotionFileError(f"{path}: {values.size} values for {n_frames}x{n_channels}")
    data = values[: n_frames * n_channels].reshape(n_frames, n_channels)
    positions = np.zeros((n_frames, len(joints), 3))
    world_rot = np.zeros((n_frames, len(joints), 3, 3))
    col = 0
    for k, joint in enumerate(joints):
        local_rot = np.broadcast_to(np.eye(3), (n_frames, 3, 3)).copy()
        local_pos = np.broadcast_to(joint.offset, (n_frames, 3)).copy()
        for ch in joint.channels:
            axis, kind = ch[0].upper(), ch[1:].lower()
            if kind == "position":
                local_pos[:, "XYZ".index(axis)] = data[:, col]
            else:
                local_rot = local_rot @ _axis_rotation(axis, data[:, col])
            col += 1
        if joint.parent < 0:
            positions[:, k] = local_pos
            world_rot[:, k] = local_rot
        else:
            p = joint.parent
            positions[:, k] = positions[:, p] + np.einsum("tij,tj->ti", world_rot[:, p], local_pos)
            world_rot[:, k] = world_rot[:, p] @ local_rot
    # Frame times are written with few digits (.0083333): round the rate to 1/1000 fps.
    return BvhData(joints=tuple(joints), positions=positions, fps=round(1.0 / frame_time, 3))


def read_bvh_motion(path: str | Path, metres_per_unit: float | None = None) -> Motion:
    """Import a Bandai-Namco or CMU BVH file as a one-clip :class:`Motion` (Z up, metres).

    The skeleton is recognised by its joint names; units default to centimetres for
    Bandai-Namco and to the CMU unit (:data:`CMU_METRES_PER_UNIT`) for CMU.
    """
    bvh = read_bvh(path)
    names = bvh.names
    if "lowerback" in names and "LeftHip" in names:
        mapping, default_scale = CMU_TO_MOTION, CMU_METRES_PER_UNIT
    elif all(n in names for n in MOTION_JOINTS):
        mapping, default_scale = {n: n for n in MOTION_JOINTS}, 0.01
    else:
        raise MotionFileError(f"{path}: skeleton not recognised (joints {names[:8]} ...)")
    scale = metres_per_unit if metres_per_unit is not None else default_scale
    by_target = {target: names.index(src) for src, target in mapping.items()}
    order = [by_target[name] for name in MOTION_JOINTS]
    positions = to_z_up(bvh.positions[:, order] * scale, "Y")
    parents = _BANDAI_PARENTS
    clip = Clip(name=Path(path).stem, positions=positions, fps=bvh.fps)
    return Motion(joint_names=MOTION_JOINTS, parents=parents, clips=(clip,))


#: Parents of :data:`MOTION_JOINTS` (as in the shared npz files).
_BANDAI_PARENTS: tuple[int, ...] = (
    -1, 0, 1, 2, 3, 2, 5, 6, 7, 2, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19,
)  # fmt: skip
