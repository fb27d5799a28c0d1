"""Person boxes from an ONNX object detector: what a top-down keypoint model crops around.

The image is letterboxed (scaled to fit the model's input, keeping its aspect, centred on a
grey border) or stretched, normalised like the keypoint model's input, and the outputs are
decoded in one of the layouts detectors are commonly exported with:

* ``yolo``: one output (1, N, 4 + 1 + K) — box centre x, y, width, height, an objectness and
  K class scores (none: objectness alone); score = objectness x the person class's score
  (YOLOv5, YOLOX and their kin);
* ``yolov8``: one output (1, 4 + K, N) — centre, size and K class scores, no objectness
  (YOLOv8 and later, as exported);
* ``dets``: ``dets`` (1, N, 5) corner boxes x1, y1, x2, y2 and a score, with ``labels``
  (1, N) class indices when the model has them (RTMDet and YOLOX through MMDeploy).

Boxes of the person class above ``min_score`` are kept, overlapping ones suppressed (``yolo``
and ``yolov8`` come before non-maximum suppression; ``dets`` usually after it, and the
suppression then changes nothing), and mapped back to image pixels, best first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from syncpose.arrays import AnyArray, FloatArray, ImageArray
from syncpose.config import OnnxPersonDetectorConfig
from syncpose.inference.runtime import OnnxModel


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the model's input: input = image x ``scale`` + ``pad``."""

    scale: tuple[float, float]
    pad: tuple[float, float]

    def to_image(self, boxes: FloatArray) -> FloatArray:
        """Corner boxes (N, 4) in model input pixels, in image pixels."""
        sx, sy = self.scale
        px, py = self.pad
        return (boxes - (px, py, px, py)) / (sx, sy, sx, sy)


class PersonBoxDetector:
    """Runs ``config.model`` on whole images; :meth:`boxes` gives each image's people."""

    def __init__(self, config: OnnxPersonDetectorConfig, prefer: str = "auto") -> None:
        if not config.model.is_file():
            raise FileNotFoundError(f"person detector: model file {config.model} not found")
        self.config = config
        self.model = OnnxModel(config.model, prefer)
        if len(self.model.input_names) != 1:
            raise ValueError(
                f"person detector {config.model}: expected one input, got {self.model.input_names}"
            )
        batch_dim = self.model.session.get_inputs()[0].shape[0]
        self.batched = not (isinstance(batch_dim, int) and batch_dim == 1)

    def fit(self, image: ImageArray) -> tuple[AnyArray, Letterbox]:
        """The model's input tensor for ``image`` (BGR uint8) and how it was fitted."""
        cfg = self.config
        h, w = image.shape[:2]
        iw, ih = cfg.input_width, cfg.input_height
        if cfg.resize == "letterbox":
            s = min(iw / w, ih / h)
            nw, nh = max(1, round(w * s)), max(1, round(h * s))
            px, py = (iw - nw) // 2, (ih - nh) // 2
            canvas: ImageArray = np.full((ih, iw, 3), cfg.pad_value, np.uint8)
            canvas[py : py + nh, px : px + nw] = cv2.resize(image, (nw, nh))
            box = Letterbox((nw / w, nh / h), (float(px), float(py)))
        else:
            canvas = np.asarray(cv2.resize(image, (iw, ih)), np.uint8)
            box = Letterbox((iw / w, ih / h), (0.0, 0.0))
        if cfg.channel_order == "rgb":
            canvas = canvas[..., ::-1]
        x = (canvas.astype(np.float32) - np.asarray(cfg.mean, np.float32)) / np.asarray(
            cfg.std, np.float32
        )
        return (x.transpose(2, 0, 1) if cfg.layout == "nchw" else x), box

    def boxes(self, images: Sequence[ImageArray]) -> list[FloatArray]:
        """Per image, its person boxes (N, 5): x1, y1, x2, y2 in image pixels and the score,
        best first (at most ``config.max_boxes``)."""
        if not images:
            return []
        fitted = [self.fit(image) for image in images]
        name = self.model.input_names[0]
        batch = np.stack([x for x, _ in fitted])
        if self.batched:
            runs = [self.model.run({name: batch})]
        else:
            runs = [self.model.run({name: x[None]}) for x in batch]
        per_image: list[FloatArray] = []
        for outputs in runs:
            per_image.extend(self.decode(outputs))
        if len(per_image) != len(images):
            raise ValueError(
                f"person detector {self.config.model}: {len(images)} image(s) in, "
                f"{len(per_image)} result(s) out"
            )
        out = []
        for found, (_, box), image in zip(per_image, fitted, images, strict=True):
            h, w = image.shape[:2]
            found[:, :4] = box.to_image(found[:, :4])
            found[:, [0, 2]] = found[:, [0, 2]].clip(0.0, w - 1.0)
            found[:, [1, 3]] = found[:, [1, 3]].clip(0.0, h - 1.0)
            out.append(found)
        return out

    def decode(self, outputs: dict[str, AnyArray]) -> list[FloatArray]:
        """Per batch item, the kept boxes (N, 5) in model input pixels, best first."""
        cfg = self.config
        names = self.model.output_names
        if cfg.output == "dets":
            dets_name = "dets" if "dets" in outputs else names[0]
            rest = [n for n in names if n != dets_name]
            labels_name = "labels" if "labels" in outputs else (rest[0] if rest else None)
            labels = None if labels_name is None else np.asarray(outputs[labels_name])
            return decode_dets(np.asarray(outputs[dets_name], np.float64), labels, cfg)
        first = np.asarray(outputs[names[0]], np.float64)
        return decode_yolo(first, cfg)


def decode_yolo(out: FloatArray, cfg: OnnxPersonDetectorConfig) -> list[FloatArray]:
    """``out`` in the ``yolo`` (B, N, 4 + 1 + K) or ``yolov8`` (B, 4 + K, N) layout."""
    if out.ndim == 2:
        out = out[None]
    if out.ndim != 3:
        raise ValueError(f"person detector: output of shape {out.shape}, expected (B, N, C)")
    if cfg.output == "yolov8":
        out = out.transpose(0, 2, 1)
        first_class = 4
    else:
        first_class = 5
    if out.shape[-1] < first_class:
        raise ValueError(
            f"person detector: '{cfg.output}' rows need at least {first_class} values, the "
            f"output has shape {out.shape}"
        )
    n_classes = out.shape[-1] - first_class
    if n_classes and cfg.person_class >= n_classes:
        raise ValueError(
            f"person detector: person class {cfg.person_class}, the model has {n_classes}"
        )
    results = []
    for rows in out:
        score = rows[:, 4] if cfg.output == "yolo" else np.ones(len(rows))
        if n_classes:
            cls = rows[:, first_class:]
            best = cls.argmax(axis=1)
            score = score * np.where(best == cfg.person_class, cls[:, cfg.person_class], 0.0)
        cx, cy, w, h = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
        corners = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        results.append(_kept(corners, score, cfg))
    return results


def decode_dets(
    dets: FloatArray, labels: AnyArray | None, cfg: OnnxPersonDetectorConfig
) -> list[FloatArray]:
    """``dets`` (B, N, 5) corner boxes and scores, ``labels`` (B, N) or None (one class)."""
    if dets.ndim == 2:
        dets = dets[None]
        labels = None if labels is None else labels[None]
    if dets.ndim != 3 or dets.shape[-1] < 5:
        raise ValueError(f"person detector: dets of shape {dets.shape}, expected (B, N, 5)")
    if labels is not None and labels.shape != dets.shape[:2]:
        raise ValueError(
            f"person detector: labels of shape {labels.shape} for dets of shape {dets.shape}"
        )
    results = []
    for b, rows in enumerate(dets):
        score = rows[:, 4].copy()
        if labels is not None:
            score[np.asarray(labels[b]).astype(np.int64) != cfg.person_class] = 0.0
        results.append(_kept(rows[:, :4], score, cfg))
    return results


def _kept(corners: FloatArray, score: FloatArray, cfg: OnnxPersonDetectorConfig) -> FloatArray:
    """The boxes above ``min_score`` after non-maximum suppression, best first, (N, 5)."""
    if cfg.boxes_normalised:
        iw, ih = cfg.input_width, cfg.input_height
        corners = corners * (iw, ih, iw, ih)
    good = np.flatnonzero(
        (score >= cfg.min_score)
        & np.isfinite(corners).all(axis=1)
        & (corners[:, 2] > corners[:, 0])
        & (corners[:, 3] > corners[:, 1])
    )
    if not len(good):
        return np.zeros((0, 5))
    xywh = np.column_stack([corners[good, :2], corners[good, 2:] - corners[good, :2]])
    keep = cv2.dnn.NMSBoxes(
        xywh.tolist(), score[good].tolist(), float(cfg.min_score), float(cfg.nms_iou)
    )
    idx = good[np.asarray(keep, dtype=np.int64).reshape(-1)]
    idx = idx[np.argsort(-score[idx], kind="stable")][: cfg.max_boxes]
    return np.column_stack([corners[idx], score[idx]])
