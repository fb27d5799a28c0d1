"""The project's skeleton and the mappings into it from detectors and motion capture.

Every pose syncpose emits carries :data:`JOINTS`. A mapping gives, for each project joint, the
source keypoints whose mean it is (an empty tuple: the source has no such joint, NaN and
confidence 0). Semantics worth knowing:

* ``pelvis`` is the mid-point of the hips for detectors, the root (``Hips``) for motion capture;
* ``neck`` is the mid-point of the shoulders for detectors without a neck keypoint;
* ``head`` is the mid-point of the ears (BlazePose, COCO) or Halpe's head keypoint, and the
  ``Head`` joint for motion capture — these differ by a few centimetres: compare like with like;
* ``*_foot`` is the base of the toes (mocap ``Toes``, BlazePose foot index, Halpe big toe).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from syncpose.arrays import FloatArray, IntArray
from syncpose.motion import MOTION_JOINTS

JOINTS: tuple[str, ...] = (
    "pelvis", "neck", "head",
    "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
    "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle", "l_foot", "r_foot",
)  # fmt: skip

#: Parent of each joint (-1 for the root), for drawing and bone lengths.
PARENTS: tuple[int, ...] = (-1, 0, 1, 1, 1, 3, 4, 5, 6, 0, 0, 9, 10, 11, 12, 13, 14)

#: Joint groups used by the accuracy benchmark.
GROUPS: dict[str, tuple[str, ...]] = {
    "extremities": ("l_wrist", "r_wrist", "l_ankle", "r_ankle"),
    "limbs": ("l_elbow", "r_elbow", "l_knee", "r_knee"),
    "torso": (
        "pelvis",
        "neck",
        "head",
        "l_shoulder",
        "r_shoulder",
        "l_hip",
        "r_hip",
        "l_foot",
        "r_foot",
    ),
}

#: Left/right pairs (indices into JOINTS), for swaps.
LEFT_RIGHT: tuple[tuple[int, int], ...] = tuple(
    (JOINTS.index(n), JOINTS.index("r_" + n[2:])) for n in JOINTS if n.startswith("l_")
)


def joint_index(names: tuple[str, ...]) -> IntArray:
    return np.array([JOINTS.index(n) for n in names], dtype=np.int64)


@dataclass(frozen=True)
class SkeletonMap:
    """How a source's keypoints become :data:`JOINTS`."""

    name: str
    source_names: tuple[str, ...]
    sources: tuple[tuple[str, ...], ...]  # per project joint, the source names averaged

    def __post_init__(self) -> None:
        if len(self.sources) != len(JOINTS):
            raise ValueError(f"{self.name}: {len(self.sources)} entries for {len(JOINTS)} joints")
        unknown = {n for s in self.sources for n in s} - set(self.source_names)
        if unknown:
            raise ValueError(f"{self.name}: unknown source keypoints {sorted(unknown)}")

    def apply(
        self, points: npt.ArrayLike, confidence: npt.ArrayLike | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Source points (..., S, D) (and confidence (..., S)) -> (..., J, D) and (..., J).

        A project joint made of several keypoints takes their mean position and their lowest
        confidence; a joint the source lacks is NaN with confidence 0.
        """
        p = np.asarray(points, dtype=np.float64)
        if p.shape[-2] != len(self.source_names):
            raise ValueError(
                f"{self.name}: {p.shape[-2]} keypoints, expected {len(self.source_names)}"
            )
        c = (
            np.ones(p.shape[:-1])
            if confidence is None
            else np.asarray(confidence, dtype=np.float64)
        )
        out = np.full((*p.shape[:-2], len(JOINTS), p.shape[-1]), np.nan)
        conf = np.zeros((*p.shape[:-2], len(JOINTS)))
        index = {n: i for i, n in enumerate(self.source_names)}
        for j, names in enumerate(self.sources):
            if not names:
                continue
            idx = [index[n] for n in names]
            out[..., j, :] = p[..., idx, :].mean(axis=-2)
            conf[..., j] = c[..., idx].min(axis=-1)
        conf = np.where(np.isfinite(out).all(axis=-1), conf, 0.0)
        return out, conf


def _build(
    name: str, source_names: tuple[str, ...], table: dict[str, tuple[str, ...]]
) -> SkeletonMap:
    return SkeletonMap(name, source_names, tuple(table.get(j, ()) for j in JOINTS))


#: Motion capture (the shared npz files; CMU BVH is imported into the same names).
MOCAP_NAMES: tuple[str, ...] = MOTION_JOINTS
MOCAP = _build(
    "mocap",
    MOCAP_NAMES,
    {
        "pelvis": ("Hips",), "neck": ("Neck",), "head": ("Head",),
        "l_shoulder": ("UpperArm_L",), "r_shoulder": ("UpperArm_R",),
        "l_elbow": ("LowerArm_L",), "r_elbow": ("LowerArm_R",),
        "l_wrist": ("Hand_L",), "r_wrist": ("Hand_R",),
        "l_hip": ("UpperLeg_L",), "r_hip": ("UpperLeg_R",),
        "l_knee": ("LowerLeg_L",), "r_knee": ("LowerLeg_R",),
        "l_ankle": ("Foot_L",), "r_ankle": ("Foot_R",),
        "l_foot": ("Toes_L",), "r_foot": ("Toes_R",),
    },
)  # fmt: skip

#: MediaPipe BlazePose, 33 landmarks.
BLAZEPOSE33_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip

_LIMBS = {
    f"{side}_{part}": (f"{'left' if side == 'l' else 'right'}_{part}",)
    for side in ("l", "r")
    for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
}
#: Torso joints as midpoints, for the COCO-style layouts without pelvis and neck points.
_MIDPOINT_TORSO = {
    "pelvis": ("left_hip", "right_hip"),
    "neck": ("left_shoulder", "right_shoulder"),
    "head": ("left_ear", "right_ear"),
}
BLAZEPOSE33 = _build(
    "blazepose33",
    BLAZEPOSE33_NAMES,
    {
        **_LIMBS,
        **_MIDPOINT_TORSO,
        "l_foot": ("left_foot_index",),
        "r_foot": ("right_foot_index",),
    },
)

#: COCO, 17 keypoints (no feet).
COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
COCO17 = _build(
    "coco17",
    COCO17_NAMES,
    {
        **_LIMBS,
        **_MIDPOINT_TORSO,
    },
)

#: Halpe, 26 keypoints: COCO's 17 plus head, neck, hip and six foot points.
HALPE26_NAMES: tuple[str, ...] = (
    *COCO17_NAMES, "head", "neck", "hip", "left_big_toe", "right_big_toe",
    "left_small_toe", "right_small_toe", "left_heel", "right_heel",
)  # fmt: skip
HALPE26 = _build(
    "halpe26",
    HALPE26_NAMES,
    {
        **_LIMBS,
        "pelvis": ("hip",),
        "neck": ("neck",),
        "head": ("head",),
        "l_foot": ("left_big_toe",),
        "r_foot": ("right_big_toe",),
    },
)

#: OpenPose BODY_25: COCO's points in OpenPose's order with a real neck and mid-hip, and feet.
BODY25_NAMES: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip",
    "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe",
    "right_heel",
)  # fmt: skip
BODY25 = _build(
    "body25",
    BODY25_NAMES,
    {
        **_LIMBS,
        "pelvis": ("mid_hip",),
        "neck": ("neck",),
        "head": ("left_ear", "right_ear"),
        "l_foot": ("left_big_toe",),
        "r_foot": ("right_big_toe",),
    },
)

#: OpenPose BODY_25B (the experimental model Pose2Sim uses by default): COCO's 17 in COCO's
#: order, then the upper neck, the head top and the six foot points.
BODY25B_NAMES: tuple[str, ...] = (
    *COCO17_NAMES, "upper_neck", "head_top", "left_big_toe", "left_small_toe", "left_heel",
    "right_big_toe", "right_small_toe", "right_heel",
)  # fmt: skip
BODY25B = _build(
    "body25b",
    BODY25B_NAMES,
    {
        **_LIMBS,
        "pelvis": ("left_hip", "right_hip"),
        "neck": ("upper_neck",),
        "head": ("head_top",),
        "l_foot": ("left_big_toe",),
        "r_foot": ("right_big_toe",),
    },
)

#: OpenPose COCO, 18 keypoints: COCO's in OpenPose's order with a neck.
COCO18_NAMES: tuple[str, ...] = BODY25_NAMES[:8] + BODY25_NAMES[9:19]
COCO18 = _build(
    "coco18",
    COCO18_NAMES,
    {**_LIMBS, "pelvis": ("left_hip", "right_hip"), "neck": ("neck",),
     "head": ("left_ear", "right_ear")},
)  # fmt: skip

MAPS: dict[str, SkeletonMap] = {
    m.name: m for m in (MOCAP, BLAZEPOSE33, COCO17, HALPE26, BODY25, BODY25B, COCO18)
}
