"""``syncpose intrinsics`` from a folder of images."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from syncpose.app.cli import main
from syncpose.calibration.rigfile import read_rig
from tests.helpers.render import render_view
from tests.unit.test_calibrate_synthetic import SPEC, board_poses, true_cameras


@pytest.mark.slow
def test_intrinsics_from_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(11)
    cam = true_cameras()[0]
    folder = tmp_path / "shots"
    folder.mkdir()
    for k, pose in enumerate(board_poses(40, rng)):
        cv2.imwrite(str(folder / f"img_{k:03d}.png"), render_view(SPEC, cam, pose, rng))
    cv2.imwrite(str(folder / "img_999.png"), np.full((720, 1280), 128, np.uint8))  # no board
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "cam.toml"
    code = main(
        [
            "intrinsics",
            "--images",
            str(folder),
            "--charuco",
            "5x7",
            "--square-mm",
            "90",
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    report = json.loads(text[text.index("{") : text.rindex("}") + 1])
    assert report["rms_px"] < 0.5
    assert report["rejected"]["40"] == "board not found"
    (got,) = read_rig(out).cameras
    assert abs(got.K[0, 0] - cam.K[0, 0]) / cam.K[0, 0] < 0.01


def test_images_of_different_sizes_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((40, 60, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((50, 60, 3), np.uint8))
    assert (
        main(
            [
                "intrinsics",
                "--images",
                str(tmp_path),
                "--charuco",
                "4x5",
                "--out",
                str(tmp_path / "c.toml"),
            ]
        )
        == 1
    )
    assert "b.png: 60x50, but the first image is 60x40" in capsys.readouterr().out
