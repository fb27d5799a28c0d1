"""Denoiser training and export (torch): ONNX parity, preconditioning, a tiny training run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from syncpose.inference.denoiser.runtime import DenoiserRuntime
from syncpose.motion import Clip, Motion, load_motion, write_motion

torch = pytest.importorskip("torch", reason="torch (the training extra) is not installed")


def test_onnx_graph_matches_torch_for_any_batch_views_and_hypotheses(tmp_path: Path) -> None:
    from syncpose.inference.research.export import example_inputs, export_onnx, torch_outputs
    from syncpose.inference.research.model import Denoiser, ModelConfig

    torch.manual_seed(0)
    model = Denoiser(ModelConfig(width=32, obs_width=16, layers=1, heads=2))
    for p in model.out.parameters():  # the output layer starts at zero: make it matter
        torch.nn.init.normal_(p, std=0.3)
    path = export_onnx(model, tmp_path / "d.onnx", steps=3)
    rt = DenoiserRuntime(path, prefer="cpu")
    assert rt.info["steps"] == 3
    for batch, views, hyps in ((1, 4, 5), (6, 8, 2), (3, 2, 1)):
        inputs = {k: v.numpy() for k, v in example_inputs(batch, views, hyps).items()}
        got = rt.onnx.run(inputs)
        want = torch_outputs(model, inputs, steps=3)
        for name in ("pose", "spread", "selected", "hypotheses"):
            np.testing.assert_allclose(got[name], want[name], atol=2e-5, err_msg=name)


def test_untrained_network_returns_the_gaussian_blend_of_noisy_pose_and_initial_estimate() -> None:
    from syncpose.inference.research.export import example_inputs
    from syncpose.inference.research.model import SIGMA_DATA, Denoiser

    model = Denoiser().eval()
    cond = example_inputs(2, 3, 1)
    noise = cond.pop("noise")
    x = cond["init"][:, None] + 0.02 * noise
    sigma = torch.full(x.shape[:3], 0.02)
    with torch.no_grad():
        out = model(x, sigma, cond)
    blend = SIGMA_DATA**2 / (0.02**2 + SIGMA_DATA**2)
    torch.testing.assert_close(out, cond["init"][:, None] + blend * (x - cond["init"][:, None]))


def test_training_runs_validates_checkpoints_and_resumes(tmp_path: Path) -> None:
    from syncpose.inference.research.train import TrainConfig, load_trained, train

    bundled = load_motion("bundled")
    c = bundled.clips[0]
    motion = Motion(
        joint_names=bundled.joint_names,
        parents=bundled.parents,
        clips=(
            Clip("set_walk_seen_001", c.positions[:300], c.fps),
            Clip("set_walk_unseen_001", c.positions[300:], c.fps),
        ),
    )
    path = tmp_path / "m.npz"
    write_motion(path, motion)
    cfg = TrainConfig(
        motions=[str(path)],
        holdout_styles=["unseen"],
        passes=1,
        steps=4,
        batch=8,
        validate_every=2,
        val_ticks=40,
        threads=1,
    )
    cfg.model.width, cfg.model.obs_width, cfg.model.layers = 32, 16, 1
    first = train(cfg, tmp_path / "run", tmp_path)
    assert [h["step"] for h in first["history"]] == [2, 4]
    assert all(np.isfinite(h["val_mpjpe_mm"]) for h in first["history"])
    cfg.steps = 6
    second = train(cfg, tmp_path / "run", tmp_path)
    assert [h["step"] for h in second["history"]] == [2, 4, 6]
    model = load_trained(tmp_path / "run" / "denoiser.pt")
    assert model.config.width == 32


def test_proportions_vary_but_each_body_stays_rigid_and_symmetric() -> None:
    from syncpose.inference.research.train import vary_proportions

    motion = load_motion("bundled")
    pos = motion.clips[0].positions[:100]
    names, parents = motion.joint_names, motion.parents
    out = vary_proportions(pos, names, parents, np.random.default_rng(0))
    np.testing.assert_array_equal(out[:, 0], pos[:, 0])  # the root trajectory is kept

    def lengths(p: np.ndarray) -> np.ndarray:
        return np.stack(
            [np.linalg.norm(p[:, j] - p[:, q], axis=-1) for j, q in enumerate(parents) if q >= 0],
            axis=1,
        )

    before, after = lengths(pos), lengths(out)
    assert (after[:, before.max(axis=0) == 0] == 0).all()  # CMU has a zero-length bone
    ratio = np.where(before > 0, after / np.where(before > 0, before, 1.0), 1.0)
    assert (ratio.std(axis=0) < 1e-6).all()  # one scale per bone for the whole clip
    assert ratio.std() > 0.05  # ... and they differ between bones
    bones = [names[j] for j, q in enumerate(parents) if q >= 0]
    for b, name in enumerate(bones):
        if name.endswith("_L"):
            mirror = bones.index(name[:-2] + "_R")
            assert ratio[0, b] == pytest.approx(ratio[0, mirror])


def test_ablation_table_has_every_variant(tmp_path: Path) -> None:
    import json

    from syncpose.app.cli import main
    from syncpose.inference.denoiser.runtime import DEFAULT_MODEL
    from syncpose.inference.research.ablation import VARIANTS

    weights = DEFAULT_MODEL.with_suffix(".pt")
    out = tmp_path / "ablation.json"
    rc = main(
        [
            "bench",
            "ablation",
            "--model",
            str(weights),
            "--pair",
            str(weights),
            str(weights),
            "--motion",
            "bundled",
            "--max-frames",
            "120",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    rows = json.loads(out.read_text())["rows"]
    labels = [r["variant"] for r in rows]
    assert labels[:3] == ["dlt", "time_aware", "oracle_sync"]
    assert labels[3:10] == [v[0] for v in VARIANTS]
    assert rows[-1]["mpjpe_mm"] == rows[-2]["mpjpe_mm"]  # the same weights twice: same figure
    assert all(np.isfinite(r["mpjpe_mm"]) for r in rows)
