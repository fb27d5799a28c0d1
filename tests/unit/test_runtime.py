"""ONNX models on the execution provider that really works."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from syncpose.inference.runtime import OnnxModel, open_session

onnx = pytest.importorskip("onnx", reason="onnx is not installed")


def tiny_model() -> bytes:
    """y = x @ W + b with a dynamic batch dimension."""
    from onnx import TensorProto, helper, numpy_helper

    W = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "W")
    b = numpy_helper.from_array(np.array([1.0, -1.0, 0.5], dtype=np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["y"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[W, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def test_probing_picks_a_provider_that_really_runs_and_says_why_not_others() -> None:
    session, choice = open_session(tiny_model())
    assert session.get_providers()[0] == choice.provider  # what runs is what is reported
    listed = ort.get_available_providers()
    for provider in listed[: listed.index(choice.provider)]:
        assert provider in choice.rejected  # every better-ranked provider has its reason
    assert choice.provider in choice.describe()


def test_batch_run_and_input_checks() -> None:
    model = OnnxModel(tiny_model(), prefer="cpu")
    assert model.provider == "CPUExecutionProvider" and model.input_names == ["x"]
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    W = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_allclose(model.run({"x": x})["y"], x @ W + [1.0, -1.0, 0.5], rtol=1e-5)
    with pytest.raises(ValueError, match=r"missing model input\(s\) \['x'\]"):
        model.run({"z": x})
    with pytest.raises(ValueError, match="unknown provider 'npu'"):
        OnnxModel(tiny_model(), prefer="npu")
