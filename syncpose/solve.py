"""The skeleton solve: joint positions -> bone lengths and parent-relative joint rotations.

What animation tools take (BVH, VMC) is a hierarchy of bones with rotations, not joint
positions. :func:`solve` turns poses (T, J, 3) of :data:`~syncpose.skeleton.JOINTS` into the
local rotations of a standard humanoid hierarchy (:data:`BONES`, Unity's humanoid names) whose
rest pose is a T-pose, and :func:`forward` turns them back into joint positions. Pure numpy,
vectorised over frames; one :class:`BoneLengths` per person (a new track starts afresh).

Conventions: poses are in the world frame (metres, Z up). Bones, offsets and rotations are in
*body axes* — x the person's left, y up, z forward: the axes of BVH and of the rest pose,
into which :data:`BODY_TO_WORLD` is the rotation from the world (a world vector ``v`` is
``BODY_TO_WORLD.T @ v`` in body axes). The root's rotation takes the rest pose, standing
upright and facing world -Y, to the person.

How each bone's rotation is fixed: its *swing* takes the bone's rest direction onto the
observed one (exactly, so forward kinematics gives the joints back wherever the bone lengths
hold); its *twist* about its own axis comes from the joint that defines it —

* ``Hips``: the hip line (left minus right hip), then the spine;
* ``Chest``: the shoulder line;
* ``LeftUpperArm`` / ``RightUpperArm``: the plane of the bent elbow (the wrist);
* ``LeftUpperLeg`` / ``RightUpperLeg``: the plane of the bent knee (the ankle);
* ``LeftLowerLeg`` / ``RightLowerLeg``: the foot;

and is *neutral* (the least rotation from the parent: pure swing) where the skeleton has no
joint to define it: ``Spine``, ``Neck`` and ``Head`` (no ears or face in the 17 joints),
the shoulders (clavicles), the forearms and hands (no hand keypoints), the feet (no toes
apart from the foot point), and an arm or leg held straight (its bend plane undefined).
A bone whose end is unknown keeps its rest rotation relative to its parent.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from syncpose.arrays import FloatArray, nanmedian_last
from syncpose.skeleton import JOINTS

_J = {name: i for i, name in enumerate(JOINTS)}


@dataclass(frozen=True)
class Bone:
    """One joint of the hierarchy: it sits at ``at`` (a joint of :data:`JOINTS`, or a point on
    the spine) and its rotation points the bone to its ``tip`` along ``rest`` (body frame)."""

    name: str
    parent: int  # index into BONES, -1 for the root
    at: str
    tip: str | None  # the joint the bone points to (None: an end bone)
    rest: tuple[float, float, float]  # unit rest direction, body frame (x left, y up, z fwd)
    length: str  # the bone-length key of its offset from its parent ("" for the root)


#: The humanoid hierarchy (Unity's humanoid bone names). ``Spine`` starts at the pelvis and
#: ``Chest`` halfway to the neck (the 17 joints have no spine joints in between).
BONES: tuple[Bone, ...] = (
    Bone("Hips", -1, "pelvis", None, (0.0, 1.0, 0.0), ""),
    Bone("Spine", 0, "pelvis", "neck", (0.0, 1.0, 0.0), "zero"),
    Bone("Chest", 1, "spine_mid", "neck", (0.0, 1.0, 0.0), "spine_half"),
    Bone("Neck", 2, "neck", "head", (0.0, 1.0, 0.0), "spine_half"),
    Bone("Head", 3, "head", None, (0.0, 1.0, 0.0), "neck_head"),
    Bone("LeftShoulder", 2, "neck", "l_shoulder", (1.0, 0.0, 0.0), "spine_half"),
    Bone("LeftUpperArm", 5, "l_shoulder", "l_elbow", (1.0, 0.0, 0.0), "l_clavicle"),
    Bone("LeftLowerArm", 6, "l_elbow", "l_wrist", (1.0, 0.0, 0.0), "l_upper_arm"),
    Bone("LeftHand", 7, "l_wrist", None, (1.0, 0.0, 0.0), "l_forearm"),
    Bone("RightShoulder", 2, "neck", "r_shoulder", (-1.0, 0.0, 0.0), "spine_half"),
    Bone("RightUpperArm", 9, "r_shoulder", "r_elbow", (-1.0, 0.0, 0.0), "r_clavicle"),
    Bone("RightLowerArm", 10, "r_elbow", "r_wrist", (-1.0, 0.0, 0.0), "r_upper_arm"),
    Bone("RightHand", 11, "r_wrist", None, (-1.0, 0.0, 0.0), "r_forearm"),
    Bone("LeftUpperLeg", 0, "l_hip", "l_knee", (0.0, -1.0, 0.0), "l_hip"),
    Bone("LeftLowerLeg", 13, "l_knee", "l_ankle", (0.0, -1.0, 0.0), "l_thigh"),
    Bone("LeftFoot", 14, "l_ankle", "l_foot", (0.0, 0.0, 1.0), "l_shank"),
    Bone("LeftToes", 15, "l_foot", None, (0.0, 0.0, 1.0), "l_foot"),
    Bone("RightUpperLeg", 0, "r_hip", "r_knee", (0.0, -1.0, 0.0), "r_hip"),
    Bone("RightLowerLeg", 17, "r_knee", "r_ankle", (0.0, -1.0, 0.0), "r_thigh"),
    Bone("RightFoot", 18, "r_ankle", "r_foot", (0.0, 0.0, 1.0), "r_shank"),
    Bone("RightToes", 19, "r_foot", None, (0.0, 0.0, 1.0), "r_foot"),
)

#: Body axes (x left, y up, z forward: BVH's Y-up frame) -> world axes (Z up).
BODY_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

#: The segments whose lengths are estimated: name -> (from joint, to joint).
SEGMENTS: dict[str, tuple[str, str]] = {
    "spine": ("pelvis", "neck"),
    "neck_head": ("neck", "head"),
    "l_clavicle": ("neck", "l_shoulder"),
    "r_clavicle": ("neck", "r_shoulder"),
    "l_upper_arm": ("l_shoulder", "l_elbow"),
    "r_upper_arm": ("r_shoulder", "r_elbow"),
    "l_forearm": ("l_elbow", "l_wrist"),
    "r_forearm": ("r_elbow", "r_wrist"),
    "l_thigh": ("l_hip", "l_knee"),
    "r_thigh": ("r_hip", "r_knee"),
    "l_shank": ("l_knee", "l_ankle"),
    "r_shank": ("r_knee", "r_ankle"),
    "l_foot": ("l_ankle", "l_foot"),
    "r_foot": ("r_ankle", "r_foot"),
}
#: Lengths (m) for a segment never measured (a detector without feet, COCO-17's): typical
#: adult proportions — Winter's segment-length fractions of stature (upper arm 0.186,
#: forearm 0.146, thigh 0.245, shank 0.246, foot 0.152, shoulder width 0.259) at 1.75 m —
#: scaled by the person's measured spine where there is one.
TYPICAL: dict[str, float] = {
    "spine": 0.50, "neck_head": 0.20, "l_clavicle": 0.18, "r_clavicle": 0.18,
    "l_upper_arm": 0.33, "r_upper_arm": 0.33, "l_forearm": 0.26, "r_forearm": 0.26,
    "l_thigh": 0.43, "r_thigh": 0.43, "l_shank": 0.43, "r_shank": 0.43,
    "l_foot": 0.15, "r_foot": 0.15,
}  # fmt: skip
TYPICAL_HIPS = np.array([[0.1, 0.0, 0.0], [-0.1, 0.0, 0.0]])

#: The hips' offsets from the pelvis are kept as vectors in the Hips frame (a pelvis is one
#: rigid bone: the hip joints need not lie on a line through it, as in motion capture).
HIP_OFFSETS = ("l_hip", "r_hip")

#: A pelvis this far from the line through the hips (m) defines the Hips frame with them.
PELVIS_OFF_LINE_M = 0.02
#: The bones every body-pose detector gives, which an online estimate waits for.
CORE = ("spine", "l_upper_arm", "r_upper_arm", "l_forearm", "r_forearm", "l_thigh", "r_thigh",
        "l_shank", "r_shank")  # fmt: skip
_CORE_COLUMNS = [list(SEGMENTS).index(n) for n in CORE]
#: An arm or leg bent less than this (sine of the angle) has no bend plane: neutral twist.
MIN_BEND = 0.2
#: Samples of each bone kept for the robust length, the samples before a length is given,
#: and how fast a held length follows the robust one afterwards (per update).
WINDOW, MIN_SAMPLES, FOLLOW = 120, 10, 0.02
#: Poses (of anyone) after which a track id not seen since is forgotten by PeopleLengths.
FORGET_AFTER = 300


@dataclass(frozen=True)
class Lengths:
    """A person's bone lengths: ``segments`` (m) by :data:`SEGMENTS` name, and ``hips`` (2, 3)
    the left and right hip offsets from the pelvis in the Hips frame (body axes, m)."""

    segments: dict[str, float]
    hips: FloatArray

    def offset(self, bone: Bone) -> FloatArray:
        """(3,) the bone's offset from its parent's joint, in the parent's frame (body axes)."""
        key = bone.length
        if key in ("", "zero"):
            return np.zeros(3)
        if key in HIP_OFFSETS:
            return np.asarray(self.hips[HIP_OFFSETS.index(key)], dtype=np.float64)
        parent = BONES[bone.parent]
        length = self.segments["spine"] / 2.0 if key == "spine_half" else self.segments[key]
        return np.asarray(parent.rest, dtype=np.float64) * length


def _frames(poses: FloatArray) -> FloatArray:
    """(T, 3, 3) the Hips frame in the world from each pose (columns: body x, y, z)."""
    l_hip, r_hip, pelvis = (poses[:, _J[n]] for n in ("l_hip", "r_hip", "pelvis"))
    # A pelvis off the hip line (motion capture's root) makes the pelvis a rigid triangle:
    # its own frame. One on it (detectors' mid-hip) needs the spine for the second axis.
    above = pelvis - 0.5 * (l_hip + r_hip)
    rigid = np.linalg.norm(above, axis=-1, keepdims=True) > PELVIS_OFF_LINE_M
    up = np.where(rigid, above, poses[:, _J["neck"]] - pelvis)
    return _frame(l_hip - r_hip, up)


def _unit(v: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(v / np.sqrt((v * v).sum(-1, keepdims=True)), dtype=np.float64)


def _frame(first: FloatArray, second: FloatArray) -> FloatArray:
    """(..., 3, 3) rotations whose first column is along ``first`` (x) and whose second (y)
    is ``second`` made orthogonal to it (NaN where either is degenerate)."""
    x = _unit(first)
    y = _unit(second - (second * x).sum(-1, keepdims=True) * x)
    return np.stack([x, y, _cross(x, y)], axis=-1)


def measure(poses: npt.ArrayLike) -> tuple[dict[str, FloatArray], FloatArray]:
    """Per frame of ``poses`` (T, J, 3): each segment's length (T,) (NaN where an end is
    unknown) and the hip offsets in the Hips frame (T, 2, 3)."""
    seg, hips = _measure(np.asarray(poses, dtype=np.float64))
    return dict(zip(SEGMENTS, seg.T, strict=True)), hips


_SEG_FROM = np.array([_J[a] for a, _ in SEGMENTS.values()])
_SEG_TO = np.array([_J[b] for _, b in SEGMENTS.values()])
_HIPS = np.array([_J[h] for h in HIP_OFFSETS])


def _measure(p: FloatArray) -> tuple[FloatArray, FloatArray]:
    """:func:`measure` as arrays: the segments (T, S) in :data:`SEGMENTS` order, the hips."""
    d = p[:, _SEG_TO] - p[:, _SEG_FROM]
    seg = np.sqrt((d * d).sum(-1))
    frame = _frames(p)  # columns: the body axes in the world
    rel = p[:, _HIPS] - p[:, _J["pelvis"], None]
    hips = (np.swapaxes(frame, -1, -2)[:, None] @ rel[..., None])[..., 0]
    return seg, hips


def _complete(segments: dict[str, float], hips: FloatArray) -> Lengths:
    """Lengths with the unmeasured (NaN) filled: from the other side, else :data:`TYPICAL`
    scaled to the person's spine."""
    spine = segments.get("spine", math.nan)
    scale = spine / TYPICAL["spine"] if math.isfinite(spine) and spine > 0 else 1.0
    out = {}
    for name in SEGMENTS:
        value = segments.get(name, math.nan)
        other = (
            name.replace("l_", "r_", 1) if name.startswith("l_") else name.replace("r_", "l_", 1)
        )
        if not math.isfinite(value):
            value = segments.get(other, math.nan)
        if not math.isfinite(value):
            value = TYPICAL[name] * scale
        out[name] = float(value)
    hips = np.where(np.isfinite(hips).all(-1, keepdims=True), hips, TYPICAL_HIPS * scale)
    return Lengths(out, np.asarray(hips, dtype=np.float64))


def lengths_of(poses: npt.ArrayLike) -> Lengths:
    """One person's lengths from a whole take: the median of every frame that measures a
    segment (one never measured: :func:`_complete`)."""
    seg, hips = measure(poses)
    if not any(np.isfinite(v).any() for v in seg.values()):
        raise ValueError("no bone of the person is ever measured: cannot size the skeleton")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: filled below
        medians = {n: float(np.nanmedian(v)) for n, v in seg.items()}
        hip = np.nanmedian(hips, axis=0)
    return _complete(medians, hip)


class BoneLengths:
    """A person's bone lengths, estimated online: the median of each bone's measurements in
    the last :data:`WINDOW` poses (robust to a wrong joint now and then), given once the
    :data:`CORE` bones have :data:`MIN_SAMPLES`, then held steady and moved only
    :data:`FOLLOW` of the way to the robust value per update (a skeleton that breathes with
    detector noise is no use to an animator). One per track: a new track starts afresh."""

    def __init__(self) -> None:
        # One row per pose: the segments (SEGMENTS order), then the two hip offsets (NaN:
        # not measured); a ring over the last WINDOW poses.
        self._rows = np.full((WINDOW, len(SEGMENTS) + 6), np.nan)
        self._seen = 0
        self.current: Lengths | None = None

    def update(self, pose: npt.ArrayLike) -> Lengths | None:
        """Take one pose (J, 3); the lengths to use now (None until there are enough)."""
        seg, hips = _measure(np.asarray(pose, dtype=np.float64)[None])
        row = self._rows[self._seen % WINDOW]
        row[: len(SEGMENTS)] = seg[0]
        row[len(SEGMENTS) :] = hips[0].reshape(-1)
        self._seen += 1
        counts = np.isfinite(self._rows).sum(0)
        # Ready when the core bones have their samples (a bone the detector never gives, such
        # as COCO-17's feet, is filled: see _complete).
        if counts[_CORE_COLUMNS].min() < MIN_SAMPLES or counts[len(SEGMENTS)] == 0:
            return self.current
        median = nanmedian_last(self._rows.T)
        robust = _complete(
            dict(zip(SEGMENTS, (float(x) for x in median[: len(SEGMENTS)]), strict=True)),
            median[len(SEGMENTS) :].reshape(2, 3),
        )
        if self.current is None:
            self.current = robust
        else:
            old = self.current
            self.current = Lengths(
                {
                    n: old.segments[n] + FOLLOW * (robust.segments[n] - old.segments[n])
                    for n in SEGMENTS
                },
                old.hips + FOLLOW * (robust.hips - old.hips),
            )
        return self.current


class PeopleLengths:
    """:class:`BoneLengths` per track id, for a live stream of several people: a new id starts
    afresh, and an id unseen for :data:`FORGET_AFTER` poses is forgotten (a track the tracker
    keeps through a short gap keeps its skeleton)."""

    def __init__(self) -> None:
        self._lengths: dict[int, BoneLengths] = {}
        self._last_seen: dict[int, int] = {}
        self._poses = 0

    def update(self, person: int, pose: npt.ArrayLike) -> Lengths:
        """Take person ``person``'s pose (J, 3); their lengths now: the online estimate, or
        this pose's own until it is ready (ValueError: no bone of it is measured)."""
        self._poses += 1
        self._last_seen[person] = self._poses
        stale = [p for p, seen in self._last_seen.items() if self._poses - seen > FORGET_AFTER]
        for old in stale:
            del self._last_seen[old]
            self._lengths.pop(old, None)
        p = np.asarray(pose, dtype=np.float64)
        return self._lengths.setdefault(person, BoneLengths()).update(p) or lengths_of(p[None])


@dataclass(frozen=True)
class Solved:
    """Frames of one person's solve: ``root`` (T, 3) the Hips' world position (m), ``local``
    (T, B, 3, 3) each bone's rotation relative to its parent (the root's relative to the
    world, in body axes: see :data:`BODY_TO_WORLD`), ``world`` (T, B, 3, 3) the composed ones."""

    root: FloatArray
    local: FloatArray
    world: FloatArray

    def quaternions(self) -> FloatArray:
        """(T, B, 4) the local rotations as unit quaternions (w, x, y, z), w ≥ 0."""
        return matrix_to_quaternion(self.local)


def _spine_point(p: FloatArray, fraction: float) -> FloatArray:
    return p[:, _J["pelvis"]] + fraction * (p[:, _J["neck"]] - p[:, _J["pelvis"]])


def _least_rotation(a: FloatArray, b: FloatArray) -> FloatArray:
    """(..., 3, 3) the smallest rotations taking unit ``a`` onto unit ``b`` (identity where
    ``b`` is NaN; a half turn about a perpendicular axis where they are opposite).

    With ``v = a × b`` and ``c = a · b`` it is ``I + [v]× + [v]×² / (1 + c)`` (Rodrigues'
    formula with the angle's sine and cosine folded in): no trigonometry, few array calls."""
    v = _cross(a, b)
    c = (a * b).sum(-1)
    K = _skew(v)
    eye = _EYE
    opposite = c < -1.0 + 1e-9
    with np.errstate(invalid="ignore", divide="ignore"):
        R = eye + K + (K @ K) / (1.0 + c)[..., None, None]
    if opposite.any():  # a half turn about any axis perpendicular to a: 2 u uᵀ - I
        other = np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
        u = _unit(_cross(a, other))
        half = 2.0 * u[..., :, None] * u[..., None, :] - eye
        R = np.where(opposite[..., None, None], half, R)
    finite = np.isfinite(R).all((-1, -2))
    return np.asarray(np.where(finite[..., None, None], R, eye), dtype=np.float64)


def _cross(a: FloatArray, b: FloatArray) -> FloatArray:
    """``np.cross`` over the last axis, as ``[a]× b`` (a tenth of ``np.cross``'s time on the
    few vectors of one pose)."""
    return np.asarray((_skew(a) @ b[..., None])[..., 0], dtype=np.float64)


_EYE = np.eye(3)
#: [v]× = v @ _SKEW reshaped to 3 x 3 (the cross-product matrix as one linear map).
_SKEW = np.array(
    [
        [0, 0, 0, 0, 0, -1, 0, 1, 0],
        [0, 0, 1, 0, 0, 0, -1, 0, 0],
        [0, -1, 0, 1, 0, 0, 0, 0, 0],
    ],
    dtype=np.float64,
)


def _skew(k: FloatArray) -> FloatArray:
    return np.asarray((k @ _SKEW).reshape(*k.shape[:-1], 3, 3), dtype=np.float64)


#: Twist sources: bone -> (joint pair whose direction, made perpendicular to the bone, is
#: the rest ``axis`` of the body frame rotated with the bone, the sign such that a bend
#: points that way).
_TWIST: dict[str, tuple[str, str, tuple[float, float, float]]] = {
    "Chest": ("r_shoulder", "l_shoulder", (1.0, 0.0, 0.0)),
    "LeftUpperArm": ("l_elbow", "l_wrist", (0.0, 0.0, 1.0)),
    "RightUpperArm": ("r_elbow", "r_wrist", (0.0, 0.0, 1.0)),
    "LeftUpperLeg": ("l_knee", "l_ankle", (0.0, 0.0, -1.0)),
    "RightUpperLeg": ("r_knee", "r_ankle", (0.0, 0.0, -1.0)),
    "LeftLowerLeg": ("l_ankle", "l_foot", (0.0, 0.0, 1.0)),
    "RightLowerLeg": ("r_ankle", "r_foot", (0.0, 0.0, 1.0)),
}


def solve(poses: npt.ArrayLike) -> Solved:
    """The rotations of :data:`BONES` for ``poses`` (T, J, 3) (world, m; NaN = unknown); see
    the module docstring for how swing and twist are fixed."""
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (len(JOINTS), 3):
        raise ValueError(f"poses have shape {p.shape}; expected (T, {len(JOINTS)}, 3)")
    T, B = len(p), len(BONES)
    points = np.concatenate([p, _spine_point(p, 0.5)[:, None]], axis=1)  # spine_mid last
    world = np.zeros((T, B, 3, 3))
    W = BODY_TO_WORLD
    # Solved in world axes: world[b] takes bone b's rest directions (W @ rest) to the world.
    hips = _frames(p)
    eye = np.broadcast_to(np.eye(3), (T, 3, 3))
    ok = np.asarray(np.isfinite(hips).all((-1, -2)))
    world[:, 0] = np.where(ok[:, None, None], hips @ W.T, eye)
    for level in _LEVELS:  # the bones of one depth of the tree together (but the end bones)
        parent = world[:, level.parents]  # (T, n, 3, 3)
        d = _unit(points[:, level.tips] - points[:, level.at])
        pointing = (parent @ level.rest[:, :, None])[..., 0]
        swung = _least_rotation(pointing, d) @ parent
        if level.twisted.any():
            ref = points[:, level.twist_to] - points[:, level.twist_from]
            want = ref - (ref * d).sum(-1, keepdims=True) * d
            bent = np.linalg.norm(want, axis=-1) > MIN_BEND * np.linalg.norm(ref, axis=-1)
            have = (swung @ level.twist_axis[:, :, None])[..., 0]
            turn = _twist_about(d, have, want)
            use = bent & level.twisted & np.isfinite(turn).all((-1, -2))
            swung = np.where(use[..., None, None], turn @ swung, swung)
        world[:, level.bones] = swung
    world[:, _END_BONES] = world[:, _END_PARENTS]  # no tip, no direction: the parent's turn
    parents = np.array([max(b.parent, 0) for b in BONES])
    local = np.swapaxes(world[:, parents], -1, -2) @ world
    local[:, 0] = world[:, 0]
    # The same rotations in body axes (the BVH and VMC frames): W^T R W.
    return Solved(p[:, _J["pelvis"]].copy(), W.T @ local @ W, W.T @ world @ W)


@dataclass(frozen=True)
class _Level:
    """The bones of one depth of :data:`BONES` (not the root, not the end bones), as indices
    into the joints (``spine_mid`` after the last) and the rest directions in world axes."""

    bones: np.ndarray
    parents: np.ndarray
    at: np.ndarray
    tips: np.ndarray
    rest: FloatArray
    twisted: np.ndarray
    twist_from: np.ndarray
    twist_to: np.ndarray
    twist_axis: FloatArray


def _levels() -> tuple[_Level, ...]:
    index = {**_J, "spine_mid": len(JOINTS)}
    depth = [0] * len(BONES)
    for b, bone in enumerate(BONES[1:], start=1):
        depth[b] = depth[bone.parent] + 1
    out = []
    for level in range(1, max(depth) + 1):
        bones = [b for b in range(len(BONES)) if depth[b] == level and BONES[b].tip]
        if not bones:
            continue
        twist = [_TWIST.get(BONES[b].name) for b in bones]
        out.append(
            _Level(
                bones=np.array(bones),
                parents=np.array([BONES[b].parent for b in bones]),
                at=np.array([index[BONES[b].at] for b in bones]),
                tips=np.array([index[str(BONES[b].tip)] for b in bones]),
                rest=np.array([BODY_TO_WORLD @ np.asarray(BONES[b].rest) for b in bones]),
                twisted=np.array([t is not None for t in twist]),
                twist_from=np.array([index[t[0]] if t else 0 for t in twist]),
                twist_to=np.array([index[t[1]] if t else 0 for t in twist]),
                twist_axis=np.array(
                    [BODY_TO_WORLD @ np.asarray(t[2] if t else (1.0, 0, 0)) for t in twist]
                ),
            )
        )
    return tuple(out)


def _twist_about(axis: FloatArray, have: FloatArray, want: FloatArray) -> FloatArray:
    """(T, 3, 3) rotations about ``axis`` (T, 3) taking ``have`` (its component
    perpendicular to the axis) onto ``want``'s."""
    h = _unit(have - (have * axis).sum(-1, keepdims=True) * axis)
    w = _unit(want - (want * axis).sum(-1, keepdims=True) * axis)
    return _least_rotation(h, w)


def bone_positions(solved: Solved, lengths: Lengths) -> FloatArray:
    """(T, B, 3) where each bone of :data:`BONES` starts, in the world (m), by forward
    kinematics from a solve and a person's lengths."""
    T = len(solved.root)
    W = BODY_TO_WORLD
    pos = np.zeros((T, len(BONES), 3))
    world = np.zeros((T, len(BONES), 3, 3))
    for b, bone in enumerate(BONES):
        if bone.parent < 0:
            world[:, b] = solved.local[:, b]
            pos[:, b] = solved.root
            continue
        world[:, b] = world[:, bone.parent] @ solved.local[:, b]
        offset = np.einsum("tij,j->ti", world[:, bone.parent], lengths.offset(bone))
        pos[:, b] = pos[:, bone.parent] + offset @ W.T
    return pos


def bone_axes(solved: Solved) -> FloatArray:
    """(T, B, 3, 3) each bone's local axes in the world: columns its body x (left in the
    rest pose), y (up) and z (forward)."""
    return np.asarray(BODY_TO_WORLD @ solved.world, dtype=np.float64)


def forward(solved: Solved, lengths: Lengths) -> FloatArray:
    """(T, J, 3) world joint positions from a solve and a person's lengths (the inverse of
    :func:`solve` wherever the bone lengths hold)."""
    pos = bone_positions(solved, lengths)
    out = np.full((len(pos), len(JOINTS), 3), np.nan)
    for b, bone in enumerate(BONES):  # bones at the same joint (Hips, Spine) stand together
        if bone.at in _J:
            out[:, _J[bone.at]] = pos[:, b]
    return out


def matrix_to_quaternion(R: FloatArray) -> FloatArray:
    """(..., 4) unit quaternions (w, x, y, z), w ≥ 0, of rotation matrices (..., 3, 3)."""
    m = np.asarray(R, dtype=np.float64)
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    cand = np.stack(
        [
            np.stack([1 + tr, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                      m[..., 1, 0] - m[..., 0, 1]], -1),
            np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + 2 * m[..., 0, 0] - tr,
                      m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
            np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0],
                      1 + 2 * m[..., 1, 1] - tr, m[..., 1, 2] + m[..., 2, 1]], -1),
            np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0],
                      m[..., 1, 2] + m[..., 2, 1], 1 + 2 * m[..., 2, 2] - tr], -1),
        ],
        -2,
    )  # fmt: skip
    best = np.argmax(np.stack([tr, m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]], -1), -1)
    q = np.take_along_axis(cand, best[..., None, None], -2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.asarray(np.where(q[..., :1] < 0, -q, q), dtype=np.float64)


_LEVELS = _levels()
#: The end bones (Head, hands, toes: no joint beyond them) and their parents.
_END_BONES = np.array([b for b, bone in enumerate(BONES) if bone.tip is None and bone.parent >= 0])
_END_PARENTS = np.array([BONES[b].parent for b in _END_BONES])
