"""Frame sources: synthetic camera, video replay and OpenCV devices."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from syncpose.capture.sources import EndOfStream, SourceUnavailable
from syncpose.capture.sources.opencv_source import OpenCVSource
from syncpose.capture.sources.synthetic import SyntheticSource
from syncpose.capture.sources.video import VideoFileSource
from syncpose.clock import NS_PER_MS, NS_PER_S, FakeClock
from syncpose.config import OpenCVSourceConfig, SyntheticSourceConfig, VideoSourceConfig
from tests.conftest import shared_file

MS = NS_PER_MS


def synthetic(clock: FakeClock, **kw: object) -> SyntheticSource:
    cfg = SyntheticSourceConfig.model_validate(
        {"type": "synthetic", "width": 640, "height": 360, **kw}
    )
    return SyntheticSource(
        cfg, camera_id="c", camera_index=1, camera_count=4, rig_fps=30.0, epoch_ns=0, clock=clock
    )


def test_synthetic_schedule_keypoints_and_image() -> None:
    clock = FakeClock(0)
    src = synthetic(clock, clock_offset_ms=5.0)
    src.open()
    frames = [src.read() for _ in range(5)]
    times = [f.t_capture_ns for f in frames]
    assert times == [5 * MS + round(k * NS_PER_S / 30) for k in range(5)]
    for f in frames:
        assert f.image.shape == (360, 640, 3) and f.skipped == 0
        pose = src.player.pose_at(f.t_capture_ns / NS_PER_S)
        expected = src.camera.project(pose)
        assert f.keypoints is not None and f.keypoint_names is not None
        visible = np.isfinite(f.keypoints).all(axis=1)
        assert visible.sum() >= 15
        np.testing.assert_allclose(f.keypoints[visible], expected[visible], atol=1e-3)
        # The skeleton is drawn where the keypoints are.
        u, v = f.keypoints[visible][0].round().astype(int)
        assert (f.image[v, u] != src.renderer.background[v, u]).any()


def test_a_synthetic_scene_of_two_people_gives_both_through_the_detector() -> None:
    from syncpose.camera import Rig
    from syncpose.config import SyntheticDetectorConfig
    from syncpose.inference.detectors import ViewImage, make_detector
    from syncpose.skeleton import MOCAP

    clock = FakeClock(0)
    src = synthetic(clock, people=2, people_seed=3, width=1280, height=720)
    src.open()
    frame = src.read()
    for _ in range(300):  # a frame where the camera sees both
        assert frame.keypoints is not None
        if (np.isfinite(frame.keypoints).all(-1).sum(-1) >= 15).all():
            break
        frame = src.read()
    assert frame.keypoints is not None and frame.keypoint_depth is not None
    assert frame.keypoints.shape == (2, len(MOCAP.source_names), 2)
    assert frame.keypoint_depth.shape == (2, len(MOCAP.source_names))
    quiet = SyntheticDetectorConfig(
        type="synthetic", jitter_px=0.0, outlier_rate=0, miss_rate=0, swap_rate=0
    )
    det = make_detector(quiet, Rig((src.camera,)))
    view = ViewImage("c", None, frame.t_capture_ns, frame.keypoints.astype(np.float64),
                     frame.keypoint_names, frame.keypoint_depth.astype(np.float64))  # fmt: skip
    (people,) = det.detect([view])
    assert len(people) == 2
    truth = [MOCAP.apply(frame.keypoints[p].astype(np.float64))[0] for p in range(2)]
    for kp in people:  # each one of the two, exactly (no noise)
        assert min(np.nanmax(np.abs(kp.points - t)) for t in truth) < 1e-3


def test_synthetic_drops_and_stalls_leave_gaps() -> None:
    clock = FakeClock(0)
    src = synthetic(clock, drop_rate=0.2, seed=3)
    src.open()
    skipped = sum(src.read().skipped for _ in range(500))
    assert 70 < skipped < 180  # ~0.2 * 625 frames
    clock2 = FakeClock(0)
    stall = synthetic(clock2, stall_rate=0.05, stall_ms=100.0, seed=4)
    stall.open()
    gaps = [stall.read().skipped for _ in range(200)]
    assert max(gaps) >= 3  # a 100 ms stall at 30 fps loses 3 frames


def test_synthetic_jitter_is_seeded() -> None:
    def times(seed: int) -> list[int]:
        src = synthetic(FakeClock(0), jitter_ms=1.0, seed=seed)
        src.open()
        return [src.read().t_capture_ns for _ in range(20)]

    assert times(1) == times(1) != times(2)
    nominal = np.array([round(k * NS_PER_S / 30) for k in range(20)])
    assert 0.3 * MS < np.std(np.array(times(1)) - nominal) < 2.0 * MS


def make_video(path: Path, n: int = 10, fps: float = 60.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (64, 48))
    for i in range(n):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()


def frame_index(image: np.ndarray) -> int:
    return round(float(image.mean()) / 20)


def test_video_replay_pacing_step_offset_and_loop(tmp_path: Path) -> None:
    path = tmp_path / "v.avi"
    make_video(path)
    clock = FakeClock(0)
    cfg = VideoSourceConfig(type="video", path=path, frame_step=2, start_frame=1)
    src = VideoFileSource(cfg, camera_id="c", epoch_ns=1000 * MS, clock=clock)
    src.open()
    got = [src.read() for _ in range(7)]
    # File frames 1,3,5,7,9 then (loop) 1,3 -- each at its true time i/60 s after the epoch.
    assert [frame_index(f.image) for f in got] == [1, 3, 5, 7, 9, 1, 3]
    expected = [1000 * MS + round(i * NS_PER_S / 60) for i in (1, 3, 5, 7, 9, 11, 13)]
    assert [f.t_capture_ns for f in got] == expected
    src.close()


def test_video_without_loop_ends(tmp_path: Path) -> None:
    path = tmp_path / "v.avi"
    make_video(path, n=3)
    src = VideoFileSource(
        VideoSourceConfig(type="video", path=path, loop=False, fps=10.0),
        camera_id="c",
        epoch_ns=0,
        clock=FakeClock(0),
    )
    src.open()
    assert [frame_index(src.read().image) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(EndOfStream, match="end of file after 3 frames"):
        src.read()


def test_video_replay_skips_frames_it_is_too_late_for(tmp_path: Path) -> None:
    path = tmp_path / "v.avi"
    make_video(path)
    clock = FakeClock(100 * MS)  # the replay starts 100 ms (6 frames) after its epoch
    src = VideoFileSource(
        VideoSourceConfig(type="video", path=path), camera_id="c", epoch_ns=0, clock=clock
    )
    src.open()
    frame = src.read()
    assert frame.skipped >= 4 and frame_index(frame.image) == frame.skipped


def test_missing_video_names_camera_and_file(tmp_path: Path) -> None:
    src = VideoFileSource(
        VideoSourceConfig(type="video", path=tmp_path / "gone.mp4"),
        camera_id="left",
        epoch_ns=0,
        clock=FakeClock(0),
    )
    with pytest.raises(
        SourceUnavailable, match=r"camera 'left' \(video .*gone\.mp4'\): file not found"
    ):
        src.open()


def test_opencv_source_unavailable_device_says_which() -> None:
    src = OpenCVSource(
        OpenCVSourceConfig(type="opencv", device="/nonexistent/stream.mjpg"),
        camera_id="door",
        clock=FakeClock(0),
    )
    with pytest.raises(SourceUnavailable, match=r"camera 'door'.*cannot open URL '/nonexistent"):
        src.open()


def test_opencv_source_reads_a_stream_url(tmp_path: Path) -> None:
    path = tmp_path / "v.avi"
    make_video(path, n=3)
    src = OpenCVSource(
        OpenCVSourceConfig(type="opencv", device=str(path)), camera_id="c", clock=FakeClock(5)
    )
    src.open()
    frames = [src.read() for _ in range(3)]
    assert [frame_index(f.image) for f in frames] == [0, 1, 2]
    with pytest.raises(SourceUnavailable, match="grab failed"):
        src.read()  # the stream ended: to a live source that is a lost device
    src.close()


@pytest.mark.shared_data
def test_real_60fps_rig_becomes_30fps_with_a_16ms_offset() -> None:
    """pose2sim_single is hardware-synchronised at 60 fps: every other frame, and camera 2
    starting one frame later, is a real 30 fps rig whose camera 2 lags by 16.7 ms."""
    video = shared_file("video/pose2sim_single/videos/cam02.mp4")
    ref = shared_file("video/pose2sim_single/videos/cam01.mp4")

    def times(path: Path, start: int) -> list[int]:
        cfg = VideoSourceConfig(type="video", path=path, frame_step=2, start_frame=start)
        src = VideoFileSource(cfg, camera_id="c", epoch_ns=0, clock=FakeClock(0))
        src.open()
        out = [src.read().t_capture_ns for _ in range(4)]
        src.close()
        return out

    a, b = times(ref, 0), times(video, 1)
    assert np.diff(a).tolist() == pytest.approx([NS_PER_S / 30] * 3, abs=2)
    assert [y - x for x, y in zip(a, b, strict=True)] == pytest.approx([NS_PER_S / 60] * 4, abs=2)
