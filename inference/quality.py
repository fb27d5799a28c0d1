"""Quality of a reconstruction without ground truth: how well the 3D explains the 2D, and how
rigid the bones stay.

* reprojection error: for every joint a view detected (confidence > 0) and the pose has, the
  pixel distance between the detection and the pose projected through that camera — over all
  detections, and over the detections within the camera's view rejection threshold (the views
  a triangulation keeps);
* bone-length spread: the standard deviation over time of each bone's length. The limb bones
  (upper arm, forearm, thigh, shank, foot) are rigid, so their spread is error; the torso's
  "bones" join mid-points of detector keypoints and bend with the spine, so they are reported
  apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from syncpose.arrays import FloatArray
from syncpose.camera import Rig
from syncpose.inference.baselines import reject_px
from syncpose.skeleton import JOINTS, PARENTS

LIMB_BONES: tuple[tuple[str, str], ...] = tuple(
    (JOINTS[PARENTS[j]], JOINTS[j])
    for j in range(len(JOINTS))
    if JOINTS[j][2:] in ("elbow", "wrist", "knee", "ankle", "foot")
)


def reprojection_errors(
    rig: Rig, positions: FloatArray, keypoints_2d: FloatArray, kept_only: bool = False
) -> FloatArray:
    """Pixel errors (N,) of every detected joint the pose has: ``positions`` (K, J, 3),
    ``keypoints_2d`` (K, V, J, 3) as in a PoseResult (x, y, confidence; rig camera order).
    ``kept_only``: only detections within the camera's view rejection threshold (the views
    a triangulation keeps; how Pose2Sim reports its reprojection error)."""
    limits = reject_px(rig)
    errors = []
    for v, cam in enumerate(rig.cameras):
        projected = cam.project(positions)  # (K, J, 2)
        detected = keypoints_2d[:, v]
        ok = (
            (np.nan_to_num(detected[..., 2]) > 0)
            & np.isfinite(detected[..., :2]).all(-1)
            & np.isfinite(projected).all(-1)
        )
        err = np.linalg.norm(projected - detected[..., :2], axis=-1)
        if kept_only:
            ok &= err <= limits[v]
        errors.append(err[ok])
    return np.concatenate(errors) if errors else np.zeros(0)


def bone_length_std(positions: FloatArray) -> dict[str, float]:
    """Standard deviation (m) of each bone's length over the ticks where both ends are known
    (bones known in fewer than 3 ticks are left out)."""
    out: dict[str, float] = {}
    for j, parent in enumerate(PARENTS):
        if parent < 0:
            continue
        length = np.linalg.norm(positions[:, j] - positions[:, parent], axis=-1)
        length = length[np.isfinite(length)]
        if len(length) >= 3:
            out[f"{JOINTS[parent]}-{JOINTS[j]}"] = float(length.std())
    return out


def summarise(rig: Rig, positions: FloatArray, keypoints_2d: FloatArray | None) -> dict[str, Any]:
    """Share of ticks with a pose, reprojection error percentiles, bone-length spreads (mm)."""
    K = len(positions)
    has_pose = np.isfinite(positions).all(-1).any(-1) if K else np.zeros(0, bool)
    stds = bone_length_std(positions)
    limb = [stds[f"{a}-{b}"] for a, b in LIMB_BONES if f"{a}-{b}" in stds]
    out: dict[str, Any] = {
        "ticks": K,
        "ticks_with_pose": int(has_pose.sum()),
        "pose_fraction": float(has_pose.mean()) if K else 0.0,
        "joints_known_fraction": float(np.isfinite(positions).all(-1).mean()) if K else 0.0,
        "bone_std_mm": {k: round(v * 1000.0, 2) for k, v in stds.items()},
        "limb_bone_std_mm_mean": round(float(np.mean(limb)) * 1000.0, 2) if limb else None,
        "limb_bone_std_mm_max": round(float(np.max(limb)) * 1000.0, 2) if limb else None,
    }
    if keypoints_2d is not None:
        for key, kept in (("reprojection_px", False), ("reprojection_px_kept_views", True)):
            err = reprojection_errors(rig, positions, keypoints_2d, kept_only=kept)
            out[key] = {
                "n": len(err),
                "median": round(float(np.median(err)), 2) if len(err) else None,
                "p90": round(float(np.percentile(err, 90)), 2) if len(err) else None,
            }
    return out
