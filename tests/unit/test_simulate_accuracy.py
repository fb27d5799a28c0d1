"""The weak-sync simulator, the baselines and the accuracy benchmark."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from syncpose.inference.baselines import time_aware_points
from syncpose.inference.research.accuracy import METHODS, format_table, run_accuracy
from syncpose.motion import Clip, bundled_motion_path, load_motion
from syncpose.simulate import (
    DetectorNoise,
    SyncModel,
    default_rig,
    place_subject,
    random_rig,
    simulate_clip,
)
from syncpose.skeleton import JOINTS, MOCAP


def clip() -> Clip:
    return load_motion("bundled").clips[0]


def test_simulated_2d_is_the_projection_of_the_interpolated_pose() -> None:
    rig = default_rig()
    rng = np.random.default_rng(3)
    seq = simulate_clip(
        clip(), rig, rng, sync=SyncModel(jitter_ms=0.0), noise=DetectorNoise.none(), max_ticks=60
    )
    assert seq.offsets[0] == 0.0 and (seq.offsets[1:] > 0).all() and (seq.offsets < 1 / 30).all()
    # Re-derive the placed clip from the ground truth at t_ref, then check each view sees the
    # pose at t_ref + δ_v.
    placed_rng = np.random.default_rng(3)
    placed = Clip("c", place_subject(clip(), placed_rng), clip().fps)
    truth, _ = MOCAP.apply(placed.sample(seq.t_ref))
    np.testing.assert_allclose(seq.truth, truth, atol=1e-12)
    for v, cam in enumerate(rig.cameras):
        pose, _ = MOCAP.apply(placed.sample(seq.t_ref + seq.offsets[v]))
        expected = cam.project(pose)
        ok = np.isfinite(seq.points[v])
        np.testing.assert_allclose(seq.points[v][ok], expected[ok], atol=1e-9)
        np.testing.assert_allclose(seq.t_capture[v], seq.t_ref + seq.offsets[v], atol=1e-12)


@pytest.mark.parametrize("rig_kind", ["default", "random"])
def test_every_method_is_exact_without_offsets_or_noise(rig_kind: str) -> None:
    rng = np.random.default_rng(1)
    rig = default_rig() if rig_kind == "default" else random_rig(np.random.default_rng(4), 5)
    sync = SyncModel(offsets="none", jitter_ms=0.0)
    seq = simulate_clip(clip(), rig, rng, sync=sync, noise=DetectorNoise.none(), max_ticks=80)
    for name, method in METHODS.items():
        pred = method(seq)
        ok = np.isfinite(pred).all(axis=-1)
        assert ok.mean() > 0.95, name
        np.testing.assert_allclose(pred[ok], seq.truth[ok], atol=1e-6, err_msg=name)


def test_time_aware_moves_each_view_to_t_ref() -> None:
    """With noise-free detections, moving a view to t_ref along its last two frames lands
    much closer to the true 2D at t_ref than the raw (late) detection."""
    rig = default_rig()
    seq = simulate_clip(
        clip(), rig, np.random.default_rng(2), noise=DetectorNoise.none(), max_ticks=200
    )
    moved = time_aware_points(seq.points, seq.t_capture, seq.t_ref)
    truth_2d = np.stack([cam.project(seq.truth) for cam in rig.cameras])
    raw = np.nanmean(np.linalg.norm(seq.points[1:] - truth_2d[1:], axis=-1))
    aligned = np.nanmean(np.linalg.norm(moved[1:] - truth_2d[1:], axis=-1))
    assert aligned < 0.2 * raw


def test_detector_noise_model_is_present_and_seeded() -> None:
    rig = default_rig()
    a = simulate_clip(clip(), rig, np.random.default_rng(9), max_ticks=150)
    b = simulate_clip(clip(), rig, np.random.default_rng(9), max_ticks=150)
    np.testing.assert_array_equal(a.points, b.points)
    missed = (a.confidence == 0).mean()
    assert 0.005 < missed < 0.2  # 2 % missed plus joints outside the image
    assert a.confidence.max() <= 0.95 and (a.confidence[a.confidence > 0] < 0.9).any()


def test_benchmark_is_deterministic_and_reports_every_metric() -> None:
    kw = {"rig": "default", "max_frames": 300, "seed": 5}
    first = run_accuracy([bundled_motion_path()], **kw)  # type: ignore[arg-type]
    second = run_accuracy([bundled_motion_path()], **kw)  # type: ignore[arg-type]

    def without_timings(report: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in report.items() if k != "simulation_seconds"}
        out["methods"] = {
            m: {k: v for k, v in r.items() if k != "seconds"} for m, r in report["methods"].items()
        }
        return out

    assert without_timings(first) == without_timings(second)
    r = first["methods"]
    assert set(r) == {"dlt", "time_aware", "oracle_sync"}
    for m in r.values():
        assert {
            "mpjpe_mm",
            "pa_mpjpe_mm",
            "p95_mm",
            "accel_error_mm",
            "frames",
            "groups_mpjpe_mm",
        } <= set(m)
        assert set(m["groups_mpjpe_mm"]) == {"extremities", "limbs", "torso"}
    assert (
        r["dlt"]["weak_sync_error_removed"] == 0.0
        and r["oracle_sync"]["weak_sync_error_removed"] == 1.0
    )
    assert r["oracle_sync"]["mpjpe_mm"] < r["dlt"]["mpjpe_mm"]
    assert "worst clips" in format_table(first)
    assert len(JOINTS) == 17


def test_missing_views_leave_exactly_that_many_views_out_of_every_bundle() -> None:
    rig = default_rig(6)
    assert len(rig.cameras) == 6
    sync = SyncModel(missing_views=2, jitter_ms=0.0)
    seq = simulate_clip(clip(), rig, np.random.default_rng(8), sync=sync, max_ticks=100)
    gone = np.isnan(seq.t_capture)
    assert (gone.sum(axis=0) == 2).all()
    assert np.isnan(seq.points[gone]).all() and np.isnan(seq.oracle[gone]).all()
    assert len(set(map(tuple, gone.T.astype(int)))) > 5  # a different set per tick
    with pytest.raises(ValueError, match="cannot leave 6 of 6"):
        simulate_clip(clip(), rig, np.random.default_rng(8), sync=SyncModel(missing_views=6))
