"""The calibration wizard's state machine, driven with rendered board views."""

from __future__ import annotations

import numpy as np
import pytest

from syncpose.calibration.boards import BoardDetector
from syncpose.calibration.intrinsics import CalibrationError, observe
from syncpose.calibration.wizard import CalibrationWizard, Step, WizardError
from tests.helpers.render import render_view
from tests.unit.test_calibrate_synthetic import SIZE, SPEC, board_poses, true_cameras


@pytest.mark.slow
def test_wizard_walks_through_every_step() -> None:
    rng = np.random.default_rng(5)
    truth = true_cameras()
    poses = board_poses(40, rng)
    detector = BoardDetector(SPEC)
    images = {c.name: [render_view(SPEC, c, P, rng) for P in poses] for c in truth}

    wiz = CalibrationWizard({c.name: SIZE for c in truth})
    assert wiz.status().missing == ["choose the board that was printed"]
    with pytest.raises(WizardError, match="needs the intrinsics step; the wizard is at board"):
        wiz.add_view("cam0", observe(detector, images["cam0"][0], 0))
    wiz.choose_board(SPEC)
    assert wiz.step is Step.INTRINSICS

    # Live feedback while views come in: after two views, it says what is missing, in words.
    feedback = []
    for k in range(2):
        feedback = wiz.add_view("cam0", observe(detector, images["cam0"][k], k))
    assert any("camera cam0 needs" in m and "more board views" in m for m in feedback)
    assert not wiz.status().ready
    for name, imgs in images.items():
        for k, img in enumerate(
            imgs[2:] if name == "cam0" else imgs, start=2 if name == "cam0" else 0
        ):
            wiz.add_view(name, observe(detector, img, k))
    status = wiz.status()
    assert status.ready and set(status.cameras) == {"cam0", "cam1", "cam2"}
    wiz.finish_intrinsics()
    assert wiz.status().step is Step.EXTRINSICS and not wiz.errors

    # Extrinsics: too few shared frames is refused with the camera named.
    wiz.add_frame(0, {c: detector.detect(images[c][0]) for c in images})
    assert not wiz.status().ready
    with pytest.raises(
        CalibrationError,
        match=r"camera cam\d has seen the board together with another camera in [01] frames",
    ):
        wiz.solve()
    for k in range(1, len(poses)):
        wiz.add_frame(k, {c: detector.detect(images[c][k]) for c in images})
    assert wiz.status().ready
    wiz.solve()
    assert wiz.status().step is Step.REVIEW
    errors = wiz.review()
    assert set(errors) == {"cam0", "cam1", "cam2"} and max(errors.values()) < 1.0
    wiz.accept()
    floor = next(
        k
        for k in range(len(poses))
        if all(f.count for f in wiz.frames[k].values()) and len(wiz.frames[k]) == 3
    )
    rig = wiz.set_floor(floor)
    assert wiz.extrinsics is not None
    np.testing.assert_allclose(wiz.extrinsics.board_poses[floor][:3, 3], 0.0, atol=1e-9)
    assert rig.metadata["world_frame"] == f"board at frame {floor}, Z up"
    assert wiz.result() is rig and wiz.status().step is Step.DONE
    with pytest.raises(WizardError):
        wiz.result()


def test_camera_without_views_is_named_and_can_be_redone() -> None:
    rng = np.random.default_rng(2)
    truth = true_cameras()[:2]
    detector = BoardDetector(SPEC)
    wiz = CalibrationWizard({c.name: SIZE for c in truth})
    wiz.choose_board(SPEC)
    for k, P in enumerate(board_poses(10, rng)):
        wiz.add_view("cam0", observe(detector, render_view(SPEC, truth[0], P, rng), k))
    assert "camera cam1 has not seen the board yet" in wiz.status().missing
    wiz.finish_intrinsics()
    assert wiz.status().step is Step.INTRINSICS  # cam1 failed: still here
    assert "camera cam1: only 0 usable board views" in wiz.errors["cam1"]
    assert wiz.errors["cam1"] in wiz.status().missing
    with pytest.raises(WizardError, match="unknown camera 'cam7'"):
        wiz.add_view("cam7", observe(detector, np.zeros((10, 10), np.uint8), 0))
