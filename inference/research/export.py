"""Export the whole DDIM loop (:class:`~syncpose.inference.research.model.Sampler`) as one ONNX
graph.

Batch (B), observations (O = 2 x views) and hypotheses (N) are dynamic; the step count and the
start (informed or pure noise) are fixed per graph and recorded in its metadata, with the
model's configuration, so the runtime can say what it runs.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from syncpose.inference.denoiser.features import HISTORY, INPUT_NAMES
from syncpose.inference.research.model import Denoiser, Sampler
from syncpose.skeleton import JOINTS

OUTPUT_NAMES = ("pose", "spread", "selected", "hypotheses")
OPSET = 18


def example_inputs(batch: int = 2, views: int = 4, hypotheses: int = 3) -> dict[str, torch.Tensor]:
    """Random inputs of the right shapes (for tracing and tests)."""
    g = torch.Generator().manual_seed(0)
    J, n_obs, P = len(JOINTS), 2 * views, HISTORY
    rays = torch.nn.functional.normalize(torch.randn(batch, n_obs, J, 3, generator=g), dim=-1)
    return {
        "init": torch.randn(batch, J, 3, generator=g) * 0.5,
        "init_valid": torch.ones(batch, J),
        "centres": torch.randn(batch, n_obs, 3, generator=g) * 3.0,
        "rays": rays,
        "confidence": torch.rand(batch, n_obs, J, generator=g),
        "delta": torch.rand(batch, n_obs, generator=g) * 0.03,
        "focal": torch.ones(batch, n_obs),
        "history": torch.randn(batch, P, J, 3, generator=g) * 0.5,
        "history_dt": torch.arange(1, P + 1).float().expand(batch, P) / 30.0,
        "history_valid": torch.ones(batch, P, J),
        "noise": torch.randn(batch, hypotheses, J, 3, generator=g),
    }


def export_onnx(
    model: Denoiser,
    path: str | Path,
    *,
    steps: int = 2,
    informed: bool = True,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write the sampler to ``path``; returns it."""
    path = Path(path)
    sampler = Sampler(model.eval(), steps=steps, informed=informed).eval()
    args = tuple(example_inputs().values())
    names = (*INPUT_NAMES, "noise")
    axes: dict[str, dict[int, str]] = {n: {0: "batch"} for n in (*names, *OUTPUT_NAMES)}
    for n in ("centres", "rays", "confidence", "delta", "focal"):
        axes[n][1] = "observations"
    axes["noise"][1] = "hypotheses"
    axes["hypotheses"][1] = "hypotheses"
    # The TorchScript exporter: the unrolled DDIM loop traces exactly and needs no onnxscript;
    # torch marks it deprecated in favour of the torch.export-based one.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            sampler,
            args,
            str(path),
            input_names=list(names),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    proto = onnx.load(str(path))
    info = {
        "steps": steps,
        "informed": informed,
        "model": model.config.to_dict(),
        "joints": list(JOINTS),
        **(metadata or {}),
    }
    onnx.helper.set_model_props(proto, {"syncpose.denoiser": json.dumps(info)})
    onnx.save(proto, str(path))
    return path


def torch_outputs(
    model: Denoiser, inputs: dict[str, np.ndarray], steps: int = 2, informed: bool = True
) -> dict[str, np.ndarray]:
    """The same computation in torch eager (for parity checks and the benchmark)."""
    sampler = Sampler(model.eval(), steps=steps, informed=informed)
    with torch.no_grad():
        out = sampler(*(torch.from_numpy(np.asarray(inputs[n])) for n in (*INPUT_NAMES, "noise")))
    return {n: o.numpy() for n, o in zip(OUTPUT_NAMES, out, strict=True)}
