"""``syncpose bench ablation``: what each part of the denoiser is worth (needs torch to export).

In the spirit of SyncDiffPose's Table 3, on the same simulated data as ``bench accuracy``: the
shipped configuration (informed start, 2 DDIM steps, 5 hypotheses, mean), then one change at a
time — 1 and 5 steps, 1 hypothesis, selection by reprojection instead of the mean, and starting
from pure noise instead of the informed distribution. Removing the δ_v conditioning changes the
model, so it is compared as a pair trained alike (same config and budget, ``use_delta`` off).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from syncpose.inference.denoiser.runtime import DenoiserRuntime
from syncpose.inference.research.accuracy import run_accuracy, weak_sync_error_removed
from syncpose.inference.research.export import export_onnx
from syncpose.inference.research.train import load_trained

#: (label, DDIM steps, informed start, hypotheses, selection by reprojection)
VARIANTS: tuple[tuple[str, int, bool, int, bool], ...] = (
    ("shipped: informed, 2 steps, N=5, mean", 2, True, 5, False),
    ("1 DDIM step", 1, True, 5, False),
    ("5 DDIM steps", 5, True, 5, False),
    ("1 hypothesis", 2, True, 1, False),
    ("N=5, selection by reprojection", 2, True, 5, True),
    ("pure-noise start, 2 steps", 2, False, 5, False),
    ("pure-noise start, 5 steps", 5, False, 5, False),
)


def _row(label: str, r: dict[str, Any], baselines: dict[str, Any]) -> dict[str, Any]:
    """One table row from a method's figures ``r``; the weak-sync ratio against the baselines
    (the data are identical for every run: same seed, same simulation)."""
    e = {m: baselines["methods"][m]["mpjpe_mm"] for m in ("dlt", "oracle_sync")}
    return {
        "variant": label,
        "mpjpe_mm": r["mpjpe_mm"],
        "extremities_mm": r["groups_mpjpe_mm"]["extremities"],
        "p95_mm": r["p95_mm"],
        "weak_sync_error_removed": weak_sync_error_removed(
            r["mpjpe_mm"], e["dlt"], e["oracle_sync"]
        ),
    }


def run_ablation(
    model: str | Path,
    motions: Sequence[Path],
    *,
    pair: tuple[str | Path, str | Path] | None = None,
    max_frames: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Rows for every variant of ``model`` (a ``denoiser.pt``) and, with ``pair`` (the same
    training with and without δ_v), the δ_v ablation."""
    common: dict[str, Any] = {"seed": seed, "max_frames": max_frames}
    baselines = run_accuracy(motions, methods=("dlt", "time_aware", "oracle_sync"), **common)
    rows = [_row(m, baselines["methods"][m], baselines) for m in baselines["methods"]]

    def denoiser_row(label: str, runtime: DenoiserRuntime) -> dict[str, Any]:
        report = run_accuracy(motions, methods=("denoiser",), denoiser=runtime, **common)
        return _row(label, report["methods"]["denoiser"], baselines)

    trained = load_trained(model)
    with tempfile.TemporaryDirectory() as tmp:
        for label, steps, informed, hypotheses, select in VARIANTS:
            path = export_onnx(
                trained, Path(tmp) / f"v{steps}{informed}.onnx", steps=steps, informed=informed
            )
            runtime = DenoiserRuntime(path, hypotheses=hypotheses, select=select, seed=seed)
            rows.append(denoiser_row(label, runtime))
        if pair is not None:
            for label, weights in zip(("pair: with δ_v", "pair: without δ_v"), pair, strict=True):
                path = export_onnx(load_trained(weights), Path(tmp) / "pair.onnx")
                rows.append(denoiser_row(label, DenoiserRuntime(path, seed=seed)))
    return {
        "benchmark": "ablation",
        "model": str(model),
        "pair": [str(p) for p in pair] if pair else None,
        "motions": [str(m) for m in motions],
        "frames": baselines["frames"],
        "rows": rows,
    }


def format_ablation(report: dict[str, Any]) -> str:
    lines = [
        f"{report['frames']} frames; errors in mm",
        f"{'variant':<40}{'MPJPE':>8}{'extrem':>8}{'p95':>8}{'removed':>9}",
    ]
    for r in report["rows"]:
        removed = r["weak_sync_error_removed"]
        lines.append(
            f"{r['variant']:<40}{r['mpjpe_mm']:>8.1f}{r['extremities_mm']:>8.1f}{r['p95_mm']:>8.1f}"
            f"{'' if removed is None else f'{removed:.2f}':>9}"
        )
    return "\n".join(lines)
