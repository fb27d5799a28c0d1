"""The bundle-by-bundle engine gives what the batch path gives, and never raises on bad bundles."""

from __future__ import annotations

import numpy as np
import pytest

from syncpose.inference.baselines import time_aware
from syncpose.inference.denoiser.features import sequence_inputs
from syncpose.inference.denoiser.runtime import DenoiserRuntime
from syncpose.inference.engine import PoseEngine, ViewKeypoints
from syncpose.inference.filters import OneEuroConfig
from syncpose.motion import load_motion
from syncpose.simulate import Sequence2D, SyncModel, default_rig, simulate_clip


def stream(seq: Sequence2D, k: int) -> dict[str, ViewKeypoints | None]:
    out: dict[str, ViewKeypoints | None] = {}
    for v, name in enumerate(seq.rig.names):
        t = seq.t_capture[v, k]
        out[name] = (
            None if np.isnan(t) else ViewKeypoints(seq.points[v, k], seq.confidence[v, k], float(t))
        )
    return out


@pytest.fixture(scope="module")
def seq() -> Sequence2D:
    clip = load_motion("bundled").clips[0]
    sync = SyncModel(drop_rate=0.05)
    return simulate_clip(clip, default_rig(), np.random.default_rng(0), sync=sync, max_ticks=60)


def test_without_a_model_it_is_exactly_time_aware_triangulation(seq: Sequence2D) -> None:
    engine = PoseEngine(seq.rig)
    poses = np.stack([engine.step(seq.t_ref[k], stream(seq, k)).pose for k in range(60)])
    np.testing.assert_allclose(poses, time_aware(seq), atol=1e-9, equal_nan=True)
    assert engine.method == "time_aware"


def test_denoiser_sees_exactly_the_batch_inputs(seq: Sequence2D) -> None:
    engine = PoseEngine(seq.rig, DenoiserRuntime())
    batch = sequence_inputs(seq.rig, seq.points, seq.confidence, seq.t_capture, seq.t_ref)
    for k in range(60):
        result = engine.step(seq.t_ref[k], stream(seq, k))
        assert engine.last_inputs is not None
        for name, x in engine.last_inputs.feed().items():
            np.testing.assert_allclose(x[0], batch.feed()[name][k], atol=1e-5, err_msg=name)
        assert set(result.timings_ms) == {"fuse", "denoise"}
    err = np.linalg.norm(result.pose - seq.truth[59], axis=-1)
    assert np.nanmean(err) < 0.03


def test_bad_bundles_give_nan_and_a_reason(seq: Sequence2D) -> None:
    engine = PoseEngine(seq.rig, DenoiserRuntime(), smoothing=OneEuroConfig())
    engine.step(seq.t_ref[0], stream(seq, 0))
    lonely: dict[str, ViewKeypoints | None] = dict.fromkeys(seq.rig.names)
    lonely["cam0"] = stream(seq, 1)["cam0"]
    r = engine.step(seq.t_ref[1], lonely)
    assert np.isnan(r.pose).all() and r.reason == "1 usable view(s), need 2"
    r = engine.step(seq.t_ref[2], {})
    assert np.isnan(r.pose).all() and "0 usable" in str(r.reason)
    r = engine.step(seq.t_ref[3], stream(seq, 3))
    assert r.reason is None and np.isfinite(r.pose).all(-1).mean() > 0.8
    assert "filter" in r.timings_ms
    with pytest.raises(ValueError, match="not in the rig"):
        engine.step(seq.t_ref[4], {"cam9": None})
