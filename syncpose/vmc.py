"""The VMC protocol's frames: one person's solved skeleton as the OSC messages VMC receivers
(Unity's EVMC4U, Unreal's VMC4UE, Blender add-ons, VTubing apps) take, in UDP datagrams.

Per pose: ``/VMC/Ext/Root/Pos`` (the avatar's root: the pelvis's point on the ground plane,
unrotated), ``/VMC/Ext/Bone/Pos`` for each bone of :data:`~syncpose.solve.BONES` (Unity's
humanoid bone names: its local position from its parent, its local rotation), then
``/VMC/Ext/OK`` (loaded, calibrated, normal mode, tracking) and ``/VMC/Ext/T`` (seconds).
Position arguments are ``(string name, float px, py, pz, float qx, qy, qz, qw)``.

Coordinates are the protocol's (Unity's): left-handed, Y up, Z forward, X right, metres. The
solve's body axes (x the person's left, y up, z forward; right-handed) become them by
mirroring x: a position (x, y, z) is sent as (-x, y, z) and a rotation quaternion (w, x, y, z)
as (w, x, -y, -z). Rotations are relative to the T-pose with every local rotation identity
(a VRM avatar's normalised rest pose), so a receiver can apply them to its bones directly.
The ``Hips`` bone carries the pelvis height and the body's whole orientation.
"""

from __future__ import annotations

import numpy as np

from syncpose.arrays import FloatArray
from syncpose.osc import DATAGRAM_BYTES, message, pack_bundles
from syncpose.solve import BODY_TO_WORLD, BONES, Solved, matrix_to_quaternion

DEFAULT_PORT = 39539
ROOT_NAME = "root"
_MIRROR = np.array([-1.0, 1.0, 1.0])


def unity_position(v: FloatArray) -> FloatArray:
    """(..., 3) body-axes positions in the protocol's axes (x mirrored)."""
    return np.asarray(np.asarray(v, dtype=np.float64) * _MIRROR, dtype=np.float64)


def unity_quaternion(q: FloatArray) -> FloatArray:
    """(..., 4) body-axes quaternions (w, x, y, z) as the protocol's (x, y, z, w), mirrored."""
    q = np.asarray(q, dtype=np.float64)
    return np.stack([q[..., 1], -q[..., 2], -q[..., 3], q[..., 0]], axis=-1)


def _head(address: str, name: str) -> bytes:
    """The constant head of a ``(string, float * 7)`` message: address, type tags, name."""
    return message(address, name, *[0.0] * 7)[: -4 * 7]


#: Each bone's /VMC/Ext/Bone/Pos message up to its numbers, built once.
_BONE_HEADS = [_head("/VMC/Ext/Bone/Pos", b.name) for b in BONES]
_ROOT_HEAD = _head("/VMC/Ext/Root/Pos", ROOT_NAME)
_OK = message("/VMC/Ext/OK", 1, 3, 0, 1)  # loaded, calibrated, normal mode, tracking


def frame_messages(solved: Solved, offsets: FloatArray, t_s: float, index: int = 0) -> list[bytes]:
    """The OSC messages of frame ``index`` of ``solved`` (one person), whose bones sit at
    ``offsets`` (:meth:`~syncpose.solve.Lengths.offsets`); ``t_s``: the protocol's time
    (seconds)."""
    root = BODY_TO_WORLD.T @ solved.root[index]  # the pelvis in body axes (Y up)
    if not np.isfinite(root).all():
        raise ValueError("the person's pelvis is unknown in this pose: no VMC frame")
    quats = unity_quaternion(matrix_to_quaternion(solved.local[index]))
    local = unity_position(offsets)
    local[0] = (0.0, root[1], 0.0)  # the Hips: above the root by the pelvis height
    ground = unity_position(np.array([root[0], 0.0, root[2]]))
    numbers = np.concatenate([local, quats], axis=1).astype(">f4").tobytes()
    root_numbers = np.array([*ground, 0.0, 0.0, 0.0, 1.0], dtype=">f4").tobytes()
    out = [_ROOT_HEAD + root_numbers]
    out += [head + numbers[28 * b : 28 * (b + 1)] for b, head in enumerate(_BONE_HEADS)]
    out += [_OK, message("/VMC/Ext/T", float(t_s))]
    return out


def frame_datagrams(
    solved: Solved, offsets: FloatArray, t_s: float, index: int = 0, limit: int = DATAGRAM_BYTES
) -> list[bytes]:
    """:func:`frame_messages` in bundles of at most ``limit`` bytes, in order."""
    return pack_bundles(frame_messages(solved, offsets, t_s, index), limit)
