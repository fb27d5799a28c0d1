"""2D detectors: the generic ONNX detector on generated models, the synthetic detector, and
MediaPipe's mapping into the project skeleton on a real image of a person."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from syncpose.camera import Rig
from syncpose.config import OnnxDetectorConfig, OnnxPersonDetectorConfig, SyntheticDetectorConfig
from syncpose.inference.detectors import ViewImage, make_detector
from syncpose.inference.detectors.onnx_keypoints import OnnxKeypointDetector
from syncpose.inference.detectors.person_boxes import PersonBoxDetector
from syncpose.simulate import default_rig
from syncpose.skeleton import BLAZEPOSE33, COCO17, JOINTS, MOCAP
from tests.conftest import shared_file
from tests.helpers.onnx_models import (
    blob_image,
    heatmap_model,
    person_model,
    regression_model,
    simcc_model,
)

H, W = 480, 640
IN_W, IN_H = 192, 256


def expected(centres_bgr: list[tuple[float, float]], channel_order: str) -> np.ndarray:
    """Project-skeleton points the blob models must find: COCO keypoint k sits on the blob of
    the model's channel k % 3."""
    raw = np.zeros((len(COCO17.source_names), 2))
    for k in range(len(raw)):
        c = k % 3
        raw[k] = centres_bgr[2 - c if channel_order == "rgb" else c]
    return COCO17.apply(raw)[0]


def config(model: Path, output: str, **kw: Any) -> OnnxDetectorConfig:
    return OnnxDetectorConfig(
        type="onnx",
        model=model,
        keypoints="coco17",
        input_width=IN_W,
        input_height=IN_H,
        mean=(0.0, 0.0, 0.0),
        std=(255.0, 255.0, 255.0),
        output=output,
        **kw,
    )


VIEWS = [
    [(150.0, 120.0), (420.0, 300.0), (300.0, 400.0)],
    [(500.0, 80.0), (90.0, 260.0), (330.0, 210.0)],
    [(320.0, 240.0), (200.0, 330.0), (460.0, 150.0)],
]


@pytest.mark.parametrize(
    ("kind", "tol_px"), [("heatmap", 8.0), ("simcc", 4.0), ("regression", 3.0)]
)
@pytest.mark.parametrize("channel_order", ["rgb", "bgr"])
def test_onnx_detector_decodes_every_output_kind(
    tmp_path: Path, kind: str, tol_px: float, channel_order: str
) -> None:
    n = len(COCO17.source_names)
    path = tmp_path / f"{kind}.onnx"
    makers: dict[str, Callable[[Path, int, int, int], Path]] = {
        "heatmap": heatmap_model,
        "simcc": simcc_model,
        "regression": regression_model,
    }
    makers[kind](path, n, IN_H, IN_W)
    det = OnnxKeypointDetector(config(path, kind, channel_order=channel_order, crop="full"))
    assert det.batched
    views = [
        ViewImage(f"cam{i}", blob_image(H, W, c, sigma=12.0), 1000 * i) for i, c in enumerate(VIEWS)
    ]
    found = det.detect(views)
    assert len(found) == 3 and all(len(people) == 1 for people in found)
    for (kp,), centres in zip(found, VIEWS, strict=True):
        want = expected(centres, channel_order)
        ok = np.isfinite(want).all(1)
        err = np.linalg.norm(kp.points[ok] - want[ok], axis=1)
        assert err.max() < tol_px, (kind, err.round(1))
        assert (kp.confidence[ok] > 0.3).all()
        # COCO has no foot keypoints: those joints are unknown, not invented.
        for name in ("l_foot", "r_foot"):
            assert np.isnan(kp.points[JOINTS.index(name)]).all()
            assert kp.confidence[JOINTS.index(name)] == 0.0


def test_onnx_detector_tracks_a_crop_and_runs_fixed_batch_models(tmp_path: Path) -> None:
    """A model whose batch size is fixed at 1 runs view by view; the second frame is cropped
    around the first detection (a smaller box, so a finer result) and still maps back."""
    n = len(COCO17.source_names)
    path = heatmap_model(tmp_path / "b1.onnx", n, IN_H, IN_W, batch=1)
    det = OnnxKeypointDetector(config(path, "heatmap", crop="track", channel_order="bgr"))
    assert not det.batched
    views = [ViewImage(f"cam{i}", blob_image(H, W, c, 12.0), 0) for i, c in enumerate(VIEWS[:2])]
    first = det.detect(views)
    full_box = (W / 2, H / 2, W, W / (IN_W / IN_H))
    box = det.crop_box(views[0])
    assert box[2] < full_box[2]  # now cropped around the person
    second = det.detect(views)
    for (kp1,), (kp2,), centres in zip(first, second, VIEWS, strict=False):
        want = expected(centres, "bgr")
        ok = np.isfinite(want).all(1)
        assert np.linalg.norm(kp2.points[ok] - want[ok], axis=1).max() < 5.0
        assert np.isfinite(kp1.points[ok]).all()


def test_onnx_detector_rejects_a_model_of_another_layout(tmp_path: Path) -> None:
    path = heatmap_model(tmp_path / "k5.onnx", 5, IN_H, IN_W)
    det = OnnxKeypointDetector(config(path, "heatmap"))
    with pytest.raises(ValueError, match="5 keypoints"):
        det.detect([ViewImage("cam0", blob_image(H, W, VIEWS[0]), 0)])
    with pytest.raises(FileNotFoundError, match="not found"):
        OnnxKeypointDetector(config(tmp_path / "missing.onnx", "heatmap"))


def synthetic_view(rig: Rig, v: int, pose: np.ndarray) -> ViewImage:
    cam = rig.cameras[v]
    uv = cam.project(pose)
    depth = cam.to_camera(pose)[:, 2]
    return ViewImage(cam.name, None, 0, uv, MOCAP.source_names, depth)


def test_synthetic_detector_applies_the_error_model() -> None:
    from syncpose.motion import load_motion

    rig = default_rig()
    clip = load_motion("bundled").clips[0]
    det = make_detector(SyntheticDetectorConfig(type="synthetic", seed=3), rig)
    quiet = make_detector(
        SyntheticDetectorConfig(
            type="synthetic", jitter_px=0.0, outlier_rate=0, miss_rate=0, swap_rate=0
        ),
        rig,
    )
    errors = []
    for k in range(0, 300, 3):
        pose = clip.positions[k].copy()
        pose[:, :2] -= pose[0, :2]  # centred in the rig
        views = [synthetic_view(rig, v, pose) for v in range(len(rig.cameras))]
        truth = [MOCAP.apply(np.asarray(v.keypoints_true))[0] for v in views]
        noisy, exact = det.detect(views), quiet.detect(views)
        for t, (a,), (b,) in zip(truth, noisy, exact, strict=True):
            ok = np.isfinite(a.points).all(1)
            errors.append(np.linalg.norm(a.points[ok] - t[ok], axis=1))
            assert np.allclose(b.points, t, equal_nan=True)
    err = np.concatenate(errors)
    # Jitter of about 1.5 px at 1000 px and 4 m (σ per axis: median radius ≈ 1.2σ), outliers.
    assert 0.8 < np.median(err) < 3.0
    assert (err > 15.0).mean() > 0.002


def test_synthetic_detector_needs_true_keypoints() -> None:
    rig = default_rig()
    det = make_detector(SyntheticDetectorConfig(type="synthetic"), rig)
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="true keypoints"):
        det.detect([ViewImage("cam0", image, 0)])


def test_mediapipe_maps_a_real_person_into_the_skeleton() -> None:
    """A frame of the shared real video: every joint found, the mapping's mid-points right,
    and the body the right way up and the right way round."""
    video = shared_file("video/pose2sim_single/videos/cam02.mp4")
    from syncpose.inference.detectors.mediapipe_pose import MediaPipePose

    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 10)
    ok, image = cap.read()
    cap.release()
    assert ok
    with MediaPipePose() as pose:
        kp = pose.detect(np.asarray(image, dtype=np.uint8), 0)
    assert kp.raw is not None and kp.raw.shape == (33, 3)
    assert (kp.confidence > 0.5).all()
    names = BLAZEPOSE33.source_names
    raw = {n: kp.raw[i, :2] for i, n in enumerate(names)}
    j = {n: kp.points[i] for i, n in enumerate(JOINTS)}
    assert np.allclose(j["pelvis"], (raw["left_hip"] + raw["right_hip"]) / 2)
    assert np.allclose(j["neck"], (raw["left_shoulder"] + raw["right_shoulder"]) / 2)
    assert np.allclose(j["l_foot"], raw["left_foot_index"])
    # Upright person, image y down: head above neck above pelvis above knees above ankles.
    ys = [j[n][1] for n in ("head", "neck", "pelvis")]
    assert ys[0] < ys[1] < ys[2] < min(j["l_knee"][1], j["r_knee"][1])
    assert max(j["l_knee"][1], j["r_knee"][1]) < max(j["l_ankle"][1], j["r_ankle"][1])
    h, w = image.shape[:2]
    assert ((kp.points >= 0) & (kp.points < (w, h))).all()


# -- person boxes: several people per view with a top-down model -----------------------------

PERSON_IN = 160  # the person model's square input
TWO_PEOPLE = [  # per person, its three blobs (B, G, R) in a 640x480 image: left and right
    [(120.0, 200.0), (180.0, 260.0), (150.0, 320.0)],
    [(470.0, 180.0), (520.0, 250.0), (430.0, 300.0)],
]


def two_people_image() -> np.ndarray:
    left, right = (blob_image(H, W, person, sigma=8.0) for person in TWO_PEOPLE)
    both: np.ndarray = np.maximum(left, right)
    return both


def person_config(model: Path, output: str, **kw: Any) -> OnnxPersonDetectorConfig:
    return OnnxPersonDetectorConfig(
        model=model,
        output=output,
        input_width=PERSON_IN,
        input_height=PERSON_IN,
        pad_value=0,
        **kw,
    )


@pytest.mark.parametrize("layout", ["yolo", "yolov8", "dets"])
def test_person_boxes_are_decoded_kept_and_mapped_back_to_the_image(
    tmp_path: Path, layout: str
) -> None:
    """Each output layout: the two people found (the duplicate suppressed, the other class
    dropped), their boxes centred on each person's blobs in image pixels through the
    letterbox (a 640x480 image in a 160x160 input: scale 1/4, a 20-pixel band above)."""
    path = person_model(tmp_path / f"{layout}.onnx", layout, PERSON_IN, PERSON_IN, (40.0, 50.0))
    people = PersonBoxDetector(person_config(path, layout))
    image = two_people_image()
    (boxes,) = people.boxes([image])
    assert boxes.shape == (2, 5)
    bright = image.astype(np.float64).sum(axis=2)
    ys, xs = np.mgrid[0:H, 0:W]
    for half, box in zip((xs < W / 2, xs >= W / 2), sorted(boxes, key=lambda b: b[0]), strict=True):
        mass = bright * half
        centroid = np.array([(mass * xs).sum(), (mass * ys).sum()]) / mass.sum()
        centre = np.array([box[0] + box[2], box[1] + box[3]]) / 2.0
        assert np.linalg.norm(centre - centroid) < 6.0, (centre, centroid)
        assert box[2] - box[0] == pytest.approx(160.0, abs=1.0)  # 40 input pixels x 4
        assert box[3] - box[1] == pytest.approx(200.0, abs=1.0)
        assert box[4] > 0.9


def test_person_boxes_stretch_fixed_batch_and_the_score_floor(tmp_path: Path) -> None:
    """Stretched to the input, boxes scale by each axis; a model of batch size 1 runs image by
    image; the score floor and the box count hold."""
    single = person_model(tmp_path / "b1.onnx", "yolo", PERSON_IN, PERSON_IN, (40.0, 50.0), 1)
    stretched = PersonBoxDetector(person_config(single, "yolo", resize="stretch"))
    assert not stretched.batched
    for boxes in stretched.boxes([two_people_image(), two_people_image()]):
        assert len(boxes) == 2
        assert boxes[:, 2] - boxes[:, 0] == pytest.approx([40.0 * W / PERSON_IN] * 2, abs=1.0)
        assert boxes[:, 3] - boxes[:, 1] == pytest.approx([50.0 * H / PERSON_IN] * 2, abs=1.0)
    path = person_model(tmp_path / "p.onnx", "yolo", PERSON_IN, PERSON_IN, (40.0, 50.0))
    none = PersonBoxDetector(person_config(path, "yolo", min_score=0.99))
    empty, two = none.boxes([np.zeros((H, W, 3), np.uint8), two_people_image()])
    assert empty.shape == (0, 5) and two.shape == (0, 5)  # 0.99: above what the blobs score
    one = PersonBoxDetector(person_config(path, "yolo", max_boxes=1)).boxes([two_people_image()])
    assert len(one[0]) == 1
    with pytest.raises(ValueError, match="person class 3, the model has 2"):
        PersonBoxDetector(person_config(path, "yolo", person_class=3)).boxes([two_people_image()])


def test_onnx_detector_with_a_person_detector_finds_everyone_in_every_view(
    tmp_path: Path,
) -> None:
    """The keypoint model crops each person box: two people per view, each with the
    keypoints of their own blobs (the crops do not reach the other person), the largest first;
    without the person detector, the same model sees one person."""
    n = len(COCO17.source_names)
    keypoints = heatmap_model(tmp_path / "kp.onnx", n, IN_H, IN_W)
    boxes = person_model(tmp_path / "p.onnx", "dets", PERSON_IN, PERSON_IN, (30.0, 40.0))
    cfg = config(keypoints, "heatmap", channel_order="bgr", crop_padding=1.1,
                 person_detector=person_config(boxes, "dets"))  # fmt: skip
    det = make_detector(cfg, default_rig())
    image = two_people_image()
    views = [ViewImage("cam0", image, 0), ViewImage("cam1", image[:, ::-1].copy(), 0)]
    found = det.detect(views)
    assert [len(people) for people in found] == [2, 2]
    for view, people in enumerate(found):
        want = [expected(p, "bgr") for p in TWO_PEOPLE]
        if view == 1:  # mirrored image
            want = [np.column_stack([W - 1 - w[:, 0], w[:, 1]]) for w in want]
        for kp in people:
            ok = np.isfinite(want[0]).all(1)
            errs = [np.linalg.norm(kp.points[ok] - w[ok], axis=1).max() for w in want]
            assert min(errs) < 6.0, errs  # one person's blobs, not a mix of the two
        assert {
            int(np.argmin([np.nanmax(np.abs(kp.points - w)) for w in want])) for kp in people
        } == {0, 1}
    alone = make_detector(
        config(keypoints, "heatmap", channel_order="bgr", crop="full"), default_rig()
    )
    assert [len(people) for people in alone.detect(views)] == [1, 1]
