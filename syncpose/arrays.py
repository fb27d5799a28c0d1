"""The numpy array types every package shares (one definition, for mypy and for readers),
and :func:`nanmedian_last`, the NaN-aware median the small arrays of a tick need.

An alias names the element type only; the shape is stated where the array is used — in the
variable's name or the docstring of the function that takes or returns it, with what NaN
means, e.g. ``points: (V, J, 2) FloatArray, pixels, NaN = missing view`` (GUIDE §6.6).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

#: float64: geometry, poses (metres), keypoints (pixels), times (seconds).
FloatArray = npt.NDArray[np.float64]
#: float32: arrays on the wire and model inputs/outputs (onnxruntime).
Float32Array = npt.NDArray[np.float32]
#: int64: indices, counts, frame numbers.
IntArray = npt.NDArray[np.int64]
#: bool: masks.
BoolArray = npt.NDArray[np.bool_]
#: uint8: images — (H, W, 3) BGR pixels, or (N,) encoded JPEG bytes.
ImageArray = npt.NDArray[np.uint8]
#: any element type (a decoded message's arrays, a model's raw outputs).
AnyArray = npt.NDArray[Any]


def nanmedian_last(x: FloatArray) -> FloatArray:
    """The median over the last axis ignoring NaN (NaN where all are); numpy's ``nanmedian``
    goes through masked arrays and is 30 times slower on the small arrays of a tick."""
    x = np.asarray(x, dtype=np.float64)
    shape = x.shape[:-1]
    rows = np.sort(x.reshape(-1, x.shape[-1]), axis=-1)  # NaN sort last
    n = (~np.isnan(rows)).sum(-1)
    at = np.arange(len(rows))
    lo = rows[at, np.maximum((n - 1) // 2, 0)]
    hi = rows[at, np.maximum(n // 2, 0)]
    return np.where(n > 0, 0.5 * (lo + hi), np.nan).reshape(shape)
