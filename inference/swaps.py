"""Left/right swaps: a detector that takes a person's back for their front labels the left arm
right. Each view is checked against the others: triangulate without it, project into it, and
if its detections with left and right exchanged fit that projection much better, exchange them
before fusion (Pose2Sim calls this handling L/R swaps). Needs three views (the other two define
the consensus); with two, nothing is changed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from calibration.triangulate import triangulate
from inference.baselines import reject_px
from syncpose.camera import Rig
from syncpose.skeleton import JOINTS, LEFT_RIGHT

FloatArray = npt.NDArray[np.float64]

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
    right; also returns the indices of the views that were exchanged."""
    V = len(rig.cameras)
    usable = [v for v in range(V) if (confidence[v] > 0).sum() >= 4]
    if len(usable) < 3:
        return points, confidence, []
    points, confidence = points.copy(), confidence.copy()
    swapped: list[int] = []
    for v in usable:
        others = [u for u in usable if u != v]
        sub = Rig(tuple(rig.cameras[u] for u in others))
        X = triangulate(sub, points[others], confidence[others], max_error_px=reject_px(sub)).points
        projected = rig.cameras[v].project(X[_SIDED])
        as_is = _median_error(projected, points[v, _SIDED], confidence[v, _SIDED])
        exchanged = points[v, _SWAPPED][_SIDED]
        other = _median_error(projected, exchanged, confidence[v, _SWAPPED][_SIDED])
        # NaN errors compare False: no exchange.
        if other < RATIO * as_is and as_is - other > MARGIN_PX:
            points[v] = points[v, _SWAPPED]
            confidence[v] = confidence[v, _SWAPPED]
            swapped.append(v)
    return points, confidence, swapped


def _median_error(projected: FloatArray, detected: FloatArray, conf: FloatArray) -> float:
    d = np.linalg.norm(projected - detected, axis=-1)
    ok = np.isfinite(d) & (conf > 0)
    return float(np.median(d[ok])) if ok.sum() >= 4 else float("nan")
