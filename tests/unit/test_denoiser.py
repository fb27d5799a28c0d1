"""The denoiser: rig-independent inputs, the shipped ONNX model, export parity, training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from syncpose.inference.denoiser.features import sequence_inputs, to_body, to_world
from syncpose.inference.denoiser.runtime import DEFAULT_MODEL, DenoiserRuntime, denoise_sequence
from syncpose.inference.research.accuracy import run_accuracy
from syncpose.motion import Clip, load_motion
from syncpose.simulate import DetectorNoise, SyncModel, default_rig, random_rig, simulate_clip
from syncpose.skeleton import JOINTS


def clip() -> Clip:
    return load_motion("bundled").clips[0]


def test_inputs_are_rays_in_a_yaw_free_body_frame() -> None:
    """Noise-free and synchronised: every ray passes through the true joint (in the body
    frame), the hips point along +Y, and the frame maps back to the world exactly."""
    rig = random_rig(np.random.default_rng(3), 5)
    sync = SyncModel(offsets="none", jitter_ms=0.0)
    seq = simulate_clip(
        clip(), rig, np.random.default_rng(1), sync=sync, noise=DetectorNoise.none(), max_ticks=60
    )
    inp = sequence_inputs(rig, seq.points, seq.confidence, seq.t_capture, seq.t_ref)
    body = to_body(seq.truth, inp.origin, inp.yaw)
    np.testing.assert_allclose(to_world(body, inp.origin, inp.yaw), seq.truth, atol=1e-12)
    V = len(rig.cameras)
    w = body[:, None] - inp.centres[:, :V, None]
    along = (w * inp.rays[:, :V]).sum(-1, keepdims=True)
    perp = np.linalg.norm(w - along * inp.rays[:, :V], axis=-1)
    seen = inp.confidence[:, :V] > 0
    assert seen.mean() > 0.9
    assert np.abs(perp[seen]).max() < 1e-4
    hips = inp.init[:, JOINTS.index("l_hip")] - inp.init[:, JOINTS.index("r_hip")]
    assert np.abs(hips[:, 0]).max() < 1e-4 and (hips[:, 1] > 0).all()
    np.testing.assert_allclose(inp.init[:, JOINTS.index("pelvis")], 0.0, atol=1e-6)
    assert inp.rays.shape == (60, 2 * V, len(JOINTS), 3)


def test_inputs_of_a_tick_never_depend_on_the_future() -> None:
    rig = default_rig()
    seq = simulate_clip(clip(), rig, np.random.default_rng(2), max_ticks=40)
    a = sequence_inputs(rig, seq.points, seq.confidence, seq.t_capture, seq.t_ref)
    later = seq.points.copy()
    later[:, 21:] += 30.0  # change everything after tick 20
    b = sequence_inputs(rig, later, seq.confidence, seq.t_capture, seq.t_ref)
    for name, x in a.feed().items():
        np.testing.assert_array_equal(x[:21], b.feed()[name][:21], err_msg=name)


def test_delta_is_each_frames_capture_time_minus_t_ref() -> None:
    rig = default_rig()
    seq = simulate_clip(clip(), rig, np.random.default_rng(4), max_ticks=30)
    inp = sequence_inputs(rig, seq.points, seq.confidence, seq.t_capture, seq.t_ref)
    np.testing.assert_allclose(inp.delta[:, :4], (seq.t_capture - seq.t_ref).T, atol=1e-6)
    np.testing.assert_allclose(
        inp.delta[1:, 4:], (seq.t_capture[:, :-1] - seq.t_ref[1:]).T, atol=1e-6
    )


@pytest.fixture(scope="module")
def runtime() -> DenoiserRuntime:
    return DenoiserRuntime(hypotheses=5)


def test_shipped_model_says_what_it_runs(runtime: DenoiserRuntime) -> None:
    assert DEFAULT_MODEL.is_file()
    assert runtime.provider in runtime.onnx.session.get_providers()
    assert runtime.info["joints"] == list(JOINTS)
    assert runtime.info["steps"] >= 1 and runtime.info["informed"] is True
    assert "feminine" in runtime.info["training"]["held_out_styles"]
    assert "DDIM" in runtime.describe() and runtime.provider in runtime.describe()


def test_shipped_model_beats_both_baselines_on_unseen_motion(runtime: DenoiserRuntime) -> None:
    """The bundled CMU clip was never trained on (training is Bandai-Namco only)."""
    report = run_accuracy(
        [Path("bundled")], methods=("dlt", "time_aware", "denoiser"), denoiser=runtime, seed=3
    )
    m = {k: v["mpjpe_mm"] for k, v in report["methods"].items()}
    assert m["denoiser"] < m["time_aware"] < m["dlt"], m
    assert report["methods"]["denoiser"]["coverage"] >= report["methods"]["dlt"]["coverage"]


def test_missing_views_and_empty_bundles_give_nan_not_errors(runtime: DenoiserRuntime) -> None:
    rig = default_rig(3)
    sync = SyncModel(missing_views=1)
    seq = simulate_clip(clip(), rig, np.random.default_rng(5), sync=sync, max_ticks=50)
    seq.points[:, 10] = np.nan  # one bundle with nothing in it
    seq.points[1:, 11] = np.nan  # one with a single view
    seq.t_capture[:, 10] = np.nan
    pose = denoise_sequence(seq, runtime)
    assert pose.shape == (50, len(JOINTS), 3)
    assert np.isnan(pose[10]).all()
    assert np.isfinite(pose[20:]).all(axis=-1).mean() > 0.9
    refined = runtime.refine(
        sequence_inputs(rig, seq.points, seq.confidence, seq.t_capture, seq.t_ref)
    )
    ok = np.isfinite(refined.pose).all(axis=-1)
    assert (refined.uncertainty[ok] >= 0).all() and np.isnan(refined.uncertainty[~ok]).all()


def test_uncertainty_grows_where_the_evidence_is_weaker(runtime: DenoiserRuntime) -> None:
    """Spread of the hypotheses: larger with 2 views than with 8 (GUIDE §5, Dual-Diffusion)."""
    spreads = []
    for n in (2, 8):
        rig = default_rig(n)
        seq = simulate_clip(clip(), rig, np.random.default_rng(6), max_ticks=120)
        inp = sequence_inputs(rig, seq.points, seq.confidence, seq.t_capture, seq.t_ref)
        spreads.append(np.nanmedian(runtime.refine(inp).uncertainty))
    assert spreads[0] > spreads[1] > 0


def test_running_the_denoiser_never_imports_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys;"
        "from syncpose.inference.denoiser.runtime import DenoiserRuntime, denoise_sequence;"
        "from syncpose.inference.research.accuracy import run_accuracy; DenoiserRuntime();"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_bench_denoiser_reports_latency_and_throughput(tmp_path: Path) -> None:
    import json

    from syncpose.app.cli import main

    out = tmp_path / "bench.json"
    rc = main(
        ["bench", "denoiser", "--repeats", "20", "--batch", "8", "--no-torch", "--json", str(out)]
    )
    assert rc == 0
    report = json.loads(out.read_text())
    ort = report["onnxruntime"]
    assert ort["provider"].startswith(DenoiserRuntime().provider)
    assert 0 < ort["batch1_graph"]["p50_ms"] <= ort["batch1_graph"]["p99_ms"]
    assert ort["batch1_engine_step"]["p50_ms"] > ort["batch1_graph"]["p50_ms"]
    assert ort["batch8_bundles_per_s"] > 0
