"""Accuracy measures of 3D poses against ground truth (all in millimetres)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from syncpose.arrays import FloatArray
from syncpose.skeleton import GROUPS, joint_index


def procrustes_aligned(pred: FloatArray, truth: FloatArray) -> FloatArray:
    """``pred`` (N, J, 3) aligned to ``truth`` per frame by the best similarity transform
    (rotation, translation, scale) over the joints both have; frames with < 3 joints: NaN."""
    out = np.full_like(pred, np.nan)
    for n in range(len(pred)):
        ok = np.isfinite(pred[n]).all(axis=1) & np.isfinite(truth[n]).all(axis=1)
        if ok.sum() < 3:
            continue
        a, b = pred[n, ok], truth[n, ok]
        ma, mb = a.mean(axis=0), b.mean(axis=0)
        a0, b0 = a - ma, b - mb
        U, S, Vt = np.linalg.svd(a0.T @ b0)
        d = np.sign(np.linalg.det(U @ Vt))
        D = np.diag([1.0, 1.0, d])
        R = U @ D @ Vt
        scale = (S * np.diag(D)).sum() / max((a0**2).sum(), 1e-12)
        out[n] = (pred[n] - ma) @ R * scale + mb
    return out


def evaluate(pred: FloatArray, truth: FloatArray, clip_ids: npt.ArrayLike) -> dict[str, Any]:
    """MPJPE, PA-MPJPE, p95, acceleration error, per joint group, coverage.

    ``pred``, ``truth``: (N, J, 3) metres; ``clip_ids`` (N,) so that accelerations never span
    two clips. Joints a method could not estimate (NaN) are left out of the errors and counted
    in ``coverage``.
    """
    clips = np.asarray(clip_ids)
    err = np.linalg.norm(pred - truth, axis=-1) * 1000.0  # (N, J)
    pa = np.linalg.norm(procrustes_aligned(pred, truth) - truth, axis=-1) * 1000.0
    accel = []
    for c in np.unique(clips):
        sel = np.flatnonzero(clips == c)
        if len(sel) < 3:
            continue
        p, t = pred[sel], truth[sel]
        a = (p[2:] - 2 * p[1:-1] + p[:-2]) - (t[2:] - 2 * t[1:-1] + t[:-2])
        accel.append(np.linalg.norm(a, axis=-1).ravel() * 1000.0)
    acc = np.concatenate(accel) if accel else np.array([np.nan])
    out: dict[str, Any] = {
        "frames": len(pred),
        "coverage": round(float(np.isfinite(err).mean()), 4),
        "mpjpe_mm": round(float(np.nanmean(err)), 2),
        "pa_mpjpe_mm": round(float(np.nanmean(pa)), 2),
        "p95_mm": round(float(np.nanpercentile(err, 95)), 2),
        "accel_error_mm": round(float(np.nanmean(acc)), 2),
        "groups_mpjpe_mm": {
            g: round(float(np.nanmean(err[:, joint_index(names)])), 2)
            for g, names in GROUPS.items()
        },
    }
    return out
