"""Left/right swaps: a detector that takes a person's back for their front labels the left arm
right. Each view is checked against the others: triangulate without it, project into it, and
if its detections with left and right exchanged fit that projection much better, exchange them
before fusion (Pose2Sim calls this handling L/R swaps). Needs three views (the other two define
the consensus); with two, nothing is changed.
"""

from __future__ import annotations

import numpy as np

from syncpose.arrays import BoolArray, FloatArray
from syncpose.calibration.triangulate import triangulate
from syncpose.camera import Rig
from syncpose.inference.baselines import reject_px
from syncpose.skeleton import JOINTS, LEFT_RIGHT

_SWAPPED = np.arange(len(JOINTS))
for _a, _b in LEFT_RIGHT:
    _SWAPPED[_a], _SWAPPED[_b] = _b, _a
_SIDED = np.array(sorted({j for pair in LEFT_RIGHT for j in pair}))

#: Exchange when the swapped error is below this share of the error as detected ...
RATIO = 0.6
#: ... and lower by at least this many pixels (noise alone never triggers it).
MARGIN_PX = 10.0


def fix_left_right(
    rig: Rig, points: FloatArray, confidence: FloatArray
) -> tuple[FloatArray, FloatArray, list[int]]:
    """``points`` (V, J, 2) and ``confidence`` (V, J) of one instant with swapped views put
    right; also returns the indices of the views that were exchanged.

    One swapped view also spoils the consensus the others are checked against, so views are
    exchanged one at a time, the most convincing first, and the rest checked again.
    """
    V = len(rig.cameras)
    usable = np.array([(confidence[v] > 0).sum() >= 4 for v in range(V)])
    if usable.sum() < 3:
        return points, confidence, []
    points, confidence = points.copy(), confidence.copy()
    swapped: list[int] = []
    for _ in range(V):
        best, best_ratio = -1, RATIO
        for v, as_is, other in _leave_one_out_errors(rig, points, confidence, usable):
            # NaN errors compare False: no exchange.
            if other < best_ratio * as_is and as_is - other > MARGIN_PX and v not in swapped:
                best, best_ratio = v, other / as_is
        if best < 0:
            break
        points[best] = points[best, _SWAPPED]
        confidence[best] = confidence[best, _SWAPPED]
        swapped.append(best)
    return points, confidence, sorted(swapped)


def _leave_one_out_errors(
    rig: Rig, points: FloatArray, confidence: FloatArray, usable: BoolArray
) -> list[tuple[int, float, float]]:
    """Per usable view: its median error against the other views' triangulation, as detected
    and with left and right exchanged."""
    V = len(rig.cameras)
    # All leave-one-out triangulations in one call: slice u of the second axis leaves view u out.
    leave_out = np.where(np.eye(V, dtype=bool)[:, :, None], 0.0, confidence[:, None, :])
    leave_out = np.where(usable[:, None, None], leave_out, 0.0)
    tiled = np.broadcast_to(points[:, None], (V, V, *points.shape[1:]))
    X = triangulate(rig, tiled, leave_out, max_error_px=reject_px(rig)).points  # (V, J, 3)
    out = []
    for v in np.flatnonzero(usable):
        projected = rig.cameras[v].project(X[v, _SIDED])
        as_is = _median_error(projected, points[v, _SIDED], confidence[v, _SIDED])
        exchanged = points[v, _SWAPPED][_SIDED]
        other = _median_error(projected, exchanged, confidence[v, _SWAPPED][_SIDED])
        out.append((int(v), as_is, other))
    return out


def _median_error(projected: FloatArray, detected: FloatArray, conf: FloatArray) -> float:
    d = np.linalg.norm(projected - detected, axis=-1)
    ok = np.isfinite(d) & (conf > 0)
    return float(np.median(d[ok])) if ok.sum() >= 4 else float("nan")
