"""``syncpose sync`` from people: latencies from OpenPose files of two simulated people through
the CLI, and on the real recording made unsynchronised by dropping known frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from syncpose.app.cli import main
from syncpose.calibration.rigfile import write_rig
from syncpose.camera import Rig
from syncpose.motion import load_motion
from syncpose.openpose import write_openpose
from syncpose.scenes import straight_paths
from syncpose.simulate import default_rig
from tests.conftest import shared_file
from tests.integration.test_keypoint_files import body25

FPS = 30.0


def write_people(folder: Path, rig: Rig, latency_ms: list[float], seed: int = 3) -> None:
    """BODY_25 files of two people (one about the middle, one crossing the room) as each
    camera's detector would write them: file frame k stamped k / FPS, really taken
    ``latency_ms`` earlier; people in no particular order; 0.5 px noise."""
    clip = load_motion("bundled").clips[0]
    duration = clip.duration_s - 0.3
    paths = straight_paths(clip, [(-0.4, -0.2), (-2.0, 1.2)], [(0.4, 0.2), (2.0, -1.2)], duration)
    rng = np.random.default_rng(seed)
    for cam, latency in zip(rig.cameras, latency_ms, strict=True):
        stamps = np.arange(0.1, duration, 1.0 / FPS)
        points = cam.project(paths(stamps - latency / 1000.0))
        points = points + rng.normal(0.0, 0.5, points.shape)
        out = folder / f"{cam.name}_json"
        out.mkdir(parents=True)
        for k in range(len(stamps)):
            people = [body25(points[k, p], np.ones(17)) for p in rng.permutation(2)]
            write_openpose(out / f"take_{k:012d}_keypoints.json", people)


@pytest.mark.slow
def test_sync_from_keypoint_files_of_two_people_recovers_the_latencies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = Rig(default_rig(4).cameras[:3])
    latency_ms = [0.0, 21.7, -40.0]  # sub-frame, and more than a frame early
    write_people(tmp_path / "kp", rig, latency_ms)
    write_rig(tmp_path / "rig.toml", rig)
    report = tmp_path / "sync.json"
    args = ["sync", "--keypoints", str(tmp_path / "kp"), "--calibration",
            str(tmp_path / "rig.toml"), "--fps", str(FPS), "--layout", "body25",
            "--start-frames", "0,0,2", "--json", str(report)]  # fmt: skip
    assert main(args) == 0
    rows = json.loads(report.read_text())
    assert [r["camera"] for r in rows] == rig.names
    # Dropping camera 2's first two frames makes it read two frames early as well.
    expected = [0.0, 21.7, -40.0 - 2 * 1000.0 / FPS]
    for row, truth in zip(rows, expected, strict=True):
        assert abs(row["latency_ms"] - truth) < 1.0, (row, truth)
        assert row["confident"] and not row["note"], row
    printed = capsys.readouterr().out
    assert "rig YAML (cameras[].latency_ms): cam0: 0.0, cam1: " in printed


def test_sync_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_rig(tmp_path / "rig.toml", default_rig(2))
    assert main(["sync", "--keypoints", str(tmp_path / "none"), "--rig",
                 str(tmp_path / "rig.toml"), "--fps", "30"]) == 1  # fmt: skip
    assert "no such folder" in capsys.readouterr().out
    assert main(["sync", "--from", "board", "--keypoints", str(tmp_path),
                 "--rig", str(tmp_path / "rig.toml")]) == 1  # fmt: skip
    assert "--from board needs --videos" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_recording_shifted_by_known_frames_is_recovered_within_a_quarter_frame() -> None:
    """The real single-person recording (4 cameras, 60 fps, MediaPipe), made unsynchronised
    by dropping the first frames of some cameras: the estimates move by exactly those
    shifts (a quarter frame is 4.2 ms)."""
    from syncpose.app.offline import find_videos
    from syncpose.app.people_sync import CameraPeople, _drop, sync_people, video_people
    from syncpose.calibration.rigfile import load_rig

    videos = find_videos([shared_file("video/pose2sim_single/videos")])
    rig = load_rig(shared_file("video/pose2sim_single/Calib_qualisys.toml"))
    rig = rig.matched_to([v.stem for v in videos])
    cameras = video_people(videos, rig)
    period_ms = 1000.0 / 60.0

    def latencies(starts: list[int]) -> np.ndarray:
        dropped = [
            CameraPeople(c.camera_id, *_drop(c.times, c.people, s))
            for c, s in zip(cameras, starts, strict=True)
        ]
        return np.array([e.offset_ms for e in sync_people(rig, dropped).estimates])

    base = latencies([0, 0, 0, 0])
    for starts in ([0, 3, 0, 5], [0, 0, 2, 1]):
        moved = latencies(starts) - base
        np.testing.assert_allclose(moved, -np.array(starts) * period_ms, atol=period_ms / 4)


@pytest.mark.slow
def test_frame_times_from_a_csv_replace_the_files_own(tmp_path: Path) -> None:
    """A camera whose frame-time file says its frames came 10 ms later than ``index / fps``
    reads 10 ms more latency: the CSV's times are the ones used."""
    rig = Rig(default_rig(4).cameras[:3])
    write_people(tmp_path / "kp", rig, [0.0, 0.0, 0.0])
    write_rig(tmp_path / "rig.toml", rig)
    frames = len(list((tmp_path / "kp" / "cam0_json").glob("*.json")))
    lines = ["camera,frame,time_s"]
    for name, late in (("cam0", 0.0), ("cam1", 0.010), ("cam2", 0.0)):
        lines += [f"{name},{k},{k / FPS + late:.6f}" for k in range(frames)]
    (tmp_path / "times.csv").write_text("\n".join(lines) + "\n")
    report = tmp_path / "sync.json"
    args = ["sync", "--keypoints", str(tmp_path / "kp"), "--calibration",
            str(tmp_path / "rig.toml"), "--fps", str(FPS), "--layout", "body25",
            "--timestamps", str(tmp_path / "times.csv"), "--json", str(report)]  # fmt: skip
    assert main(args) == 0
    latency = {r["camera"]: r["latency_ms"] for r in json.loads(report.read_text())}
    assert abs(latency["cam1"] - 10.0) < 1.0 and abs(latency["cam2"]) < 1.0, latency
