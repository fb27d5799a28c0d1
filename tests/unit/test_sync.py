"""Time-offset estimation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from syncpose.calibration.sync import Track, estimate_offsets, read_frame_times, simulate_tracks
from syncpose.camera import Rig, look_at, ring_position
from tests.conftest import shared_file


@pytest.mark.slow
def test_recovers_known_offsets_within_2ms() -> None:
    """A person (real motion capture) seen by 4 cameras at 30 fps with their own phases and
    latencies up to two frames; 0.7 px detector noise."""
    rig = Rig(
        tuple(
            look_at(ring_position(i, 4), (0, 0, 1), 1000, 1280, 720, name=f"c{i}") for i in range(4)
        )
    )
    latency_ms = [0.0, 12.3, -41.7, 57.9]
    tracks = simulate_tracks(rig, latency_ms, [0.0, 7.0, 19.0, 28.0])
    estimates = estimate_offsets(rig, tracks)
    assert [e.camera for e in estimates] == ["c0", "c1", "c2", "c3"]
    for e, truth in zip(estimates, latency_ms, strict=True):
        assert abs(e.offset_ms - truth) < 2.0, (e, truth)
        assert e.confident and e.std_ms < 2.0


def test_track_interpolation() -> None:
    track = Track(
        np.array([0.0, 1.0, 2.0]), np.array([[[0.0, 0.0]], [[10.0, 20.0]], [[np.nan, 0.0]]])
    )
    got = track.at(np.array([0.5, 1.5, -0.1, 2.5]))
    np.testing.assert_allclose(got[0, 0], [5.0, 10.0])
    assert np.isnan(got[1]).any() and np.isnan(got[2]).all() and np.isnan(got[3]).all()


def test_frame_time_files(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("camera,frame,time_s\na,1,0.5\na,0,0.1\nb,0,0.2\n")
    times = read_frame_times(path)
    assert times["a"].tolist() == [0.1, 0.5] and times["b"].tolist() == [0.2]
    path.write_text("x,y\n1,2\n")
    with pytest.raises(ValueError, match="expected columns camera,frame,time_s"):
        read_frame_times(path)


@pytest.mark.shared_data
def test_reads_caliscope_frame_times() -> None:
    times = read_frame_times(shared_file("calibration/caliscope_4cam_charuco/timestamps.csv"))
    assert sorted(times) == ["cam_0", "cam_1", "cam_2", "cam_3"]
    assert all(len(v) == 57 and np.all(np.diff(v) > 0) for v in times.values())
