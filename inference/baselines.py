"""The honest baselines every fusion method is judged against, on identical inputs.

* ``dlt``: confidence-weighted DLT with view rejection on the raw weakly synchronised 2D — what
  Pose2Sim and FreeMoCap do;
* ``time_aware``: each view's 2D moved to ``t_ref`` from its own timestamps and its previous
  detection (linear, causal: no future frame), then the same DLT;
* ``oracle_sync``: the same detector noise with every offset 0 — the floor.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from calibration.triangulate import triangulate
from syncpose.simulate import Sequence2D

FloatArray = npt.NDArray[np.float64]

#: View rejection threshold of the DLT (pixels), as Pose2Sim's default order of magnitude.
REJECT_PX = 15.0


def dlt(seq: Sequence2D) -> FloatArray:
    """(K, J, 3) from the weakly synchronised detections."""
    return triangulate(seq.rig, seq.points, seq.confidence, max_error_px=REJECT_PX).points


def oracle_sync(seq: Sequence2D) -> FloatArray:
    """(K, J, 3) from detections taken at ``t_ref`` itself (same noise)."""
    return triangulate(seq.rig, seq.oracle, seq.confidence, max_error_px=REJECT_PX).points


def time_aware_points(points: FloatArray, t_capture: FloatArray, t_ref: FloatArray) -> FloatArray:
    """(V, K, J, 2): each view's 2D ``points`` moved to ``t_ref`` (K,) along the line through its
    previous and current detection (by their capture times ``t_capture`` (V, K)). Where there is
    no usable previous detection, the current one is kept."""
    pts = points
    t = t_capture
    prev_pts = np.concatenate([np.full_like(pts[:, :1], np.nan), pts[:, :-1]], axis=1)
    prev_t = np.concatenate([np.full_like(t[:, :1], np.nan), t[:, :-1]], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = (t_ref[None] - prev_t) / (t - prev_t)  # (V, K): 1 = the current frame
    moved = prev_pts + w[..., None, None] * (pts - prev_pts)
    return np.where(np.isfinite(moved), moved, pts)


def time_aware(seq: Sequence2D) -> FloatArray:
    """(K, J, 3) from the time-aligned detections."""
    moved = time_aware_points(seq.points, seq.t_capture, seq.t_ref)
    return triangulate(seq.rig, moved, seq.confidence, max_error_px=REJECT_PX).points


METHODS: dict[str, Callable[[Sequence2D], FloatArray]] = {
    "dlt": dlt,
    "time_aware": time_aware,
    "oracle_sync": oracle_sync,
}
