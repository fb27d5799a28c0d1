"""``syncpose bench denoiser``: latency and throughput of the denoiser, ONNX and torch side by side.

Inputs are real ones: a simulated 4-camera weakly synchronised clip from the bundled motion,
turned into denoiser inputs exactly as at run time. Reported: latency per bundle at batch 1
(p50, p99) for the graph alone and for a whole :class:`~syncpose.inference.engine.PoseEngine` step
(triangulation of the new frames, inputs from the window, graph), and bundles per second at
batch ``batch``. torch is measured only where it is installed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from syncpose.inference.denoiser.features import DenoiserInputs, sequence_inputs
from syncpose.inference.denoiser.runtime import DenoiserRuntime
from syncpose.motion import load_motion
from syncpose.simulate import default_rig, simulate_clip


def _bench_inputs(views: int, ticks: int) -> tuple[Any, DenoiserInputs]:
    clip = load_motion("bundled").clips[0]
    rig = default_rig(views)
    seq = simulate_clip(clip, rig, np.random.default_rng(0), max_ticks=ticks)
    return seq, sequence_inputs(seq.rig, seq.points, seq.confidence, seq.t_capture, seq.t_ref)


def _timings(fn: Callable[[int], object], n: int, warmup: int = 20) -> list[float]:
    for i in range(warmup):
        fn(i)
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def _summary(ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
    }


def run_denoiser_bench(
    model: str | Path | None = None,
    *,
    prefer: str = "auto",
    views: int = 4,
    hypotheses: int = 5,
    batch: int = 64,
    repeats: int = 300,
    torch_eager: bool = True,
) -> dict[str, Any]:
    runtime = DenoiserRuntime(model, prefer=prefer, hypotheses=hypotheses)
    seq, inputs = _bench_inputs(views, max(batch, 200))
    K = len(inputs)
    singles = [inputs.take(slice(k, k + 1)) for k in range(K)]
    big = inputs.take(slice(0, batch))

    graph = _timings(lambda i: runtime.raw(singles[i % K]), repeats)

    # The live path per bundle: the engine triangulates the new frames, builds the inputs from
    # its window and runs the graph (what the inference worker does).
    from syncpose.inference.engine import PoseEngine, ViewKeypoints

    engine = PoseEngine(seq.rig, runtime)
    names = seq.rig.names

    def whole(i: int) -> None:
        k = i % K
        views = {
            name: ViewKeypoints(seq.points[v, k], seq.confidence[v, k], seq.t_capture[v, k])
            for v, name in enumerate(names)
        }
        engine.step(seq.t_ref[k] + (i // K) * 1000.0, views)

    method = _timings(whole, repeats)
    n_big = max(repeats // 10, 10)
    batched = _timings(lambda i: runtime.raw(big), n_big, warmup=3)
    report: dict[str, Any] = {
        "benchmark": "denoiser",
        "model": str(runtime.path),
        "graph": runtime.info,
        "views": views,
        "hypotheses": hypotheses,
        "onnxruntime": {
            "provider": runtime.onnx.choice.describe(),
            "batch1_graph": _summary(graph),
            "batch1_engine_step": _summary(method),
            f"batch{batch}_bundles_per_s": round(batch / (np.median(batched) / 1000.0)),
        },
    }
    if torch_eager:
        report["torch_eager"] = _torch_figures(runtime, singles, big, repeats, hypotheses)
    return report


def _torch_figures(
    runtime: DenoiserRuntime,
    singles: list[DenoiserInputs],
    big: DenoiserInputs,
    repeats: int,
    hypotheses: int,
) -> dict[str, Any]:
    try:
        import torch

        from syncpose.inference.research.export import torch_outputs
        from syncpose.inference.research.train import load_trained
    except ImportError:
        return {"skipped": "torch is not installed (pip install -e '.[train]')"}
    weights = runtime.path.with_suffix(".pt")
    if not weights.is_file():
        return {"skipped": f"no torch weights next to the model ({weights.name})"}
    model = load_trained(weights)
    steps = int(runtime.info.get("steps", 2))
    rng = np.random.default_rng(0)
    J = big.init.shape[1]

    def call(inp: DenoiserInputs) -> None:
        noise = rng.standard_normal((len(inp), hypotheses, J, 3)).astype(np.float32)
        torch_outputs(model, {**inp.feed(), "noise": noise}, steps=steps)

    K = len(singles)
    single = _timings(lambda i: call(singles[i % K]), repeats)
    batched = _timings(lambda i: call(big), max(repeats // 10, 10), warmup=3)
    return {
        "threads": torch.get_num_threads(),
        "batch1_graph": _summary(single),
        f"batch{len(big)}_bundles_per_s": round(len(big) / (np.median(batched) / 1000.0)),
    }
