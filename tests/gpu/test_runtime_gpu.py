"""On a machine with an NVIDIA GPU, the ONNX runtime must really run on it (skipped elsewhere)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from syncpose.inference.runtime import open_session
from tests.unit.test_runtime import tiny_model


def _has_nvidia_gpu() -> bool:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    return subprocess.run([smi, "-L"], capture_output=True, check=False, timeout=20).returncode == 0


pytestmark = pytest.mark.skipif(not _has_nvidia_gpu(), reason="no NVIDIA GPU on this machine")


def test_probe_chooses_a_gpu_provider() -> None:
    session, choice = open_session(tiny_model())
    assert choice.provider in ("TensorrtExecutionProvider", "CUDAExecutionProvider"), (
        choice.describe()
    )
    assert session.get_providers()[0] == choice.provider
