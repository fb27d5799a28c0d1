"""``syncpose bench accuracy``: every method on identical simulated weakly synchronised input.

Per clip of each motion file: a rig (the default evaluation rig, a random rig per clip, or a rig
file), the subject placed at random, offsets and detector errors drawn from a seed derived from
(seed, file, clip) — so the benchmark is deterministic — then every method on the same arrays.
Reported per method: MPJPE, PA-MPJPE, p95, acceleration error, MPJPE per joint group, frames,
and ``weak_sync_error_removed`` = (E_dlt − E_method) / (E_dlt − E_oracle_sync) (only when weak
synchronisation costs dlt at least ``MIN_GAP_MM``: otherwise the ratio means nothing); and per
clip, so the clips where weak synchronisation hurts most (fast motion) are visible.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from syncpose.arrays import FloatArray
from syncpose.calibration.triangulate import triangulate
from syncpose.camera import Rig
from syncpose.inference.baselines import dlt, reject_px, time_aware
from syncpose.inference.research.metrics import evaluate
from syncpose.motion import load_motion
from syncpose.simulate import (
    DetectorNoise,
    Sequence2D,
    SyncModel,
    default_rig,
    random_rig,
    simulate_clip,
)

MIN_GAP_MM = 0.5
LEARNED = ("denoiser",)


def oracle_sync(seq: Sequence2D) -> FloatArray:
    """(K, J, 3) from detections taken at ``t_ref`` itself (same noise): the floor every
    method is measured against, possible only in simulation."""
    return triangulate(seq.rig, seq.oracle, seq.confidence, max_error_px=reject_px(seq.rig)).points


#: The baselines, and the synchronised floor, by name.
METHODS: dict[str, Callable[[Sequence2D], FloatArray]] = {
    "dlt": dlt,
    "time_aware": time_aware,
    "oracle_sync": oracle_sync,
}


def weak_sync_error_removed(e_method: float, e_dlt: float, e_oracle: float) -> float | None:
    """(E_dlt − E_method) / (E_dlt − E_oracle_sync); None when weak sync costs dlt less than
    ``MIN_GAP_MM`` (the ratio would mean nothing)."""
    gap = e_dlt - e_oracle
    return round((e_dlt - e_method) / gap, 3) if gap >= MIN_GAP_MM else None


def method_table(
    methods: Sequence[str], denoiser: Any = None
) -> dict[str, Callable[[Sequence2D], FloatArray]]:
    """The functions for ``methods``: the baselines, and ``denoiser`` (with ``denoiser``, a
    :class:`~syncpose.inference.denoiser.runtime.DenoiserRuntime`, required for that method)."""
    unknown = [m for m in methods if m not in METHODS and m not in LEARNED]
    if unknown:
        known = sorted([*METHODS, *LEARNED])
        raise ValueError(f"unknown method(s) {unknown}; available: {known}")
    table = {m: METHODS[m] for m in methods if m in METHODS}
    if "denoiser" in methods:
        from syncpose.inference.denoiser.runtime import denoise_sequence

        if denoiser is None:
            raise ValueError("the denoiser method needs a DenoiserRuntime")
        table["denoiser"] = lambda seq: denoise_sequence(seq, denoiser)
    return {m: table[m] for m in methods}


def run_accuracy(
    motions: Sequence[Path],
    *,
    rig: str = "default",
    cameras: int = 4,
    fps: float = 30.0,
    offsets: str = "uniform",
    methods: Sequence[str] = ("dlt", "time_aware", "oracle_sync"),
    seed: int = 0,
    max_frames: int | None = None,
    drop_rate: float = 0.0,
    missing_views: int = 0,
    clips: Sequence[str] = (),
    noise: DetectorNoise | None = None,
    denoiser: Any = None,
) -> dict[str, Any]:
    """``rig``: ``default`` (``cameras`` on a ring), ``random`` (a new random rig of
    ``cameras`` per clip; 0 = 2-8 drawn) or a rig file; ``clips``: keep only clips whose name
    contains one of these strings."""
    if "denoiser" in methods and denoiser is None:
        from syncpose.inference.denoiser.runtime import DenoiserRuntime

        denoiser = DenoiserRuntime()
    table = method_table(methods, denoiser)
    fixed_rig: Rig | None = None
    if rig == "default":
        fixed_rig = default_rig(cameras)
    elif rig != "random":
        from syncpose.calibration.rigfile import load_rig

        fixed_rig = load_rig(rig)
    sync = SyncModel(fps=fps, offsets=offsets, drop_rate=drop_rate, missing_views=missing_views)
    noise = noise or DetectorNoise()
    preds: dict[str, list[FloatArray]] = {m: [] for m in methods}
    truths: list[FloatArray] = []
    clip_ids: list[FloatArray] = []
    per_clip: list[dict[str, Any]] = []
    seconds = dict.fromkeys(methods, 0.0)
    t_sim = 0.0
    total = 0
    for f, path in enumerate(motions):
        motion = load_motion(str(path))
        for c, clip in enumerate(motion.clips):
            if max_frames is not None and total >= max_frames:
                break
            if clip.duration_s < 3.0 / fps:
                continue
            if clips and not any(part in clip.name for part in clips):
                continue
            rng = np.random.default_rng([seed, f, c])
            clip_rig = fixed_rig or random_rig(rng, cameras or None)
            t0 = time.perf_counter()
            left = None if max_frames is None else max_frames - total
            seq = simulate_clip(clip, clip_rig, rng, sync=sync, noise=noise, max_ticks=left)
            t_sim += time.perf_counter() - t0
            if len(seq.t_ref) == 0:
                continue
            row: dict[str, Any] = {
                "clip": f"{Path(path).stem}/{clip.name}",
                "frames": len(seq.t_ref),
            }
            for m in methods:
                t0 = time.perf_counter()
                pred = table[m](seq)
                seconds[m] += time.perf_counter() - t0
                preds[m].append(pred)
                err = np.linalg.norm(pred - seq.truth, axis=-1) * 1000.0
                row[m] = round(float(np.nanmean(err)), 1)
            per_clip.append(row)
            truths.append(seq.truth)
            clip_ids.append(np.full(len(seq.t_ref), len(per_clip)))
            total += len(seq.t_ref)
    if not truths:
        raise ValueError("no clip long enough to simulate")
    truth = np.concatenate(truths)
    ids = np.concatenate(clip_ids)
    results = {m: evaluate(np.concatenate(preds[m]), truth, ids) for m in methods}
    if "dlt" in results and "oracle_sync" in results:
        e_dlt, e_or = results["dlt"]["mpjpe_mm"], results["oracle_sync"]["mpjpe_mm"]
        for r in results.values():
            r["weak_sync_error_removed"] = weak_sync_error_removed(r["mpjpe_mm"], e_dlt, e_or)
    for m in methods:
        results[m]["seconds"] = round(seconds[m], 3)
    worst_key = "dlt" if "dlt" in methods else methods[0]
    return {
        "benchmark": "accuracy",
        "motions": [str(p) for p in motions],
        "rig": rig,
        "cameras": len(fixed_rig.cameras) if fixed_rig is not None else cameras,
        "fps": fps,
        "missing_views": missing_views,
        "clips": list(clips),
        "offsets": offsets,
        "seed": seed,
        "drop_rate": drop_rate,
        "detector_noise": dataclasses.asdict(noise),
        "frames": total,
        "simulation_seconds": round(t_sim, 3),
        "methods": results,
        **({"denoiser": denoiser.describe()} if "denoiser" in methods else {}),
        "per_clip": sorted(per_clip, key=lambda r: -r.get(worst_key, 0.0)),
    }


def format_table(report: dict[str, Any], worst: int = 8) -> str:
    """The report as text: one row per method, then the clips where dlt errs most."""
    cols = ("MPJPE", "PA-MPJPE", "p95", "accel", "extrem", "limbs", "torso", "removed")
    lines = [
        f"{report['frames']} frames, rig {report['rig']}, {report['fps']:g} fps, "
        f"offsets {report['offsets']}; errors in mm",
        f"{'method':<12}" + "".join(f"{c:>9}" for c in cols),
    ]
    for m, r in report["methods"].items():
        g = r["groups_mpjpe_mm"]
        removed = r.get("weak_sync_error_removed")
        values = (
            r["mpjpe_mm"],
            r["pa_mpjpe_mm"],
            r["p95_mm"],
            r["accel_error_mm"],
            g["extremities"],
            g["limbs"],
            g["torso"],
        )
        row = "".join(f"{v:>9.1f}" for v in values)
        lines.append(f"{m:<12}{row}{'' if removed is None else f'{removed:.2f}':>9}")
    methods = list(report["methods"])
    lines.append(f"worst clips (MPJPE): {'':<32}" + "".join(f"{m:>12}" for m in methods))
    lines.extend(
        f"  {row['clip'][:50]:<50}" + "".join(f"{row[m]:>12.1f}" for m in methods)
        for row in report["per_clip"][:worst]
    )
    return "\n".join(lines)
