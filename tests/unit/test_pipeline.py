"""The inference pipeline on synthetic bundles: poses against the truth, missing views, lost
pixels and a failing detector give no person and a reason, never an exception."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from syncpose.inference.detectors import People, ViewImage
from syncpose.inference.pipeline import InferencePipeline
from syncpose.skeleton import JOINTS
from tests.helpers.synthetic_bundles import synthetic_rig_config, synthetic_ticks


@pytest.fixture(scope="module")
def ticks() -> list:  # type: ignore[type-arg]
    missing = {k: {"cam1", "cam2", "cam3"} for k in range(20, 23)}
    missing.update({k: {"cam2"} for k in range(30, 36)})
    return synthetic_ticks(synthetic_rig_config(), 45, missing)


@pytest.mark.parametrize("method", ["denoiser", "time_aware", "dlt"])
def test_pipeline_poses_missing_views_and_reasons(ticks: list, method: str) -> None:  # type: ignore[type-arg]
    pipeline = InferencePipeline.from_config(synthetic_rig_config(), method)
    errors = []
    try:
        for tick in ticks:
            out = pipeline.process(tick.bundle, tick.frames)
            msg = out.message
            assert msg.joint_names == list(JOINTS)
            assert msg.method == method and msg.detector == "synthetic"
            assert set(msg.latency_ms) >= {"decode", "detect", "fuse", "total"}
            people = len(msg.person_ids)
            assert out.positions.shape == (people, len(JOINTS), 3)
            assert out.arrays["keypoints_2d"].shape == (people, 4, len(JOINTS), 3)
            k = msg.bundle_seq
            if k == 0:  # a person gets an id once seen two ticks running
                assert people == 0 and msg.reason is not None
                continue
            if 20 <= k < 23:
                assert people == 0
                assert msg.reason is not None and "1 view(s) with a person" in msg.reason
                continue
            assert msg.reason is None
            assert msg.person_ids == [1]  # the same person throughout, across the gap
            if 30 <= k < 36:
                assert "cam2" not in msg.views_used and len(msg.views_used) == 3
                assert np.isnan(out.arrays["keypoints_2d"][0, 2]).all()
            if k >= 3:  # past the first ticks (no previous frame to move from)
                pose = out.person_positions()
                ok = np.isfinite(pose).all(1)
                assert ok.mean() > 0.8
                errors.append(np.linalg.norm(pose[ok] - tick.truth[ok], axis=1))
    finally:
        pipeline.close()
    # The demo detector noise gives 7-10 mm median; a wrong offset sign or a broken mapping gives
    # far more (the subject moves about 1 m/s: a frame is 33 mm).
    assert np.median(np.concatenate(errors)) * 1000 < 15.0


def test_pixels_not_received_and_detector_failure(ticks: list) -> None:  # type: ignore[type-arg]
    pipeline = InferencePipeline.from_config(synthetic_rig_config(), "time_aware")
    try:
        tick = ticks[5]
        frames = {c: f for c, f in tick.frames.items() if c in ("cam0",)}
        out = pipeline.process(tick.bundle, frames)
        assert out.positions.shape == (0, len(JOINTS), 3)
        assert out.message.reason is not None
        assert "cam1: frame 5 not received" in out.message.reason

        class Broken:
            name = "broken"
            per_camera = False

            def detect(self, views: Sequence[ViewImage]) -> list[People]:
                raise RuntimeError("model exploded")

            def close(self) -> None:
                return None

        pipeline.detector = Broken()
        out = pipeline.process(ticks[6].bundle, ticks[6].frames)
        assert out.positions.shape == (0, len(JOINTS), 3)
        assert "detector failed: model exploded" in (out.message.reason or "")
        assert pipeline.detector_errors == 1
    finally:
        pipeline.close()
