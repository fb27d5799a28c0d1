"""Bundle-by-bundle 3D pose: the fusion core of the inference worker (no I/O, no processes).

:class:`PoseEngine` keeps the last few ticks of 2D keypoints per camera, and for each new
bundle builds exactly the inputs the batch path builds (:func:`sequence_inputs` over the same
frames: one code path for live use, offline reconstruction and the benchmark), runs the
denoiser — or, with no model, the time-aware triangulation — and an optional One-Euro filter.
A bundle that cannot give a pose (fewer than two usable views, nothing triangulated) gives NaN
joints and a reason, never an exception.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from syncpose.arrays import FloatArray
from syncpose.calibration.triangulate import triangulate
from syncpose.camera import Rig
from syncpose.inference.baselines import reject_px
from syncpose.inference.denoiser.features import (
    HISTORY,
    DenoiserInputs,
    initial_estimate,
    sequence_inputs,
)
from syncpose.inference.denoiser.runtime import DenoiserRuntime
from syncpose.inference.filters import OneEuro, OneEuroConfig
from syncpose.skeleton import JOINTS


@dataclass(frozen=True)
class ViewKeypoints:
    """One camera's detection in a bundle: ``points`` (J, 2) pixels (NaN = not found),
    ``confidence`` (J,), ``t_capture_s`` on the aligner's clock."""

    points: FloatArray
    confidence: FloatArray
    t_capture_s: float


@dataclass
class EngineResult:
    """``pose`` (J, 3) metres and ``uncertainty`` (J,) metres (NaN where not estimated)."""

    t_ref_s: float
    pose: FloatArray
    uncertainty: FloatArray
    views_used: list[str]
    method: str
    reason: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class _Tick:
    t_ref: float
    points: FloatArray  # (V, J, 2)
    confidence: FloatArray  # (V, J)
    t_capture: FloatArray  # (V,)
    init: FloatArray  # (J, 3)


@dataclass
class _Pending:
    """A bundle prepared for the denoiser (see :meth:`PoseEngine.prepare`)."""

    t_ref_s: float
    inputs: DenoiserInputs
    usable: list[str]
    timings: dict[str, float]


class PoseEngine:
    """Fuse bundles of one rig. ``denoiser`` None: time-aware triangulation only; and with
    ``time_aware`` False, plain DLT on the bundle's frames as they are (the baseline)."""

    def __init__(
        self,
        rig: Rig,
        denoiser: DenoiserRuntime | None = None,
        smoothing: OneEuroConfig | None = None,
        min_views: int = 2,
        time_aware: bool = True,
    ) -> None:
        if denoiser is not None and not time_aware:
            raise ValueError("the denoiser starts from the time-aware triangulation")
        self.rig = rig
        self.denoiser = denoiser
        self.time_aware = time_aware
        self.smoothing = smoothing
        self.filter = OneEuro(smoothing) if smoothing is not None else None
        self.min_views = min_views
        self._window: deque[_Tick] = deque(maxlen=HISTORY + 2)
        self._index = {name: i for i, name in enumerate(rig.names)}
        self.last_inputs: DenoiserInputs | None = None  # what the denoiser saw last (diagnostics)

    @property
    def method(self) -> str:
        if self.denoiser is not None:
            return "denoiser"
        return "time_aware" if self.time_aware else "dlt"

    def spawn(self) -> PoseEngine:
        """A fresh engine like this one (same rig, denoiser and settings; no history): one per
        tracked person, sharing the denoiser's session."""
        return PoseEngine(self.rig, self.denoiser, self.smoothing, self.min_views, self.time_aware)

    def step(self, t_ref_s: float, views: Mapping[str, ViewKeypoints | None]) -> EngineResult:
        """Fuse one bundle (``views`` by camera name; missing cameras may be absent or None)."""
        return step_many([self], [(t_ref_s, views)])[0]

    def prepare(
        self, t_ref_s: float, views: Mapping[str, ViewKeypoints | None]
    ) -> EngineResult | _Pending:
        """The first half of :meth:`step`: the bundle taken into the history and triangulated;
        either the result (no denoiser, or no pose possible) or what the denoiser must refine."""
        unknown = set(views) - set(self._index)
        if unknown:
            raise ValueError(
                f"bundle has camera(s) {sorted(unknown)} not in the rig {self.rig.names}"
            )
        t0 = time.perf_counter()
        V, J = len(self.rig.cameras), len(JOINTS)
        points = np.full((V, J, 2), np.nan)
        conf = np.zeros((V, J))
        t_cap = np.full(V, np.nan)
        for name, kp in views.items():
            if kp is None:
                continue
            v = self._index[name]
            points[v], conf[v], t_cap[v] = kp.points, kp.confidence, kp.t_capture_s
        usable = [
            name
            for name, v in self._index.items()
            if np.isfinite(t_cap[v]) and ((conf[v] > 0) & np.isfinite(points[v]).all(-1)).any()
        ]
        prev = self._window[-1] if self._window else None
        pts_pair = np.stack([prev.points if prev else np.full_like(points, np.nan), points], 1)
        conf_pair = np.stack([prev.confidence if prev else np.zeros_like(conf), conf], 1)
        t_pair = np.stack([prev.t_capture if prev else np.full_like(t_cap, np.nan), t_cap], 1)
        t_ref_pair = np.array([prev.t_ref if prev else t_ref_s - 1.0, t_ref_s])
        if self.time_aware:
            init = initial_estimate(self.rig, pts_pair, conf_pair, t_pair, t_ref_pair)[1]
        else:
            init = triangulate(self.rig, points, conf, max_error_px=reject_px(self.rig)).points
        self._window.append(_Tick(t_ref_s, points, conf, t_cap, init))
        timings = {"fuse": (time.perf_counter() - t0) * 1000.0}

        nan_pose = np.full((J, 3), np.nan)
        if len(usable) < self.min_views or not np.isfinite(init).all(-1).any():
            reason = (
                f"{len(usable)} usable view(s), need {self.min_views}"
                if len(usable) < self.min_views
                else "no joint seen by two views"
            )
            return self._finish(t_ref_s, nan_pose, np.full(J, np.nan), usable, reason, timings)
        if self.denoiser is None:
            return self._finish(t_ref_s, init, np.full(J, np.nan), usable, None, timings)
        w = list(self._window)
        inputs = sequence_inputs(
            self.rig,
            np.stack([t.points for t in w], axis=1),
            np.stack([t.confidence for t in w], axis=1),
            np.stack([t.t_capture for t in w], axis=1),
            np.array([t.t_ref for t in w]),
            init=np.stack([t.init for t in w]),
            last_only=True,
        )
        self.last_inputs = inputs
        return _Pending(t_ref_s, inputs, usable, timings)

    def complete(
        self, pending: _Pending, pose: FloatArray, uncertainty: FloatArray
    ) -> EngineResult:
        """The second half of :meth:`step`: the denoiser's ``pose`` (J, 3) for ``pending``."""
        return self._finish(
            pending.t_ref_s, pose, uncertainty, pending.usable, None, pending.timings
        )

    def _finish(
        self,
        t_ref_s: float,
        pose: FloatArray,
        uncertainty: FloatArray,
        usable: list[str],
        reason: str | None,
        timings: dict[str, float],
    ) -> EngineResult:
        if self.filter is not None:
            t0 = time.perf_counter()
            pose = self.filter(pose, t_ref_s)
            timings["filter"] = (time.perf_counter() - t0) * 1000.0
        return EngineResult(t_ref_s, pose, uncertainty, usable, self.method, reason, timings)


def step_many(
    engines: Sequence[PoseEngine],
    bundles: Sequence[tuple[float, Mapping[str, ViewKeypoints | None]]],
) -> list[EngineResult]:
    """One bundle for each engine (one person each), the denoiser run once for all of them
    (engines sharing one runtime, as :meth:`PoseEngine.spawn` makes them, share a batch)."""
    prepared = [e.prepare(t, views) for e, (t, views) in zip(engines, bundles, strict=True)]
    out: list[EngineResult | None] = [p if isinstance(p, EngineResult) else None for p in prepared]
    waiting = [i for i, p in enumerate(prepared) if isinstance(p, _Pending)]
    by_runtime: dict[int, list[int]] = {}
    for i in waiting:
        by_runtime.setdefault(id(engines[i].denoiser), []).append(i)
    for group in by_runtime.values():
        runtime = engines[group[0]].denoiser
        assert runtime is not None
        pending = [prepared[i] for i in group]
        t0 = time.perf_counter()
        refined = runtime.refine(
            DenoiserInputs.concat([p.inputs for p in pending if isinstance(p, _Pending)])
        )
        ms = (time.perf_counter() - t0) * 1000.0
        for k, (i, p) in enumerate(zip(group, pending, strict=True)):
            assert isinstance(p, _Pending)
            p.timings["denoise"] = ms
            out[i] = engines[i].complete(p, refined.pose[k], refined.uncertainty[k])
    return [r for r in out if r is not None]
