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


def people_tracks(
    latency_ms: list[float], phase_ms: list[float], *, fps: float = 30.0, seed: int = 1
) -> tuple[Rig, dict[str, Track]]:
    """Two simulated people (real motion capture bodies): one walking slowly about the middle,
    the other crossing the whole room in front of them; four cameras at ``fps`` with their
    own frame phases, stamped ``latency_ms`` late; each view reports whoever it sees in no
    particular order, 0.7 px noise; camera 2 misses the first person for 40 frames."""
    from syncpose.calibration.sync import slot_people
    from syncpose.motion import load_motion
    from syncpose.scenes import straight_paths
    from syncpose.simulate import default_rig

    rig = default_rig(4)
    clip = load_motion("bundled").clips[0]
    duration = clip.duration_s - 0.2
    paths = straight_paths(clip, [(-0.4, -0.2), (-2.0, 1.2)], [(0.4, 0.2), (2.0, -1.2)], duration)
    rng = np.random.default_rng(seed)
    tracks = {}
    for v, (cam, latency, phase) in enumerate(zip(rig.cameras, latency_ms, phase_ms, strict=True)):
        t_true = np.arange(0.0, duration, 1.0 / fps) + phase / 1000.0
        points = cam.project(paths(t_true))  # (K, 2 people, J, 2)
        points = points + rng.normal(0.0, 0.7, points.shape)
        if v == 2:
            points[20:60, 0] = np.nan  # the first person hidden from this camera a while
        frames = []
        for k in range(len(t_true)):
            people = [points[k, p] for p in rng.permutation(2) if np.isfinite(points[k, p]).any()]
            frames.append(people)
        tracks[cam.name] = Track(t_true + latency / 1000.0, slot_people(frames, 2))
    return rig, tracks


@pytest.mark.slow
def test_recovers_latencies_from_people_within_1ms_with_a_second_person_and_a_gap() -> None:
    """Whole-frame and sub-frame latencies at 30 fps, from people alone."""
    latency_ms = [0.0, 20.9, -41.7, 71.3]  # 0, 0.63, -1.25 and 2.14 frames
    rig, tracks = people_tracks(latency_ms, [0.0, 7.0, 19.0, 28.0])
    estimates = estimate_offsets(rig, tracks)
    for e, truth in zip(estimates, latency_ms, strict=True):
        assert abs(e.offset_ms - truth) < 1.0, (e, truth)
        assert e.confident and not e.still, e


def test_people_slots_follow_each_person_whatever_order_they_come_in() -> None:
    from syncpose.calibration.sync import slot_people

    a = np.array([[100.0, 100.0], [110.0, 150.0]])
    b = np.array([[400.0, 120.0], [410.0, 170.0]])
    step = np.array([3.0, 1.0])
    frames = [[a, b], [b + step, a + step], [a + 2 * step], [], [b + 4 * step, a + 4 * step]]
    slots = slot_people(frames, 2)
    assert slots.shape == (5, 2, 2, 2)
    np.testing.assert_allclose(slots[:, 0][[0, 1, 2, 4]], [a, a + step, a + 2 * step, a + 4 * step])
    np.testing.assert_allclose(slots[:, 1][[0, 1, 4]], [b, b + step, b + 4 * step])
    assert np.isnan(slots[2, 1]).all() and np.isnan(slots[3]).all()
    # Three people for two slots: the largest two are kept.
    small = np.array([[700.0, 100.0], [701.0, 101.0]])
    assert not np.isin(700.0, slot_people([[small, a, b]], 2))


def test_a_person_standing_still_is_too_still_to_tell() -> None:
    rig, tracks = people_tracks([0.0, 20.0, 0.0, 0.0], [0.0, 7.0, 19.0, 28.0])
    frozen = {
        name: Track(t.times, np.broadcast_to(t.points[:1], t.points.shape).copy())
        for name, t in tracks.items()
    }
    estimates = estimate_offsets(rig, frozen, search_ms=100.0)
    assert all(e.still and not e.confident for e in estimates[1:]), estimates
