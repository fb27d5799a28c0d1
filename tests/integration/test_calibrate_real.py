"""``syncpose calibrate`` on the real four-webcam ChArUco recording (no use of Caliscope's
detections or results), and its messages for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from syncpose.app.cli import main
from syncpose.calibration.rigfile import read_rig
from tests.conftest import shared_file

DATA = "calibration/caliscope_4cam_charuco"


@pytest.mark.slow
@pytest.mark.shared_data
def test_calibrate_real_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = shared_file(DATA)
    out, report_path = tmp_path / "rig.toml", tmp_path / "report.json"
    code = main(
        [
            "calibrate",
            "--videos",
            str(folder),
            "--board",
            str(folder / "charuco.toml"),
            "--compare",
            str(folder / "camera_array.toml"),
            "--out",
            str(out),
            "--report",
            str(report_path),
        ]
    )
    assert code == 0, capsys.readouterr().out
    rig = read_rig(out)
    assert rig.names == ["cam_0", "cam_1", "cam_2", "cam_3"]
    report = json.loads(report_path.read_text())
    for name, cam in report["cameras"].items():
        assert cam["intrinsic_rms_px"] <= 1.0, name
    check = report["board_check"]
    assert check["pairs"] > 500
    assert check["rms_error_mm"] <= 1.0  # neighbouring corners 54 mm apart, within 1 mm RMS
    assert abs(check["mean_mm"] - 54.0) < 0.5
    assert set(report["comparison"]["cameras"]) == set(rig.names)


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 6.0, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()


@pytest.mark.shared_data
def test_wrong_board_definition_is_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = shared_file(DATA)
    cap = cv2.VideoCapture(str(folder / "cam_0.mp4"))
    frames = [cap.read()[1] for _ in range(3)]
    cap.release()
    for name in ("a", "b"):
        _write_video(tmp_path / f"{name}.avi", frames)
    code = main(
        [
            "calibrate",
            "--videos",
            str(tmp_path),
            "--charuco",
            "5x7",
            "--dictionary",
            "DICT_6X6_250",
            "--out",
            str(tmp_path / "rig.toml"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "camera a: the board was not found in any of the 3 frames" in out
    assert "matches the printed board" in out


def test_video_without_board_and_missing_video(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blank = [np.full((240, 320, 3), 90, np.uint8)] * 3
    _write_video(tmp_path / "a.avi", blank)
    _write_video(tmp_path / "b.avi", blank)
    code = main(
        [
            "calibrate",
            "--videos",
            str(tmp_path),
            "--charuco",
            "4x5",
            "--out",
            str(tmp_path / "r.toml"),
        ]
    )
    assert code == 1
    assert "camera a: the board was not found in any of the 3 frames" in capsys.readouterr().out
    code = main(
        [
            "calibrate",
            "--videos",
            str(tmp_path / "a.avi"),
            str(tmp_path / "nope.mp4"),
            "--charuco",
            "4x5",
            "--out",
            str(tmp_path / "r.toml"),
        ]
    )
    assert code == 1
    assert "nope.mp4: cannot open the video" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.shared_data
def test_calibrate_live_streams(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--live with the four recordings opened as streams: feedback while capturing, then a rig."""
    folder = shared_file(DATA)
    streams = [str(folder / f"cam_{i}.mp4") for i in range(4)]
    out = tmp_path / "rig.toml"
    code = main(
        [
            "calibrate",
            "--live",
            *streams,
            "--board",
            str(folder / "charuco.toml"),
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    assert "camera cam_1 needs 8 more board views" in text  # feedback while capturing
    report = json.loads(text[text.index("{") : text.rindex("}") + 1])
    assert report["board_check"]["rms_error_mm"] <= 1.0
    assert read_rig(out).names == ["cam_0", "cam_1", "cam_2", "cam_3"]
