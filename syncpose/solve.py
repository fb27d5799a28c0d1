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
#: The robust lengths (the window's median) are recomputed every this many poses; the held
#: ones follow them every pose (a median of 120 poses moves little in four).
REFRESH = 4
#: Poses (of anyone) after which a track id not seen since is forgotten by PeopleLengths.
FORGET_AFTER = 300


@dataclass(frozen=True)
class Lengths:
    """A person's bone lengths: ``segments`` (m) by :data:`SEGMENTS` name, and ``hips`` (2, 3)
    the left and right hip offsets from the pelvis in the Hips frame (body axes, m)."""

    segments: dict[str, float]
    hips: FloatArray

    def offsets(self) -> FloatArray:
        """(B, 3) each bone's offset from its parent's joint, in the parent's frame (body
        axes, m), in :data:`BONES` order; the root's is zero (its position is the pose's)."""
        seg = self.segments
        half = seg["spine"] / 2.0
        scale = [half if k == "spine_half" else seg.get(k, 0.0) for k in _OFFSET_KEYS]
        out: FloatArray = _OFFSET_DIRECTIONS * np.array(scale)[:, None]
        out[_HIP_BONES] = self.hips
        return out


#: Per bone: the length key of its offset, its parent's rest direction (body axes), and the
#: bones whose offsets are the hip vectors.
_OFFSET_KEYS = [b.length for b in BONES]
_OFFSET_DIRECTIONS = np.array(
    [BONES[b.parent].rest if b.parent >= 0 else (0.0, 0.0, 0.0) for b in BONES]
)
_HIP_BONES = [next(i for i, b in enumerate(BONES) if b.length == h) for h in HIP_OFFSETS]


def _frames(poses: FloatArray) -> FloatArray:
    """(T, 3, 3) the Hips frame in the world from each pose (columns: body x, y, z)."""
    l_hip, r_hip, pelvis = (poses[:, _J[n]] for n in ("l_hip", "r_hip", "pelvis"))
    # A pelvis off the hip line (motion capture's root) makes the pelvis a rigid triangle:
    # its own frame. One on it (detectors' mid-hip) needs the spine for the second axis.
    above = pelvis - 0.5 * (l_hip + r_hip)
    rigid = _dot(above, above, keepdims=True) > PELVIS_OFF_LINE_M**2
    up = np.where(rigid, above, poses[:, _J["neck"]] - pelvis)
    return _frame(l_hip - r_hip, up)


def _dot(a: FloatArray, b: FloatArray, keepdims: bool = False) -> FloatArray:
    """Dot products over the last axis (``ndarray.sum``'s Python wrapper skipped: it is a
    fair part of the time on the few vectors of one pose)."""
    out = np.add.reduce(a * b, axis=-1)
    return np.asarray(out[..., None] if keepdims else out, dtype=np.float64)


def _unit(v: FloatArray) -> FloatArray:
    """``v`` over its length (NaN where zero: callers hold ``np.errstate`` for it once)."""
    return np.asarray(v / np.sqrt(_dot(v, v, keepdims=True)), dtype=np.float64)


def _frame(first: FloatArray, second: FloatArray) -> FloatArray:
    """(..., 3, 3) rotations whose first column is along ``first`` (x) and whose second (y)
    is ``second`` made orthogonal to it (NaN where either is degenerate)."""
    x = _unit(first)
    y = _unit(second - _dot(second, x, keepdims=True) * x)
    return _columns(x, y, _cross(x, y))


def _columns(x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
    """(..., 3, 3) the matrices with columns ``x``, ``y``, ``z`` (``np.stack``'s result, with
    a tenth of its overhead on the few vectors of one pose)."""
    out = np.empty((*x.shape, 3))
    out[..., 0], out[..., 1], out[..., 2] = x, y, z
    return out


_SEG_FROM = np.array([_J[a] for a, _ in SEGMENTS.values()])
_SEG_TO = np.array([_J[b] for _, b in SEGMENTS.values()])
_HIPS = np.array([_J[h] for h in HIP_OFFSETS])


def _measure(p: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per frame of poses ``p`` (T, J, 3): each segment's length (T, S) in :data:`SEGMENTS`
    order (NaN where an end is unknown) and the hip offsets in the Hips frame (T, 2, 3)."""
    d = p[:, _SEG_TO] - p[:, _SEG_FROM]
    seg = np.sqrt(_dot(d, d))
    with np.errstate(invalid="ignore", divide="ignore"):
        frame = _frames(p)  # columns: the body axes in the world
    rel = p[:, _HIPS] - p[:, _J["pelvis"], None]
    hips = (np.swapaxes(frame, -1, -2)[:, None] @ rel[..., None])[..., 0]
    return seg, hips


#: Each segment's other side (itself where it has none), and TYPICAL in SEGMENTS order.
_OTHER_SIDE = np.array(
    [
        list(SEGMENTS).index(
            n.replace("l_", "r_", 1) if n.startswith("l_") else n.replace("r_", "l_", 1)
        )
        for n in SEGMENTS
    ]
)
_TYPICAL = np.array([TYPICAL[n] for n in SEGMENTS])
_SPINE = list(SEGMENTS).index("spine")


def _complete(segments: FloatArray, hips: FloatArray) -> Lengths:
    """Lengths from ``segments`` (S,) in :data:`SEGMENTS` order and ``hips`` (2, 3), the
    unmeasured (NaN) filled: from the other side, else :data:`TYPICAL` scaled to the
    person's spine."""
    spine = segments[_SPINE]
    scale = spine / TYPICAL["spine"] if math.isfinite(spine) and spine > 0 else 1.0
    seg = np.where(np.isnan(segments), segments[_OTHER_SIDE], segments)
    seg = np.where(np.isnan(seg), _TYPICAL * scale, seg)
    hips = np.where(np.isfinite(hips).all(-1, keepdims=True), hips, TYPICAL_HIPS * scale)
    return Lengths(dict(zip(SEGMENTS, seg.tolist(), strict=True)), hips)


def lengths_of(poses: npt.ArrayLike) -> Lengths:
    """One person's lengths from a whole take: the median of every frame that measures a
    segment (one never measured: :func:`_complete`)."""
    seg, hips = _measure(np.asarray(poses, dtype=np.float64))
    if not np.isfinite(seg).any():
        raise ValueError("no bone of the person is ever measured: cannot size the skeleton")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: filled below
        return _complete(np.nanmedian(seg, axis=0), np.nanmedian(hips, axis=0))


class BoneLengths:
    """A person's bone lengths, estimated online: the median of each bone's measurements in
    the last :data:`WINDOW` poses (robust to a wrong joint now and then), given once the
    :data:`CORE` bones have :data:`MIN_SAMPLES`, then held steady and moved only
    :data:`FOLLOW` of the way to the robust value per update (a skeleton that breathes with
    detector noise is no use to an animator); the robust value is refreshed every
    :data:`REFRESH` poses. One per track: a new track starts afresh."""

    def __init__(self) -> None:
        # One row per pose: the segments (SEGMENTS order), then the two hip offsets (NaN:
        # not measured); a ring over the last WINDOW poses.
        self._rows = np.full((WINDOW, len(SEGMENTS) + 6), np.nan)
        self._seen = 0
        self._held: FloatArray | None = None  # the held row (filled), once ready
        self._target: FloatArray | None = None  # the robust row it follows
        self.current: Lengths | None = None

    def update(self, pose: npt.ArrayLike) -> Lengths | None:
        """Take one pose (J, 3); the lengths to use now (None until there are enough)."""
        seg, hips = _measure(np.asarray(pose, dtype=np.float64)[None])
        row = self._rows[self._seen % WINDOW]
        row[: len(SEGMENTS)] = seg[0]
        row[len(SEGMENTS) :] = hips[0].reshape(-1)
        self._seen += 1
        if self._target is None or self._seen % REFRESH == 0:
            counts = np.isfinite(self._rows).sum(0)
            # Ready when the core bones have their samples (a bone the detector never gives,
            # such as COCO-17's feet, is filled: see _complete).
            if counts[_CORE_COLUMNS].min() < MIN_SAMPLES or counts[len(SEGMENTS)] == 0:
                return self.current
            median = nanmedian_last(self._rows.T)
            robust = _complete(median[: len(SEGMENTS)], median[len(SEGMENTS) :].reshape(2, 3))
            self._target = np.concatenate([list(robust.segments.values()), robust.hips.reshape(-1)])
        target = self._target
        self._held = target if self._held is None else self._held + FOLLOW * (target - self._held)
        held = self._held
        self.current = Lengths(
            dict(zip(SEGMENTS, held[: len(SEGMENTS)].tolist(), strict=True)),
            held[len(SEGMENTS) :].reshape(2, 3),
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
    either is NaN; a half turn about a perpendicular axis where they are opposite).

    With ``v = a × b`` and ``c = a · b`` it is ``I + [v]× + [v]×² / (1 + c)`` (Rodrigues'
    formula with the angle's sine and cosine folded in): no trigonometry, few array calls."""
    v = _cross(a, b)
    c = _dot(a, b)
    K = _skew(v)
    R = _EYE + K + (K @ K) / (1.0 + c)[..., None, None]
    if not (c > -1.0 + 1e-9).all():  # opposite, or unknown (NaN)
        opposite = c < -1.0 + 1e-9
        other = np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
        u = _unit(_cross(a, other))  # a half turn about an axis perpendicular to a
        half = 2.0 * u[..., :, None] * u[..., None, :] - _EYE
        R = np.where(opposite[..., None, None], half, R)
        R = np.where(np.isnan(c)[..., None, None], _EYE, R)
    return np.asarray(R, dtype=np.float64)


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
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN: unknown joints, handled
        world = _world_rotations(p)
    local = np.swapaxes(world[:, _PARENTS], -1, -2) @ world
    local[:, 0] = world[:, 0]
    # The same rotations in body axes (the BVH and VMC frames): W^T R W.
    W = BODY_TO_WORLD
    return Solved(p[:, _J["pelvis"]].copy(), W.T @ local @ W, W.T @ world @ W)


def _world_rotations(p: FloatArray) -> FloatArray:
    """(T, B, 3, 3) each bone's rotation in world axes: it takes the bone's rest directions
    (``BODY_TO_WORLD @ rest``) to the world, level by level from the root."""
    T, tree = len(p), _TREE
    points = np.concatenate([p, _spine_point(p, 0.5)[:, None]], axis=1)  # spine_mid last
    world = np.empty((T, len(BONES), 3, 3))
    hips = _frames(p)
    ok = ~np.isnan(hips[:, 0, 0] + hips[:, 0, 1] + hips[:, 1, 1])
    world[:, 0] = np.where(ok[:, None, None], hips @ BODY_TO_WORLD.T, _EYE)
    d = _unit(points[:, tree.tips] - points[:, tree.at])  # (T, P, 3) every pointed bone
    # A twisted bone whose twist source lies across it (bent) is fixed by its direction and
    # that source alone, whatever its parent: its rest frame turned onto the seen one.
    d_twisted = d[:, tree.twisted]
    ref = points[:, tree.twist_to] - points[:, tree.twist_from]
    across = ref - _dot(ref, d_twisted, keepdims=True) * d_twisted
    y = _unit(across)
    fixed = np.zeros((T, len(tree.tips), 3, 3))
    fixed[:, tree.twisted] = _columns(d_twisted, y, _cross(d_twisted, y)) @ tree.rest_frames_t
    use = np.zeros((T, len(tree.tips)), dtype=bool)  # NaN compares False: no source, no twist
    use[:, tree.twisted] = _dot(across, across) > MIN_BEND**2 * _dot(ref, ref)
    for level in tree.levels:  # one depth of the tree together: the parents are done
        parent = world[:, level.parents]  # (T, n, 3, 3)
        pointing = (parent @ level.rest[:, :, None])[..., 0]
        turned = _least_rotation(pointing, d[:, level.rows]) @ parent  # the swing alone
        if level.twist:
            keep = use[:, level.rows, None, None]
            turned = np.where(keep, fixed[:, level.rows], turned)
        world[:, level.bones] = turned
    world[:, tree.end_bones] = world[:, tree.end_parents]  # no tip: the parent's turn
    return world


@dataclass(frozen=True)
class _Level:
    """The pointed bones of one depth of :data:`BONES`: their indices, their parents', their
    rows in :class:`_Tree`'s arrays, their rest directions (world axes), and whether any of
    them has a twist source."""

    bones: np.ndarray
    parents: np.ndarray
    rows: np.ndarray
    rest: FloatArray
    twist: bool


@dataclass(frozen=True)
class _Tree:
    """:data:`BONES` as index arrays for :func:`_world_rotations`: the *pointed* bones (with a
    tip; level by level) as joint indices (``spine_mid`` after the last), the rows of those
    with a twist source (:data:`_TWIST`) and its joints, their rest frames, and the end
    bones with their parents."""

    at: np.ndarray
    tips: np.ndarray
    twisted: np.ndarray
    twist_from: np.ndarray
    twist_to: np.ndarray
    #: (K, 3, 3) each twisted bone's rest frame transposed: columns the rest direction, the
    #: twist axis and their cross product (world axes), so ``seen @ it`` is the rotation.
    rest_frames_t: FloatArray
    levels: tuple[_Level, ...]
    end_bones: np.ndarray
    end_parents: np.ndarray


def _tree() -> _Tree:
    index = {**_J, "spine_mid": len(JOINTS)}
    depth = [0] * len(BONES)
    for b, bone in enumerate(BONES[1:], start=1):
        depth[b] = depth[bone.parent] + 1
    pointed = sorted((b for b in range(1, len(BONES)) if BONES[b].tip), key=lambda b: depth[b])
    twisted = [r for r, b in enumerate(pointed) if BONES[b].name in _TWIST]
    sources = [_TWIST[BONES[pointed[r]].name] for r in twisted]
    levels = []
    for level in sorted({depth[b] for b in pointed}):
        rows = [r for r, b in enumerate(pointed) if depth[b] == level]
        bones = [pointed[r] for r in rows]
        levels.append(
            _Level(
                bones=np.array(bones),
                parents=np.array([BONES[b].parent for b in bones]),
                rows=np.array(rows),
                rest=np.array([BODY_TO_WORLD @ np.asarray(BONES[b].rest) for b in bones]),
                twist=any(r in twisted for r in rows),
            )
        )
    ends = [b for b, bone in enumerate(BONES) if bone.tip is None and bone.parent >= 0]
    return _Tree(
        at=np.array([index[BONES[b].at] for b in pointed]),
        tips=np.array([index[str(BONES[b].tip)] for b in pointed]),
        twisted=np.array(twisted),
        twist_from=np.array([index[f] for f, _, _ in sources]),
        twist_to=np.array([index[t] for _, t, _ in sources]),
        rest_frames_t=np.array(
            [
                _rest_frame(BONES[pointed[r]].rest, a)
                for r, (_, _, a) in zip(twisted, sources, strict=True)
            ]
        ),
        levels=tuple(levels),
        end_bones=np.array(ends),
        end_parents=np.array([BONES[b].parent for b in ends]),
    )


def _rest_frame(rest: tuple[float, float, float], axis: tuple[float, float, float]) -> FloatArray:
    """(3, 3) the transpose of a bone's rest frame in world axes: columns its rest direction,
    its twist axis (perpendicular to it) and their cross product."""
    r, a = BODY_TO_WORLD @ np.asarray(rest), BODY_TO_WORLD @ np.asarray(axis)
    return np.stack([r, a, np.cross(r, a)], axis=-1).T


def bone_positions(solved: Solved, lengths: Lengths) -> FloatArray:
    """(T, B, 3) where each bone of :data:`BONES` starts, in the world (m), by forward
    kinematics from a solve and a person's lengths."""
    T = len(solved.root)
    W = BODY_TO_WORLD
    pos = np.zeros((T, len(BONES), 3))
    world = np.zeros((T, len(BONES), 3, 3))
    offsets = lengths.offsets()
    for b, bone in enumerate(BONES):
        if bone.parent < 0:
            world[:, b] = solved.local[:, b]
            pos[:, b] = solved.root
            continue
        world[:, b] = world[:, bone.parent] @ solved.local[:, b]
        offset = np.einsum("tij,j->ti", world[:, bone.parent], offsets[b])
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


def _candidates(m: FloatArray) -> FloatArray:
    """(..., 4, 4) Shepperd's four candidate quaternions (rows, w x y z, each 4 q_k times
    the true one for row k) of rotation matrices (..., 3, 3); row k is the best-conditioned
    where its diagonal entry, 4 q_k², is the largest."""
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    return np.stack(
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


#: :func:`_candidates` is affine in the matrix's nine entries: flattened, ``m @ A + c``.
_CAND_C = _candidates(np.zeros((3, 3))).reshape(16)
_CAND_A = np.stack([_candidates(e.reshape(3, 3)).reshape(16) - _CAND_C for e in np.eye(9)])


def matrix_to_quaternion(R: FloatArray) -> FloatArray:
    """(..., 4) unit quaternions (w, x, y, z), w ≥ 0, of rotation matrices (..., 3, 3)."""
    m = np.asarray(R, dtype=np.float64)
    shape = m.shape[:-2]
    cand = (m.reshape(-1, 9) @ _CAND_A + _CAND_C).reshape(-1, 4, 4)
    best = np.argmax(cand[:, _DIAG, _DIAG], axis=-1)
    q = cand[np.arange(len(cand)), best]
    q = q / np.sqrt(_dot(q, q, keepdims=True))
    return np.asarray(np.where(q[:, :1] < 0, -q, q), dtype=np.float64).reshape(*shape, 4)


_DIAG = np.arange(4)
_TREE = _tree()
_PARENTS = np.array([max(b.parent, 0) for b in BONES])
