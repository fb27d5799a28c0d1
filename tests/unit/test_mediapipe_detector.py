"""The shipped MediaPipe pose model on real frames of a real person."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from syncpose.skeleton import JOINTS
from tests.conftest import shared_file

mediapipe = pytest.importorskip("mediapipe", reason="mediapipe is not installed")


@pytest.mark.shared_data
def test_detects_the_person_on_real_frames_mapped_to_the_skeleton() -> None:
    from syncpose.inference.detectors.mediapipe_pose import MediaPipePose, default_model_path

    assert default_model_path().stat().st_size > 1_000_000
    cap = cv2.VideoCapture(str(shared_file("video/pose2sim_single/videos/cam02.mp4")))
    results = []
    with MediaPipePose() as detector:
        for k in range(10):
            ok, frame = cap.read()
            assert ok
            results.append(detector.detect(np.asarray(frame, np.uint8), k * 17))
    cap.release()
    h, w = frame.shape[:2]
    for kp in results:
        assert kp.points.shape == (len(JOINTS), 2)
        confident = kp.confidence > 0.5
        assert confident.sum() >= 14  # a full, visible person
        inside = (
            (kp.points[:, 0] >= 0)
            & (kp.points[:, 0] < w)
            & (kp.points[:, 1] >= 0)
            & (kp.points[:, 1] < h)
        )
        assert inside[confident].all()
        # Anatomy in image coordinates (y down): head above pelvis above ankles.
        y = {n: kp.points[JOINTS.index(n), 1] for n in ("head", "pelvis", "l_ankle", "r_ankle")}
        assert y["head"] < y["pelvis"] < min(y["l_ankle"], y["r_ankle"])
    # Tracking in VIDEO mode: the pelvis moves little between consecutive 60 fps frames.
    pelvis = np.array([kp.points[JOINTS.index("pelvis")] for kp in results])
    assert np.linalg.norm(np.diff(pelvis, axis=0), axis=1).max() < 40.0


def test_no_person_gives_nan_and_zero_confidence() -> None:
    from syncpose.inference.detectors.mediapipe_pose import MediaPipePose

    with MediaPipePose() as detector:
        kp = detector.detect(np.full((480, 640, 3), 127, np.uint8), 0)
    assert np.isnan(kp.points).all() and (kp.confidence == 0).all()
