"""ONNX models through onnxruntime, on the best execution provider that really works.

``onnxruntime-gpu`` lists ``TensorrtExecutionProvider`` and ``CUDAExecutionProvider`` as
available even on a machine without CUDA, then quietly falls back to the CPU when a session is
created. So providers are *probed*: a session is created with each candidate in order of
preference, and only the provider the session actually reports (``get_providers()``) counts.
The choice and the reason for every rejected candidate are kept, to be reported.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from syncpose.arrays import AnyArray

logger = logging.getLogger(__name__)

# onnxruntime's own failure types derive from Exception directly.
_ORT_ERRORS: tuple[type[Exception], ...] = (
    RuntimeError,
    ValueError,
    *(
        getattr(ort.capi.onnxruntime_pybind11_state, name)
        for name in ("Fail", "EPFail", "RuntimeException", "InvalidArgument", "NotImplemented")
        if hasattr(ort.capi.onnxruntime_pybind11_state, name)
    ),
)

PREFERENCE: tuple[str, ...] = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)


@dataclass(frozen=True)
class ProviderChoice:
    """The provider a model runs on and why the others were not used."""

    provider: str
    rejected: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        others = "; ".join(f"{p}: {why}" for p, why in self.rejected.items())
        return self.provider + (f" (not used: {others})" if others else "")


def _session(
    model: bytes | str, providers: Sequence[str], quiet: bool, threads: int = 0
) -> ort.InferenceSession:
    options = ort.SessionOptions()
    if quiet:
        options.log_severity_level = 4  # probing failures are expected: keep them off the log
    if threads:
        # A small model in a busy process: a few threads that sleep between runs instead of
        # spinning (onnxruntime's default spin-waits, burning the cores the detector needs).
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, sess_options=options, providers=list(providers))


def open_session(
    model: bytes | str | Path, prefer: str = "auto", threads: int = 0
) -> tuple[ort.InferenceSession, ProviderChoice]:
    """A session on the best working provider. ``prefer``: ``auto`` or a provider name
    (``cpu``, ``cuda``, ``tensorrt`` or the full onnxruntime name) to try first. ``threads``:
    CPU threads (0: onnxruntime's default, one per core, spinning between runs)."""
    source = str(model) if isinstance(model, Path) else model
    available = ort.get_available_providers()
    order = [p for p in PREFERENCE if p in available]
    if prefer != "auto":
        wanted = next(
            (p for p in PREFERENCE if prefer.lower() in (p.lower(), p[:-17].lower())), None
        )
        if wanted is None:
            raise ValueError(
                f"unknown provider {prefer!r}; choose auto or one of {list(PREFERENCE)}"
            )
        if wanted not in available:
            raise ValueError(f"{wanted} is not in this onnxruntime build ({available})")
        order = [wanted, *[p for p in order if p != wanted]]
    rejected: dict[str, str] = {}
    for provider in order:
        if provider == "CPUExecutionProvider":
            session = _session(source, [provider], quiet=False, threads=threads)
            return session, ProviderChoice(provider, rejected)
        # Failed provider libraries are logged by onnxruntime's default logger, not the
        # session's: silence it while probing (the reason is kept in ``rejected``).
        # onnxruntime's Python layer also prints its fallback to stdout: keep that off too.
        ort.set_default_logger_severity(4)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                session = _session(
                    source, [provider, "CPUExecutionProvider"], quiet=True, threads=threads
                )
        except _ORT_ERRORS as exc:
            rejected[provider] = f"session creation failed: {str(exc).splitlines()[0][:200]}"
            continue
        finally:
            ort.set_default_logger_severity(2)
        actual = session.get_providers()[0]
        if actual == provider:
            return session, ProviderChoice(provider, rejected)
        rejected[provider] = f"listed but not loadable (the session fell back to {actual})"
    raise RuntimeError(f"no usable execution provider (tried {order}): {rejected}")


class OnnxModel:
    """An ONNX model with named inputs and outputs, run in batches."""

    def __init__(self, model: bytes | str | Path, prefer: str = "auto", threads: int = 0) -> None:
        self.session, self.choice = open_session(model, prefer, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        logger.debug("onnx model on %s", self.choice.describe())

    @property
    def provider(self) -> str:
        return self.choice.provider

    def run(self, inputs: Mapping[str, npt.ArrayLike]) -> dict[str, AnyArray]:
        missing = set(self.input_names) - set(inputs)
        if missing:
            raise ValueError(
                f"missing model input(s) {sorted(missing)}; expects {self.input_names}"
            )
        feed = {name: np.ascontiguousarray(inputs[name]) for name in self.input_names}
        outputs = self.session.run(self.output_names, feed)
        return dict(zip(self.output_names, outputs, strict=True))
