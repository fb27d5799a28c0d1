"""A generic top-down keypoint model in ONNX, batched across the views of a bundle.

With a person detector (``person_detector``: any ONNX detector,
:mod:`~syncpose.inference.detectors.person_boxes`) each person box found in a view is a crop,
so every person in view is detected; without one, each view has one crop — around the person's
last detection in that camera (``crop: track``), or the whole image. Each crop takes the
model's aspect ratio, is warped to the model's input size and normalised, and the crops of all
views go in one batch (one call per crop when the model's batch size is fixed at 1). Outputs
are decoded as

* ``heatmap``: (N, K, h, w); the peak of each map, refined a quarter cell towards the higher
  neighbour; score = the peak value;
* ``simcc``: (N, K, W·r) and (N, K, H·r) vectors (``r`` = ``simcc_split_ratio``); score = the
  lower of the two peaks;
* ``regression``: (N, K, 2) or (N, K, 3) coordinates (fractions of the input size, or input
  pixels), the third column a score;

mapped back through the crop to image pixels, and into the project skeleton.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from syncpose.arrays import AnyArray, Float32Array, FloatArray, ImageArray
from syncpose.config import OnnxDetectorConfig
from syncpose.inference.detectors.base import Keypoints, People, ViewImage
from syncpose.inference.detectors.person_boxes import PersonBoxDetector
from syncpose.inference.runtime import OnnxModel
from syncpose.skeleton import MAPS

_MIN_TRACKED = 4  # keypoints needed to crop around the last detection


class OnnxKeypointDetector:
    """Runs ``config.model`` on every view of a bundle in one batch."""

    per_camera = False  # batches the views of a bundle

    def __init__(self, config: OnnxDetectorConfig, prefer: str = "auto") -> None:
        if not config.model.is_file():
            raise FileNotFoundError(f"onnx detector: model file {config.model} not found")
        self.config = config
        self.name = f"onnx:{config.model.name}"
        self.map = MAPS[config.keypoints]
        self.model = OnnxModel(config.model, prefer)
        if len(self.model.input_names) != 1:
            raise ValueError(
                f"onnx detector {config.model}: expected one input, got {self.model.input_names}"
            )
        needed = 2 if config.output == "simcc" else 1
        if len(self.model.output_names) < needed:
            raise ValueError(
                f"onnx detector {config.model}: '{config.output}' needs {needed} output(s), the "
                f"model has {self.model.output_names}"
            )
        batch_dim = self.model.session.get_inputs()[0].shape[0]
        self.batched = not (isinstance(batch_dim, int) and batch_dim == 1)
        self._last: dict[str, FloatArray] = {}  # per camera: last raw keypoints (S, 3)
        person = config.person_detector
        self.people = PersonBoxDetector(person, prefer) if person is not None else None

    @property
    def provider(self) -> str:
        return self.model.provider

    # -- pre-processing ----------------------------------------------------------------------

    def crop_box(self, view: ViewImage) -> tuple[float, float, float, float]:
        """The one crop of a view without a person detector: (centre x, centre y, width,
        height) in image pixels, at the model's aspect ratio."""
        cfg = self.config
        assert view.image is not None
        h_img, w_img = view.image.shape[:2]
        # Pixel-centre coordinates: pixel i spans [i - 0.5, i + 0.5].
        cx, cy, w, h = (w_img - 1) / 2.0, (h_img - 1) / 2.0, float(w_img), float(h_img)
        last = self._last.get(view.camera_id)
        if cfg.crop == "track" and last is not None:
            good = last[:, 2] >= cfg.min_confidence
            if good.sum() >= _MIN_TRACKED:
                lo, hi = last[good, :2].min(axis=0), last[good, :2].max(axis=0)
                cx, cy = (lo + hi) / 2.0
                w, h = (hi - lo) * cfg.crop_padding
        return self._at_aspect(cx, cy, w, h)

    def person_crop(self, box: FloatArray) -> tuple[float, float, float, float]:
        """The crop around a person box (x1, y1, x2, y2, ...): the box scaled by
        ``crop_padding``, at the model's aspect ratio."""
        x1, y1, x2, y2 = (float(v) for v in box[:4])
        pad = self.config.crop_padding
        return self._at_aspect((x1 + x2) / 2.0, (y1 + y2) / 2.0, (x2 - x1) * pad, (y2 - y1) * pad)

    def _at_aspect(
        self, cx: float, cy: float, w: float, h: float
    ) -> tuple[float, float, float, float]:
        """The box widened or heightened to the model's aspect ratio (at least 8 pixels)."""
        aspect = self.config.input_width / self.config.input_height
        if w / max(h, 1e-6) > aspect:
            h = w / aspect
        else:
            w = h * aspect
        return float(cx), float(cy), float(max(w, 8.0)), float(max(h, 8.0))

    def _affine(self, box: tuple[float, float, float, float]) -> FloatArray:
        """(2, 3) map from image pixels to model input pixels for ``box`` (pixel centres at
        integer coordinates, as OpenCV's warpAffine takes them)."""
        cx, cy, w, h = box
        sx, sy = self.config.input_width / w, self.config.input_height / h
        return np.array(
            [
                [sx, 0.0, (self.config.input_width - 1) / 2.0 - sx * cx],
                [0.0, sy, (self.config.input_height - 1) / 2.0 - sy * cy],
            ]
        )

    def _tensor(self, image: ImageArray, affine: FloatArray) -> AnyArray:
        cfg = self.config
        crop = cv2.warpAffine(
            image, affine, (cfg.input_width, cfg.input_height), flags=cv2.INTER_LINEAR
        )
        if cfg.channel_order == "rgb":
            crop = crop[..., ::-1]
        mean = np.asarray(cfg.mean, dtype=np.float32)
        std = np.asarray(cfg.std, dtype=np.float32)
        x: Float32Array = (crop.astype(np.float32) - mean) / std
        return x.transpose(2, 0, 1) if cfg.layout == "nchw" else x

    # -- decoding -----------------------------------------------------------------------------

    def _decode(self, outputs: dict[str, AnyArray]) -> FloatArray:
        """(N, K, 3): x, y in model input pixels and a score in [0, 1]."""
        cfg = self.config
        names = self.model.output_names
        first = np.asarray(outputs[names[0]], dtype=np.float64)
        if cfg.output == "heatmap":
            return _decode_heatmaps(first, cfg.input_width, cfg.input_height)
        if cfg.output == "simcc":
            second = np.asarray(outputs[names[1]], dtype=np.float64)
            return _decode_simcc(first, second, cfg.simcc_split_ratio)
        if first.ndim != 3 or first.shape[-1] not in (2, 3):
            raise ValueError(f"regression output has shape {first.shape}, expected (N, K, 2|3)")
        xy = first[..., :2].copy()
        if cfg.regression_normalised:
            xy *= (cfg.input_width, cfg.input_height)
        score = first[..., 2] if first.shape[-1] == 3 else np.ones(first.shape[:-1])
        return np.concatenate([xy, np.clip(score, 0.0, 1.0)[..., None]], axis=-1)

    # -- detection ----------------------------------------------------------------------------

    def detect(self, views: Sequence[ViewImage]) -> list[People]:
        """Everyone in each view (with a person detector; the largest first), or the one
        person whose crop follows their detection in the camera's last frame."""
        for view in views:
            if view.image is None:
                raise ValueError(f"camera {view.camera_id!r}: the frame has no pixels")
        crops = self._crops(views)
        owners, affines, tensors = [], [], []
        for i, (view, boxes) in enumerate(zip(views, crops, strict=True)):
            for box in boxes:
                assert view.image is not None
                affine = self._affine(box)
                owners.append(i)
                affines.append(affine)
                tensors.append(self._tensor(view.image, affine))
        out: list[People] = [[] for _ in views]
        if not tensors:
            return out
        raw = self._run(np.stack(tensors))
        n_src = len(self.map.source_names)
        if raw.shape[1] != n_src:
            raise ValueError(
                f"onnx detector: model gives {raw.shape[1]} keypoints, "
                f"'{self.config.keypoints}' has {n_src}"
            )
        for i, affine, kp in zip(owners, affines, raw, strict=True):
            found = self._in_image(kp, affine)
            if self.people is None and found.raw is not None:
                self._last[views[i].camera_id] = found.raw
            if (found.confidence > 0).any():
                out[i].append(found)
        return out

    def _crops(self, views: Sequence[ViewImage]) -> list[list[tuple[float, float, float, float]]]:
        """Each view's crops: one per person box, the largest box first (with a person
        detector), else the one :meth:`crop_box`."""
        if self.people is None:
            return [[self.crop_box(view)] for view in views]
        images = [view.image for view in views if view.image is not None]
        crops = []
        for boxes in self.people.boxes(images):
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            crops.append([self.person_crop(boxes[k]) for k in np.argsort(-area, kind="stable")])
        return crops

    def _in_image(self, kp: FloatArray, affine: FloatArray) -> Keypoints:
        """One crop's decoded keypoints (K, 3) in image pixels and the project skeleton."""
        inverse = cv2.invertAffineTransform(affine)
        xy = kp[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        raw_img = np.concatenate([xy, kp[:, 2:3]], axis=1)
        score = np.where(kp[:, 2] >= self.config.min_confidence, kp[:, 2], 0.0)
        points, conf = self.map.apply(np.where(score[:, None] > 0, xy, np.nan), score)
        return Keypoints(points, conf, raw_img)

    def _run(self, batch: AnyArray) -> FloatArray:
        name = self.model.input_names[0]
        if self.batched:
            return self._decode(self.model.run({name: batch}))
        return np.concatenate([self._decode(self.model.run({name: x[None]})) for x in batch])

    def close(self) -> None:
        self._last.clear()


def _decode_heatmaps(maps: FloatArray, input_w: int, input_h: int) -> FloatArray:
    if maps.ndim != 4:
        raise ValueError(f"heatmap output has shape {maps.shape}, expected (N, K, h, w)")
    N, K, h, w = maps.shape
    flat = maps.reshape(N, K, h * w)
    idx = flat.argmax(axis=-1)
    score = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
    y, x = np.divmod(idx, w)
    xf, yf = x.astype(np.float64), y.astype(np.float64)
    n_i, k_i = np.indices((N, K))
    # A quarter cell towards the higher neighbour (the classic sub-cell refinement).
    right = maps[n_i, k_i, y, np.minimum(x + 1, w - 1)]
    left = maps[n_i, k_i, y, np.maximum(x - 1, 0)]
    down = maps[n_i, k_i, np.minimum(y + 1, h - 1), x]
    up = maps[n_i, k_i, np.maximum(y - 1, 0), x]
    xf += 0.25 * np.sign(right - left)
    yf += 0.25 * np.sign(down - up)
    sx, sy = input_w / w, input_h / h
    # Cell centres: cell i covers input pixels [i·s, (i+1)·s).
    xy = np.stack([(xf + 0.5) * sx - 0.5, (yf + 0.5) * sy - 0.5], axis=-1)
    return np.concatenate([xy, np.clip(score, 0.0, 1.0)[..., None]], axis=-1)


def _decode_simcc(x_vec: FloatArray, y_vec: FloatArray, ratio: float) -> FloatArray:
    if x_vec.ndim != 3 or y_vec.ndim != 3:
        raise ValueError(f"simcc outputs have shapes {x_vec.shape}, {y_vec.shape}: need 3-D")
    x = x_vec.argmax(axis=-1) / ratio
    y = y_vec.argmax(axis=-1) / ratio
    score = np.minimum(x_vec.max(axis=-1), y_vec.max(axis=-1))
    return np.stack([x, y, np.clip(score, 0.0, 1.0)], axis=-1)
