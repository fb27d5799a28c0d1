"""``syncpose train``: the denoiser trained on real motion capture through the weak-sync simulator.

Data: every clip of the training motion files whose style is not held out is simulated
``passes`` times, each time with other body proportions (:func:`vary_proportions`) on a freshly
drawn rig (random placements, or a ring, 2-8 cameras),
tick rate (30 or 60 fps), offsets, frame drops, a whole view missing in some bundles, and
detector error model (varied around its defaults); a share of the ticks is kept. Clips of the
held-out styles are the validation set, simulated once on the default evaluation rig. Seeded
throughout: the same config gives the same data and the same model.

Training: AdamW with cosine decay, an exponential moving average of the weights (what is
validated, checkpointed and exported), plain denoising (``x = truth + σ ε``) with one σ per
sample drawn log-uniformly, mostly near the informed start.
Progress (loss, validation MPJPE against time-aware triangulation on the same ticks) is printed;
``checkpoint.pt`` is written at every validation and training resumes from it.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from syncpose.arrays import Float32Array, FloatArray
from syncpose.camera import Rig, look_at
from syncpose.inference.denoiser.features import (
    INPUT_NAMES,
    DenoiserInputs,
    sequence_inputs,
    to_body,
)
from syncpose.inference.research.model import (
    SIGMA_START_MISSING,
    Denoiser,
    ModelConfig,
    Sampler,
    preconditioning,
)
from syncpose.motion import load_motion
from syncpose.simulate import DetectorNoise, SyncModel, default_rig, random_rig, simulate_clip


@dataclass
class TrainConfig:
    """Everything that decides the shipped model (``--config`` YAML overrides any field)."""

    motions: list[str] = field(default_factory=lambda: ["mocap/bandai2_train.npz"])
    holdout_styles: list[str] = field(default_factory=lambda: ["feminine"])
    passes: int = 2
    keep_ticks: float = 0.5
    val_ticks: int = 4000
    seed: int = 0
    steps: int = 9000
    batch: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    ema: float = 0.999
    validate_every: int = 1000
    threads: int = 2
    # Share of simulated clips whose offsets are "aligned" (δ_v in ±T/2, as the aligner makes
    # them) rather than "uniform" (δ_v in [0, T), camera 0 at 0).
    aligned_offsets: float = 0.0
    # A denoiser.pt to start from (fine-tuning); its model config must match ``model``.
    init: str | None = None
    model: ModelConfig = field(default_factory=ModelConfig)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        data = yaml.safe_load(Path(path).read_text()) or {}
        unknown = set(data) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ValueError(f"{path}: unknown training option(s) {sorted(unknown)}")
        model = ModelConfig(**data.pop("model", {}))
        return cls(**data, model=model)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def clip_style(name: str) -> str:
    """The style of a Bandai-Namco clip name (``dataset-2_walk_feminine_003`` -> feminine)."""
    parts = name.split("_")
    return parts[2] if len(parts) >= 4 else ""


def ring_rig(rng: np.random.Generator, n: int) -> Rig:
    """``n`` cameras evenly on a ring, like the evaluation rig but with drawn size and lens."""
    radius = rng.uniform(3.0, 5.5)
    phase = rng.uniform(0.0, 2.0 * math.pi)
    w, h = [(1280, 720), (1920, 1080)][int(rng.integers(2))]
    cams = []
    for i in range(n):
        a = phase + 2.0 * math.pi * i / n
        pos = (radius * math.cos(a), radius * math.sin(a), rng.uniform(1.0, 2.7))
        f = rng.uniform(0.6, 1.2) * w
        cams.append(look_at(pos, (0.0, 0.0, 1.0), f, w, h, name=f"cam{i}"))
    return Rig(tuple(cams))


def training_noise(rng: np.random.Generator) -> DetectorNoise:
    base = DetectorNoise()
    return DetectorNoise(
        jitter_px=base.jitter_px * rng.uniform(0.6, 1.8),
        temporal_correlation=rng.uniform(0.2, 0.8),
        outlier_rate=rng.uniform(0.0, 0.03),
        miss_rate=rng.uniform(0.0, 0.05),
        swap_rate=rng.uniform(0.0, 0.01),
    )


@dataclass
class Samples:
    """Training samples of one observation count O (so batches need no padding)."""

    inputs: dict[str, Float32Array]
    truth: Float32Array  # (S, J, 3) body frame

    def __len__(self) -> int:
        return len(self.truth)


Skeleton = tuple[tuple[str, ...], tuple[int, ...]]  # joint names, parents

#: Bones whose length differs most between skeletons (torso, clavicles, shoulder and hip
#: width: CMU's hips are 1.8x as wide as Bandai-Namco's) and the rest (limbs).
_WIDE_BONES = ("Spine", "Chest", "Neck", "Head", "Shoulder", "UpperArm", "UpperLeg")


def vary_proportions(
    positions: FloatArray,
    names: tuple[str, ...],
    parents: tuple[int, ...],
    rng: np.random.Generator,
) -> FloatArray:
    """The same motion on a body of other proportions: every bone vector (T, 3) scaled, left and
    right alike, torso and widths by e^U(-0.5, 0.7), limbs by e^U(-0.15, 0.15), all by a global
    e^U(-0.15, 0.15); the root trajectory is kept and joint angles are unchanged. So the pose
    prior cannot assume one skeleton's proportions."""
    scales: dict[str, float] = {}
    out = np.empty_like(positions)
    glob = math.exp(rng.uniform(-0.15, 0.15))
    for j, p in enumerate(parents):  # parents come before children in the motion format
        if p < 0:
            out[:, j] = positions[:, j]
            continue
        base = names[j].removesuffix("_L").removesuffix("_R")
        if base not in scales:
            wide = base in _WIDE_BONES
            scales[base] = math.exp(rng.uniform(-0.5, 0.7) if wide else rng.uniform(-0.15, 0.15))
        out[:, j] = out[:, p] + (positions[:, j] - positions[:, p]) * scales[base] * glob
    return out


def simulate_samples(
    clip_arrays: tuple[str, FloatArray, float],
    seed: list[int],
    keep: float,
    skeleton: Skeleton,
    aligned: float = 0.0,
) -> tuple[DenoiserInputs, FloatArray]:
    """One clip, on a body of drawn proportions, simulated on a drawn rig; the kept ticks'
    inputs and body-frame truth."""
    from syncpose.motion import Clip

    name, positions, fps = clip_arrays
    rng = np.random.default_rng(seed)
    clip = Clip(name, vary_proportions(positions, *skeleton, rng), fps)
    n = int(rng.integers(2, 9))
    rig = random_rig(rng, n) if rng.random() < 0.6 else ring_rig(rng, n)
    sync = SyncModel(
        fps=30.0 if rng.random() < 0.75 else 60.0,
        offsets=_offsets_model(rng, aligned),
        drop_rate=0.0 if rng.random() < 0.7 else rng.uniform(0.0, 0.1),
    )
    seq = simulate_clip(clip, rig, rng, sync=sync, noise=training_noise(rng))
    points, conf, t_cap = seq.points.copy(), seq.confidence.copy(), seq.t_capture.copy()
    K = len(seq.t_ref)
    if n > 2:  # a whole view missing in some bundles
        gone = rng.random(K) < 0.15
        view = rng.integers(0, n, size=K)
        points[view[gone], np.flatnonzero(gone)] = np.nan
        conf[view[gone], np.flatnonzero(gone)] = 0.0
        t_cap[view[gone], np.flatnonzero(gone)] = np.nan
    inputs = sequence_inputs(rig, points, conf, t_cap, seq.t_ref)
    kept = np.flatnonzero((rng.random(K) < keep) & inputs.usable)
    inputs = inputs.take(kept)
    return inputs, to_body(seq.truth[kept], inputs.origin, inputs.yaw)


def _offsets_model(rng: np.random.Generator, aligned: float) -> str:
    """10 % synchronised; of the rest, ``aligned`` aligner-centred, the others uniform."""
    if rng.random() >= 0.9:
        return "none"
    return "aligned" if aligned and rng.random() < aligned else "uniform"


Job = tuple[
    tuple[str, FloatArray, float],
    list[int],
    float,
    tuple[tuple[str, ...], tuple[int, ...]],
    float,
]


def _simulate_job(job: Job) -> Any:
    return simulate_samples(*job)


def resolve_motion(path: str, data_root: Path) -> str:
    """A config's motion entry: ``bundled``, a path, or a path under ``data_root``."""
    p = Path(path)
    return path if path == "bundled" or p.is_absolute() or p.exists() else str(data_root / p)


def build_dataset(
    cfg: TrainConfig, data_root: Path, workers: int = 2
) -> tuple[dict[int, Samples], list[tuple[str, FloatArray, float]]]:
    """Training samples by observation count, and the held-out clips."""
    jobs: list[Job] = []
    held_out = []
    for f, motion_path in enumerate(cfg.motions):
        motion = load_motion(resolve_motion(motion_path, data_root))
        for c, clip in enumerate(motion.clips):
            if clip.duration_s < 0.2:
                continue
            arrays = (clip.name, clip.positions, clip.fps)
            if clip_style(clip.name) in cfg.holdout_styles:
                held_out.append(arrays)
                continue
            skeleton = (motion.joint_names, motion.parents)
            jobs.extend(
                (arrays, [cfg.seed, p, f, c], cfg.keep_ticks, skeleton, cfg.aligned_offsets)
                for p in range(cfg.passes)
            )
    buckets: dict[int, tuple[list[DenoiserInputs], list[FloatArray]]] = {}
    done = 0
    t0 = time.monotonic()
    with get_context("fork").Pool(workers) as pool:
        for inputs, truth in pool.imap(_simulate_job, jobs, chunksize=8):
            lists = buckets.setdefault(inputs.rays.shape[1], ([], []))
            lists[0].append(inputs)
            lists[1].append(truth)
            done += 1
            if done % 200 == 0 or done == len(jobs):
                _progress(f"simulating clips {done}/{len(jobs)} ({time.monotonic() - t0:.0f} s)")
    _say("")
    out = {}
    for n_obs, (inputs_list, truths) in sorted(buckets.items()):
        inputs = {n: np.concatenate([i.feed()[n] for i in inputs_list]) for n in INPUT_NAMES}
        out[n_obs] = Samples(inputs, np.concatenate(truths).astype(np.float32))
    return out, held_out


def validation_set(
    held_out: list[tuple[str, FloatArray, float]], cfg: TrainConfig
) -> tuple[DenoiserInputs, FloatArray]:
    """Held-out clips on the default rig at 30 fps, uniform offsets (the benchmark's setting)."""
    from syncpose.motion import Clip

    rng = np.random.default_rng([cfg.seed, 999])
    order = rng.permutation(len(held_out))
    parts: list[DenoiserInputs] = []
    truths: list[FloatArray] = []
    total = 0
    for i in order:
        name, positions, fps = held_out[i]
        seq = simulate_clip(Clip(name, positions, fps), default_rig(), rng)
        inputs = sequence_inputs(seq.rig, seq.points, seq.confidence, seq.t_capture, seq.t_ref)
        parts.append(inputs)
        truths.append(seq.truth)
        total += len(seq.t_ref)
        if total >= cfg.val_ticks:
            break
    merged = DenoiserInputs(
        **{
            f: np.concatenate([getattr(p, f) for p in parts])
            for f in (*INPUT_NAMES, "origin", "yaw", "usable")
        }
    )
    return merged, np.concatenate(truths)


def tensors(inputs: dict[str, Float32Array], index: Any) -> dict[str, torch.Tensor]:
    return {n: torch.from_numpy(np.ascontiguousarray(inputs[n][index])) for n in INPUT_NAMES}


def batches(
    data: dict[int, Samples], batch: int, rng: np.random.Generator
) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    """Endless batches; each from one observation-count bucket, chosen by its size."""
    keys = list(data)
    sizes = np.array([len(data[k]) for k in keys], dtype=np.float64)
    while True:
        s = data[keys[int(rng.choice(len(keys), p=sizes / sizes.sum()))]]
        idx = np.sort(rng.integers(0, len(s), size=batch))
        yield tensors(s.inputs, idx), torch.from_numpy(s.truth[idx])


def draw_sigma(cond: dict[str, torch.Tensor], gen: torch.Generator) -> torch.Tensor:
    """(B, 1, J): per sample, log-uniform on [1 mm, 2 m] or (70 %) on [2 mm, 10 cm]; joints the
    triangulation missed at least at their informed start level."""
    B, J = cond["init_valid"].shape
    u = torch.rand(B, 1, generator=gen)
    wide = torch.exp(math.log(1e-3) + u * (math.log(2.0) - math.log(1e-3)))
    narrow = torch.exp(math.log(2e-3) + u * (math.log(0.1) - math.log(2e-3)))
    pick = torch.rand(B, 1, generator=gen) < 0.7
    sigma = torch.where(pick, narrow, wide).expand(B, J)
    missing = cond["init_valid"] < 0.5
    sigma = torch.where(missing, sigma.clamp(min=SIGMA_START_MISSING), sigma)
    return sigma[:, None]


def loss_fn(
    model: Denoiser,
    cond: dict[str, torch.Tensor],
    truth: torch.Tensor,
    gen: torch.Generator,
) -> torch.Tensor:
    """EDM-weighted Huber loss on x_0 from ``x = truth + σ ε`` (plain denoising diffusion: the
    informed start is a sampling choice, so hypotheses keep the posterior's spread)."""
    sigma = draw_sigma(cond, gen)  # (B, 1, J)
    x = truth[:, None] + sigma[..., None] * torch.randn(truth[:, None].shape, generator=gen)
    pred = model(x, sigma, cond)
    c_out = preconditioning(sigma, cond["init_valid"])[1]
    residual = (pred - truth[:, None]) / c_out
    return torch.nn.functional.huber_loss(residual, torch.zeros_like(residual), delta=1.0)


def evaluate_model(
    model: Denoiser, val: tuple[DenoiserInputs, FloatArray], steps: int = 2, hypotheses: int = 4
) -> dict[str, float]:
    """Validation MPJPE (mm) of the sampler and of the initial estimate on the joints the
    initial estimate solved, and of the sampler on every joint some view saw."""
    inputs, truth = val
    sampler = Sampler(model, steps=steps).eval()
    gen = torch.Generator().manual_seed(0)
    preds = []
    with torch.no_grad():
        for start in range(0, len(inputs), 1024):
            sl = slice(start, start + 1024)
            cond = tensors(inputs.feed(), sl)
            B, J = cond["init_valid"].shape
            noise = torch.randn(B, hypotheses, J, 3, generator=gen)
            pose = sampler(*cond.values(), noise)[0]
            preds.append(pose.numpy())
    world = inputs.to_world(np.concatenate(preds))
    solved = inputs.init_valid > 0
    seen = (inputs.confidence > 0).any(axis=1) & inputs.usable[:, None]
    err = np.linalg.norm(world - truth, axis=-1) * 1000
    err0 = np.linalg.norm(inputs.to_world(inputs.init) - truth, axis=-1) * 1000
    return {
        "val_mpjpe_mm": float(err[solved].mean()),
        "val_init_mpjpe_mm": float(err0[solved].mean()),
        "val_seen_mpjpe_mm": float(err[seen].mean()),
    }


def _progress(text: str) -> None:
    """Overwrite the progress line on stderr."""
    sys.stderr.write("\r" + text.ljust(110))
    sys.stderr.flush()


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")


def train(cfg: TrainConfig, out: Path, data_root: Path) -> dict[str, Any]:
    """Train (or resume) into ``out``; returns the final validation figures."""
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t_start = time.monotonic()
    data, held_out = build_dataset(cfg, data_root, workers=cfg.threads)
    n_samples = sum(len(s) for s in data.values())
    _say(
        f"{n_samples} training samples in {len(data)} view-count buckets; "
        f"{len(held_out)} held-out clips ({', '.join(cfg.holdout_styles)})"
    )
    val = validation_set(held_out, cfg)
    t_data = time.monotonic() - t_start

    model = Denoiser(cfg.model)
    if cfg.init:
        start = torch.load(cfg.init, weights_only=False)
        if start.get("model_config") != cfg.model.to_dict():
            raise ValueError(f"{cfg.init}: another model configuration than this config's")
        model.load_state_dict(start["weights"])
        _say(f"starting from {cfg.init}")
    ema = copy.deepcopy(model).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 300) * 0.5 * (1 + math.cos(math.pi * s / cfg.steps))
    )
    step = 0
    history: list[dict[str, float]] = []
    ckpt = out / "checkpoint.pt"
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        if {**state["config"], "steps": cfg.steps} != cfg.to_dict():
            raise ValueError(f"{ckpt} was trained with another config; use a new --out")
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, history = state["step"], state["history"]
        _say(f"resumed from {ckpt} at step {step}")
    rng = np.random.default_rng([cfg.seed, step])
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    stream = batches(data, cfg.batch, rng)
    running = None
    t_train = time.monotonic()
    first = step
    while step < cfg.steps:
        cond, truth = next(stream)
        model.train()
        loss = loss_fn(model, cond, truth, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                pe.lerp_(pm, 1.0 - cfg.ema)
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        rate = (step - first) / max(time.monotonic() - t_train, 1e-9)
        last = history[-1]["val_mpjpe_mm"] if history else float("nan")
        _progress(
            f"step {step}/{cfg.steps} loss {running:.4f} val MPJPE {last:.2f} mm "
            f"({rate:.1f} steps/s, {(cfg.steps - step) / max(rate, 1e-9) / 60:.1f} min left)"
        )
        if step % cfg.validate_every == 0 or step == cfg.steps:
            figures = {"step": step, "loss": running, **evaluate_model(ema, val)}
            history.append(figures)
            _say(
                f"\nstep {step}: val MPJPE {figures['val_mpjpe_mm']:.2f} mm "
                f"(initial estimate {figures['val_init_mpjpe_mm']:.2f} mm)"
            )
            torch.save(
                {
                    "config": cfg.to_dict(),
                    "model": model.state_dict(),
                    "ema": ema.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "step": step,
                    "history": history,
                },
                ckpt,
            )
    torch.save(
        {"config": cfg.to_dict(), "model_config": cfg.model.to_dict(), "weights": ema.state_dict()},
        out / "denoiser.pt",
    )
    summary = {
        "samples": n_samples,
        "held_out_styles": cfg.holdout_styles,
        "data_seconds": round(t_data, 1),
        "train_seconds": round(time.monotonic() - t_train, 1),
        "history": history,
    }
    (out / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def load_trained(path: str | Path) -> Denoiser:
    """The EMA weights of ``denoiser.pt`` (or of a ``checkpoint.pt``)."""
    state = torch.load(path, weights_only=False)
    if "weights" in state:
        model = Denoiser(ModelConfig(**state["model_config"]))
        model.load_state_dict(state["weights"])
    else:
        model = Denoiser(ModelConfig(**state["config"]["model"]))
        model.load_state_dict(state["ema"])
    return model.eval()
