"""The denoiser at run time: the exported ONNX sampler through onnxruntime (no torch).

:class:`DenoiserRuntime` loads a model (the shipped one by default), chooses the execution
provider by probing (see :mod:`syncpose.inference.runtime`) and refines batches of bundles;
each result has the pose (the hypotheses' mean, or per joint the hypothesis that best agrees
with the 2D evidence), the per-joint uncertainty (the hypotheses' spread) and what ran.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from syncpose.arrays import AnyArray, FloatArray
from syncpose.inference.denoiser.features import DenoiserInputs, sequence_inputs
from syncpose.inference.runtime import OnnxModel
from syncpose.keypoints import KeypointTracks

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "denoiser.onnx"


@dataclass(frozen=True)
class Refined:
    """World-frame results for B bundles: ``pose`` (B, J, 3) metres (NaN where fewer than two
    views saw a joint), ``uncertainty`` (B, J) metres."""

    pose: FloatArray
    uncertainty: FloatArray


class DenoiserRuntime:
    """An exported denoiser. ``hypotheses``: N drawn per bundle; ``select``: per joint, the
    hypothesis with the lowest reprojection error instead of the mean; ``seed`` makes the
    hypotheses' noise reproducible."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        prefer: str = "auto",
        hypotheses: int = 5,
        select: bool = False,
        seed: int = 0,
        threads: int = 0,
    ) -> None:
        path = Path(model) if model is not None else DEFAULT_MODEL
        if not path.is_file():
            raise FileNotFoundError(f"denoiser model {path} not found")
        if hypotheses < 1:
            raise ValueError("hypotheses must be at least 1")
        self.path = path
        self.onnx = OnnxModel(path, prefer, threads)
        self.hypotheses = hypotheses
        self.select = select
        self.rng = np.random.default_rng(seed)
        props = self.onnx.session.get_modelmeta().custom_metadata_map
        self.info: dict[str, Any] = json.loads(props.get("syncpose.denoiser", "{}"))

    @property
    def provider(self) -> str:
        return self.onnx.provider

    def describe(self) -> str:
        steps = self.info.get("steps", "?")
        return (
            f"{self.path.name}: {steps} DDIM step(s), {self.hypotheses} hypotheses, "
            f"{'selection by reprojection' if self.select else 'mean'}, "
            f"on {self.onnx.choice.describe()}"
        )

    def raw(self, inputs: DenoiserInputs) -> dict[str, AnyArray]:
        """The graph's outputs (body frame) for one batch, fresh noise per call."""
        B, J = inputs.init_valid.shape
        noise = self.rng.standard_normal((B, self.hypotheses, J, 3)).astype(np.float32)
        return self.onnx.run({**inputs.feed(), "noise": noise})

    def refine(self, inputs: DenoiserInputs, batch: int = 2048) -> Refined:
        poses, spreads = [], []
        for start in range(0, len(inputs), batch):
            part = inputs.take(slice(start, start + batch))
            out = self.raw(part)
            body = out["selected"] if self.select else out["pose"]
            poses.append(part.to_world(body))
            spreads.append(out["spread"].astype(np.float64))
        pose = np.concatenate(poses) if poses else np.zeros((0, *inputs.init.shape[1:]))
        spread = np.concatenate(spreads) if spreads else np.zeros(inputs.init_valid.shape)
        # Reported: the joints two views triangulate (as the baselines). A joint one view sees is
        # refined as context for the others but not reported: along a single ray its depth is
        # a guess from the pose prior, and a user would rather have no joint than a wrong one.
        solved = (inputs.init_valid > 0) & inputs.usable[:, None]  # (B, J)
        return Refined(np.where(solved[..., None], pose, np.nan), np.where(solved, spread, np.nan))


def denoise_sequence(seq: KeypointTracks, runtime: DenoiserRuntime) -> FloatArray:
    """(K, J, 3): the denoiser over one stream of bundles, tick by tick causally."""
    inputs = sequence_inputs(seq.rig, seq.points, seq.confidence, seq.t_capture, seq.t_ref)
    return runtime.refine(inputs).pose
