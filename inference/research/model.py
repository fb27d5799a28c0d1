"""The weak-sync diffusion denoiser (torch; imported only to train and export).

Diffusion in the EDM (Karras et al. 2022) parametrisation on the 3D pose ``x`` (J, 3) in the body
frame: ``x_σ = x_0 + σ ε``, and the network ``D(x_σ, σ, evidence)`` estimates ``x_0``. Sampling
is deterministic DDIM (η = 0; in this parametrisation ``x_{σ'} = D + σ'/σ (x_σ − D)``) with 1-5
steps, starting from the *informed* distribution ``init + σ_start ε`` around the robust
triangulation (DiffPose's initial distribution, SyncDiffPose's noise embedding) rather than from
pure noise; σ is per joint, larger where triangulation failed. N hypotheses run as a batch; their
mean is the pose, their spread the per-joint uncertainty, and the hypothesis that best agrees
with the 2D evidence per joint is offered too (PoSynDA's selection by reprojection).

The network, per denoising call:

1. every observation (a view's current or previous frame) and joint gives a token from the
   hypothesis' geometric residual to that ray (perpendicular offset in metres, distance along
   it), the ray and camera centre, the confidence, the time offset δ of that frame and the
   expected motion over δ (the joint's recent velocity from the history times δ);
2. per joint, attention pools the tokens over observations (masked where a view or joint is
   missing, so any number of views works);
3. a small transformer over the joints (the pose prior) predicts the correction.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from syncpose.skeleton import JOINTS

SIGMA_DATA = 0.01  # metres: the typical per-axis error of the initial estimate ...
SIGMA_DATA_MISSING = 0.3  # ... and of the fill-in for a joint it could not solve
SIGMA_START = 0.03  # informed start for joints the triangulation solved
SIGMA_START_MISSING = 0.3  # ... and for joints it could not solve
SIGMA_MAX = 2.0  # pure-noise start (ablation)
STEP_RATIO = 0.25  # DDIM schedule: σ_{i+1} = STEP_RATIO σ_i, the last step goes to 0
_NO_WEIGHT = -1e4


@dataclass
class ModelConfig:
    width: int = 128
    obs_width: int = 64
    layers: int = 3
    heads: int = 4
    use_delta: bool = True  # ablation: without δ_v conditioning

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Block(nn.Module):
    """Pre-norm transformer block from plain operations (exports to any ONNX runtime)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = 1.0 / math.sqrt(width // heads)
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, h: Tensor) -> Tensor:
        B, J, W = h.shape
        q, k, v = self.qkv(self.norm1(h)).reshape(B, J, 3, self.heads, W // self.heads).unbind(2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, J, d)
        att = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
        h = h + self.proj((att @ v).transpose(1, 2).reshape(B, J, W))
        out: Tensor = h + self.ff(self.norm2(h))
        return out


def mean_velocity(cond: dict[str, Tensor]) -> Tensor:
    """(B, J, 3) m/s: the mean over the history of (init − past) / dt, where both are valid."""
    init, hist = cond["init"], cond["history"]  # (B, J, 3), (B, P, J, 3)
    dt = cond["history_dt"].clamp(min=1e-3)[..., None, None]  # (B, P, 1, 1)
    valid = (cond["history_valid"] * cond["init_valid"][:, None])[..., None]  # (B, P, J, 1)
    vel = (init[:, None] - hist) / dt * valid
    out: Tensor = vel.sum(1) / valid.sum(1).clamp(min=1.0)
    return out


def ray_residuals(x: Tensor, cond: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """For hypotheses ``x`` (B, N, J, 3) and every observation's rays: the distance along each
    ray (B, N, O, J, 1) and the perpendicular offset from the ray to the joint (B, N, O, J, 3)."""
    rays = cond["rays"][:, None]  # (B, 1, O, J, 3)
    w = x[:, :, None] - cond["centres"][:, None, :, None, :]  # (B, N, O, J, 3)
    along = (w * rays).sum(-1, keepdim=True)
    return along, w - along * rays


def reprojection_px(x: Tensor, cond: dict[str, Tensor]) -> Tensor:
    """(B, N, J): confidence-weighted mean angular error, in pixels at each camera's focal
    length, of hypotheses ``x`` (B, N, J, 3) against every observation."""
    along, perp = ray_residuals(x, cond)
    angle = perp.norm(dim=-1) / along[..., 0].clamp(min=0.1)
    px = angle * (1000.0 / cond["focal"].clamp(min=1e-3))[:, None, :, None]
    conf = cond["confidence"][:, None]
    out: Tensor = (px * conf).sum(2) / conf.sum(2).clamp(min=1e-6)
    return out


class Denoiser(nn.Module):
    """``D(x, σ, evidence)``: see the module docstring."""

    N_OBS_FEATURES = 17

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or ModelConfig()
        J = len(JOINTS)
        self.obs = nn.Sequential(
            nn.Linear(self.N_OBS_FEATURES, cfg.obs_width),
            nn.GELU(),
            nn.Linear(cfg.obs_width, cfg.obs_width),
            nn.GELU(),
        )
        self.obs_score = nn.Linear(cfg.obs_width, 1)
        self.joint_in = nn.Linear(cfg.obs_width + 14, cfg.width)
        self.joint_embedding = nn.Parameter(torch.zeros(J, cfg.width))
        self.sigma_in = nn.Linear(16, cfg.width)
        self.freqs: Tensor
        self.register_buffer("freqs", torch.arange(8, dtype=torch.float32) * 0.7)
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.heads) for _ in range(cfg.layers))
        self.out_norm = nn.LayerNorm(cfg.width)
        self.out = nn.Linear(cfg.width, 3)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        nn.init.normal_(self.joint_embedding, std=0.02)

    def forward(self, x: Tensor, sigma: Tensor, cond: dict[str, Tensor]) -> Tensor:
        """``x`` (B, N, J, 3) noisy poses, ``sigma`` (B, N, J) their noise levels -> x_0."""
        B, N, J, _ = x.shape
        init = cond["init"][:, None]  # (B, 1, J, 3)
        c_skip, c_out, c_in = preconditioning(sigma, cond["init_valid"])
        u = x - init

        delta = cond["delta"] if self.config.use_delta else torch.zeros_like(cond["delta"])
        vel = mean_velocity(cond)  # (B, J, 3)
        rays = cond["rays"][:, None]  # (B, 1, O, J, 3)
        centres = cond["centres"][:, None, :, None, :]  # (B, 1, O, 1, 3)
        along, perp = ray_residuals(x, cond)
        conf = cond["confidence"][:, None, :, :, None]  # (B, 1, O, J, 1)
        d = delta[:, None, :, None, None]  # (B, 1, O, 1, 1)
        motion = vel[:, None, None] * d  # (B, 1, O, J, 3) metres moved over δ
        shape = (B, N, rays.shape[2], J)
        feats = torch.cat(
            [
                (perp * 100.0).clamp(-5.0, 5.0),
                perp.norm(dim=-1, keepdim=True) * 10.0,
                along / 4.0,
                rays.expand(*shape, 3),
                (centres / 4.0).expand(*shape, 3),
                conf.expand(*shape, 1),
                (d * 30.0).expand(*shape, 1),
                (cond["focal"][:, None, :, None, None]).expand(*shape, 1),
                (motion * 10.0).expand(*shape, 3),
            ],
            dim=-1,
        )
        h = self.obs(feats)  # (B, N, O, J, C)
        score = self.obs_score(h) + torch.where(conf > 0, 0.0, _NO_WEIGHT)
        weight = torch.softmax(score, dim=2) * (conf > 0).to(h.dtype)
        pooled = (weight * h).sum(2)  # (B, N, J, C)
        n_obs = (conf > 0).to(h.dtype).sum(2).expand(B, N, J, 1) / 4.0

        log_sigma = torch.log(sigma)[..., None] / 4.0  # (B, N, J, 1)
        sig = torch.cat([torch.sin(log_sigma * self.freqs), torch.cos(log_sigma * self.freqs)], -1)
        token = torch.cat(
            [
                pooled,
                u * c_in,
                init.expand(B, N, J, 3),
                cond["init_valid"][:, None, :, None].expand(B, N, J, 1),
                (vel[:, None] * 0.3).expand(B, N, J, 3),
                n_obs,
                log_sigma,
                cond["history_valid"].mean(1)[:, None, :, None].expand(B, N, J, 1),
                (cond["history_dt"].mean(1) * 30.0)[:, None, None, None].expand(B, N, J, 1),
            ],
            dim=-1,
        )
        h = self.joint_in(token) + self.joint_embedding + self.sigma_in(sig)
        h = h.reshape(B * N, J, -1)
        for block in self.blocks:
            h = block(h)
        F = self.out(self.out_norm(h)).reshape(B, N, J, 3)
        out: Tensor = init + c_skip * u + c_out * F
        return out


def preconditioning(sigma: Tensor, init_valid: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """EDM's c_skip, c_out, c_in (B, N, J, 1) around the initial estimate: with the noisy pose
    ``x`` (noise σ) and ``init`` (error σ_d per axis, larger where triangulation failed), the
    skip ``init + c_skip (x - init)`` is the Gaussian posterior mean of the truth and c_out its
    standard deviation, so an untrained network already returns that optimal blend and the
    network learns only what the evidence adds."""
    s = sigma[..., None]
    sd = (SIGMA_DATA * init_valid + SIGMA_DATA_MISSING * (1.0 - init_valid))[:, None, :, None]
    norm = torch.sqrt(s**2 + sd**2)
    return sd**2 / norm**2, s * sd / norm, 1.0 / norm


def start_sigma(cond: dict[str, Tensor], informed: bool = True) -> Tensor:
    """(B, J) σ at which sampling starts."""
    valid = cond["init_valid"]
    if not informed:
        return torch.full_like(valid, SIGMA_MAX)
    return SIGMA_START * valid + SIGMA_START_MISSING * (1.0 - valid)


class Sampler(nn.Module):
    """The whole DDIM loop as one module (what is exported to ONNX).

    Inputs: the evidence (see :mod:`syncpose.inference.denoiser.features`) and ``noise``
    (B, N, J, 3) standard normal draws, one per hypothesis (inputs, so runs are reproducible).
    Outputs:
    ``pose`` (B, J, 3) the hypotheses' mean, ``spread`` (B, J) their RMS distance from it
    (metres), ``selected`` (B, J, 3) per joint the hypothesis with the lowest reprojection
    error, and ``hypotheses`` (B, N, J, 3).
    """

    def __init__(self, model: Denoiser, steps: int = 2, informed: bool = True) -> None:
        super().__init__()
        if not 1 <= steps <= 10:
            raise ValueError(f"steps must be 1-10, not {steps}")
        self.model = model
        self.steps = steps
        self.informed = informed

    def forward(
        self,
        init: Tensor,
        init_valid: Tensor,
        centres: Tensor,
        rays: Tensor,
        confidence: Tensor,
        delta: Tensor,
        focal: Tensor,
        history: Tensor,
        history_dt: Tensor,
        history_valid: Tensor,
        noise: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        cond = {
            "init": init,
            "init_valid": init_valid,
            "centres": centres,
            "rays": rays,
            "confidence": confidence,
            "delta": delta,
            "focal": focal,
            "history": history,
            "history_dt": history_dt,
            "history_valid": history_valid,
        }
        N = noise.shape[1]
        sigma = start_sigma(cond, self.informed)[:, None].expand(-1, N, -1)  # (B, N, J)
        base = init[:, None] if self.informed else torch.zeros_like(init)[:, None]
        x = base + sigma[..., None] * noise
        for i in range(self.steps):
            x0 = self.model(x, sigma, cond)
            if i == self.steps - 1:
                x = x0
            else:
                nxt = sigma * STEP_RATIO
                x = x0 + (nxt / sigma)[..., None] * (x - x0)
                sigma = nxt
        pose = x.mean(1)
        spread = torch.sqrt(((x - pose[:, None]) ** 2).sum(-1).mean(1))
        err = reprojection_px(x, cond)  # (B, N, J)
        best = torch.nn.functional.one_hot(err.argmin(1), N).to(x.dtype)  # (B, J, N)
        selected = (best.permute(0, 2, 1)[..., None] * x).sum(1)
        return pose, spread, selected, x
