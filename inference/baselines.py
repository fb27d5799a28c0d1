"""The honest baselines every fusion method is judged against, on identical inputs.

* ``dlt``: confidence-weighted DLT with view rejection on the raw weakly synchronised 2D — what
  Pose2Sim and FreeMoCap do;
* ``time_aware``: each view's 2D moved to ``t_ref`` from its own timestamps and its previous
  detection (linear, causal: no future frame), then the same DLT.

The floor they are measured against, the same detector noise with every offset 0, needs the
simulator's ground truth and lives with the accuracy benchmark
(:func:`syncpose.inference.research.accuracy.oracle_sync`).
"""

from __future__ import annotations

import numpy as np

from syncpose.arrays import FloatArray
from syncpose.calibration.triangulate import triangulate
from syncpose.camera import Rig
from syncpose.keypoints import KeypointTracks

#: View rejection threshold of the DLT in pixels at 1000 px focal length (Pose2Sim's order of
#: magnitude); each camera's threshold scales with its focal length (:func:`reject_px`), so a
#: high-resolution camera is held to the same angular error as the simulated 1280x720 ones.
REJECT_PX = 15.0


def reject_px(rig: Rig) -> FloatArray:
    """(V,) per-camera view rejection thresholds in pixels."""
    return np.array([REJECT_PX * float(cam.K[0, 0]) / 1000.0 for cam in rig.cameras])


def dlt(seq: KeypointTracks) -> FloatArray:
    """(K, J, 3) from the weakly synchronised detections."""
    return triangulate(seq.rig, seq.points, seq.confidence, max_error_px=reject_px(seq.rig)).points


def time_aware_points(points: FloatArray, t_capture: FloatArray, t_ref: FloatArray) -> FloatArray:
    """(V, K, J, 2): each view's 2D ``points`` moved to ``t_ref`` (K,) along the line through its
    previous and current detection (by their capture times ``t_capture`` (V, K)). Where there is
    no usable previous detection, the current one is kept."""
    pts = points
    t = t_capture
    prev_pts = np.concatenate([np.full_like(pts[:, :1], np.nan), pts[:, :-1]], axis=1)
    prev_t = np.concatenate([np.full_like(t[:, :1], np.nan), t[:, :-1]], axis=1)
    # A repeated frame (same capture time twice) gives an infinite weight: kept as is below.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        w = (t_ref[None] - prev_t) / (t - prev_t)  # (V, K): 1 = the current frame
        moved = prev_pts + w[..., None, None] * (pts - prev_pts)
    return np.where(np.isfinite(moved), moved, pts)


def time_aware(seq: KeypointTracks) -> FloatArray:
    """(K, J, 3) from the time-aligned detections."""
    moved = time_aware_points(seq.points, seq.t_capture, seq.t_ref)
    return triangulate(seq.rig, moved, seq.confidence, max_error_px=reject_px(seq.rig)).points
