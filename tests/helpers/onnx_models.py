"""Tiny keypoint models in ONNX, generated for the tests (no weights to download).

Every model looks at its input's three channels: keypoint ``k`` is wherever channel ``k % 3``
(in the model's channel order) is brightest. Drawing one bright blob per channel therefore
gives known keypoints, and decoding, crops, channel order and batching can all be checked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _selector(n_keypoints: int) -> onnx.TensorProto:
    """1x1 convolution weights (K, 3, 1, 1): keypoint k copies channel k % 3."""
    w = np.zeros((n_keypoints, 3, 1, 1), dtype=np.float32)
    for k in range(n_keypoints):
        w[k, k % 3] = 1.0
    return numpy_helper.from_array(w, "select")


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _input(height: int, width: int, batch: int | str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, height, width])


def heatmap_model(
    path: Path, n_keypoints: int, height: int, width: int, stride: int = 4, batch: int | str = "N"
) -> Path:
    """(N, 3, H, W) -> heatmaps (N, K, H/stride, W/stride)."""
    nodes = [
        helper.make_node("Conv", ["image", "select"], ["chan"]),
        helper.make_node(
            "AveragePool",
            ["chan"],
            ["heatmaps"],
            kernel_shape=[stride, stride],
            strides=[stride, stride],
        ),
    ]
    out = helper.make_tensor_value_info(
        "heatmaps", TensorProto.FLOAT, [batch, n_keypoints, height // stride, width // stride]
    )
    graph = helper.make_graph(
        nodes, "heatmap", [_input(height, width, batch)], [out], [_selector(n_keypoints)]
    )
    return _save(graph, path)


def simcc_model(path: Path, n_keypoints: int, height: int, width: int, ratio: int = 2) -> Path:
    """(N, 3, H, W) -> x (N, K, W*ratio) and y (N, K, H*ratio) vectors."""
    scales = numpy_helper.from_array(np.array([1, 1, ratio], dtype=np.float32), "scales")
    nodes = [
        helper.make_node("Conv", ["image", "select"], ["chan"]),
        helper.make_node("ReduceMax", ["chan"], ["x_raw"], axes=[2], keepdims=0),
        helper.make_node("ReduceMax", ["chan"], ["y_raw"], axes=[3], keepdims=0),
        helper.make_node("Resize", ["x_raw", "", "scales"], ["simcc_x"], mode="nearest"),
        helper.make_node("Resize", ["y_raw", "", "scales"], ["simcc_y"], mode="nearest"),
    ]
    outs = [
        helper.make_tensor_value_info(
            "simcc_x", TensorProto.FLOAT, ["N", n_keypoints, width * ratio]
        ),
        helper.make_tensor_value_info(
            "simcc_y", TensorProto.FLOAT, ["N", n_keypoints, height * ratio]
        ),
    ]
    graph = helper.make_graph(
        nodes, "simcc", [_input(height, width, "N")], outs, [_selector(n_keypoints), scales]
    )
    return _save(graph, path)


def regression_model(path: Path, n_keypoints: int, height: int, width: int) -> Path:
    """(N, 3, H, W) -> (N, K, 3): soft-argmax coordinates as fractions of the input (pixel
    index / size), and the peak value as score."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    grid = np.stack([xs.ravel() / width, ys.ravel() / height], axis=1)
    inits = [
        _selector(n_keypoints),
        numpy_helper.from_array(grid, "grid"),
        numpy_helper.from_array(np.array([0, n_keypoints, height * width], np.int64), "flat"),
        numpy_helper.from_array(np.array(20.0, np.float32), "sharp"),
    ]
    nodes = [
        helper.make_node("Conv", ["image", "select"], ["chan"]),
        helper.make_node("Reshape", ["chan", "flat"], ["flat_maps"]),
        helper.make_node("Mul", ["flat_maps", "sharp"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["weights"], axis=-1),
        helper.make_node("MatMul", ["weights", "grid"], ["xy"]),
        helper.make_node("ReduceMax", ["flat_maps"], ["score"], axes=[2], keepdims=1),
        helper.make_node("Concat", ["xy", "score"], ["keypoints"], axis=2),
    ]
    out = helper.make_tensor_value_info("keypoints", TensorProto.FLOAT, ["N", n_keypoints, 3])
    graph = helper.make_graph(nodes, "regression", [_input(height, width, "N")], [out], inits)
    return _save(graph, path)


def blob_image(
    height: int, width: int, centres_bgr: list[tuple[float, float]], sigma: float = 10.0
) -> np.ndarray:
    """A black BGR image with one Gaussian blob (peak 255) per channel at ``centres_bgr``
    (x, y) — blue, green, red."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, 3), np.uint8)
    for c, (x, y) in enumerate(centres_bgr):
        img[..., c] = np.round(255.0 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)))
    return img


def person_model(
    path: Path,
    layout: str,
    height: int,
    width: int,
    box_wh: tuple[float, float],
    batch: int | str = "N",
) -> Path:
    """A person detector (N, 3, H, W) -> boxes in ``layout`` (``yolo``, ``yolov8``, ``dets``)
    that finds one person per half of its input: the brightness centroid of the left and of
    the right half, a box of ``box_wh`` input pixels around each, scored by the half's peak
    (1 for a blob of 255 when inputs are divided by 255). Two more rows test the decoders'
    filters: the left person again, scored 0.9 of it (non-maximum suppression must remove
    it), and the right person as class 1 (not a person: class 0)."""
    hw = height * width
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    left = (xs < width / 2).astype(np.float32).ravel()
    consts = {
        "ones3": np.ones((1, 3, 1, 1), np.float32),
        "flat": np.array([0, 1, hw], np.int64),
        "masks": np.stack([left, 1.0 - left, 0.9 * left, 1.0 - left]),  # (4, HW)
        "grid": np.stack([xs.ravel(), ys.ravel()], axis=1),  # (HW, 2) input pixels
        "ones_hw": np.ones((hw, 1), np.float32),
        "zero": np.array(0.0, np.float32),
        "wh": np.array([[list(box_wh)]], np.float32),
        "classes": np.array([[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.1, 0.95]]], np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["image", "ones3"], ["bright"]),  # (N, 1, H, W)
        helper.make_node("Reshape", ["bright", "flat"], ["flat_b"]),  # (N, 1, HW)
        helper.make_node("Mul", ["flat_b", "masks"], ["halves"]),  # (N, 4, HW)
        helper.make_node("MatMul", ["halves", "ones_hw"], ["mass"]),  # (N, 4, 1)
        helper.make_node("MatMul", ["halves", "grid"], ["moment"]),  # (N, 4, 2)
        helper.make_node("Div", ["moment", "mass"], ["centre"]),  # (N, 4, 2)
        helper.make_node("ReduceMax", ["halves"], ["peak"], axes=[2], keepdims=1),  # (N, 4, 1)
        helper.make_node("Mul", ["centre", "zero"], ["zeros"]),  # (N, 4, 2)
        helper.make_node("Add", ["zeros", "wh"], ["size"]),
    ]
    if layout == "yolo":
        nodes += [
            helper.make_node("Add", ["zeros", "classes"], ["cls"]),
            helper.make_node("Concat", ["centre", "size", "peak", "cls"], ["boxes"], axis=2),
        ]
        outs = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [batch, 4, 7])]
    elif layout == "yolov8":
        nodes += [
            helper.make_node("Mul", ["peak", "classes"], ["cls"]),
            helper.make_node("Concat", ["centre", "size", "cls"], ["rows"], axis=2),
            helper.make_node("Transpose", ["rows"], ["boxes"], perm=[0, 2, 1]),
        ]
        outs = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [batch, 6, 4])]
    else:
        consts.update(
            half=np.array(0.5, np.float32), label_ids=np.array([0.0, 0, 0, 1], np.float32)
        )
        nodes += [
            helper.make_node("Mul", ["size", "half"], ["half_size"]),
            helper.make_node("Sub", ["centre", "half_size"], ["lo"]),
            helper.make_node("Add", ["centre", "half_size"], ["hi"]),
            helper.make_node("Concat", ["lo", "hi", "peak"], ["dets"], axis=2),
            helper.make_node("ReduceMax", ["halves"], ["peak_flat"], axes=[2], keepdims=0),
            helper.make_node("Mul", ["peak_flat", "zero"], ["no_label"]),  # (N, 4)
            helper.make_node("Add", ["no_label", "label_ids"], ["label_values"]),
            helper.make_node("Cast", ["label_values"], ["labels"], to=TensorProto.INT64),
        ]
        outs = [
            helper.make_tensor_value_info("dets", TensorProto.FLOAT, [batch, 4, 5]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, [batch, 4]),
        ]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()]
    graph = helper.make_graph(nodes, "person", [_input(height, width, batch)], outs, inits)
    return _save(graph, path)
