"""The calibration wizard's engine: a pure state machine, no I/O inside.

Steps, in order::

    BOARD -> INTRINSICS -> EXTRINSICS -> REVIEW -> FLOOR -> SAVE -> DONE

A driver (the ``syncpose calibrate`` command now, the web UI later) reads frames, detects the
board (:func:`syncpose.calibration.intrinsics.observe`), feeds the views in, and shows
:meth:`CalibrationWizard.status` — which always says what is still missing, in words
("camera cam3 has seen the board in the left third of the image only"). The wizard returns the
rig; saving it is the driver's business.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from syncpose.calibration.boards import BoardDetector, BoardSpec, Detection
from syncpose.calibration.extrinsics import ExtrinsicsResult, calibrate_extrinsics, reframe
from syncpose.calibration.intrinsics import (
    BoardView,
    CalibrationError,
    IntrinsicsResult,
    calibrate_intrinsics,
    coverage_feedback,
    coverage_map,
)
from syncpose.camera import Camera, Rig


class Step(Enum):
    BOARD = "board"
    INTRINSICS = "intrinsics"
    EXTRINSICS = "extrinsics"
    REVIEW = "review"
    FLOOR = "floor"
    SAVE = "save"
    DONE = "done"


class WizardError(RuntimeError):
    """An action that does not fit the current step."""


@dataclass
class WizardStatus:
    """Where the wizard is and what it still needs."""

    step: Step
    ready: bool  # the current step has what it needs to move on
    missing: list[str]
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class CalibrationWizard:
    """Drive a calibration step by step. ``sizes``: each camera's image size (width, height)."""

    sizes: Mapping[str, tuple[int, int]]
    min_views: int = 8
    min_shared_frames: int = 5
    step: Step = Step.BOARD
    spec: BoardSpec | None = None
    views: dict[str, list[BoardView]] = field(default_factory=dict)
    intrinsics: dict[str, IntrinsicsResult] = field(default_factory=dict)
    frames: dict[Any, dict[str, Detection]] = field(default_factory=dict)
    extrinsics: ExtrinsicsResult | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def cameras(self) -> list[str]:
        return list(self.sizes)

    def _expect(self, *steps: Step) -> None:
        if self.step not in steps:
            wanted = " or ".join(s.value for s in steps)
            raise WizardError(f"this needs the {wanted} step; the wizard is at {self.step.value}")

    @property
    def detector(self) -> BoardDetector:
        if self.spec is None:
            raise WizardError("no board chosen yet")
        return BoardDetector(self.spec)

    # -- BOARD -----------------------------------------------------------------------------------

    def choose_board(self, spec: BoardSpec) -> None:
        self._expect(Step.BOARD, Step.INTRINSICS)
        self.spec = spec
        self.views = {c: [] for c in self.cameras}
        self.step = Step.INTRINSICS

    # -- INTRINSICS ------------------------------------------------------------------------------

    def add_view(self, camera: str, view: BoardView) -> list[str]:
        """One board view for ``camera``'s intrinsics; returns that camera's coverage feedback."""
        self._expect(Step.INTRINSICS)
        if camera not in self.views:
            raise WizardError(f"unknown camera {camera!r}; cameras are {self.cameras}")
        self.views[camera].append(view)
        return self._camera_feedback(camera)

    def _usable_views(self, camera: str) -> list[BoardView]:
        return [v for v in self.views.get(camera, []) if v.detection.count >= 6]

    def _camera_feedback(self, camera: str) -> list[str]:
        usable = self._usable_views(camera)
        out = coverage_feedback(camera, coverage_map(usable, self.sizes[camera]))
        if len(usable) < self.min_views:
            out.append(f"camera {camera} needs {self.min_views - len(usable)} more board views")
        return out

    def finish_intrinsics(self) -> dict[str, IntrinsicsResult]:
        """Calibrate every camera; a camera that fails keeps the wizard here, with its reason."""
        self._expect(Step.INTRINSICS)
        self.errors = {}
        for cam in self.cameras:
            try:
                self.intrinsics[cam] = calibrate_intrinsics(
                    cam, self.views[cam], self.detector, self.sizes[cam], min_views=4
                )
            except CalibrationError as exc:
                self.errors[cam] = str(exc)
        if not self.errors:
            self.step = Step.EXTRINSICS
        return dict(self.intrinsics)

    # -- EXTRINSICS ------------------------------------------------------------------------------

    def add_frame(self, key: Any, detections: Mapping[str, Detection]) -> None:
        """The board as seen by the cameras at one moment (``key`` names the moment)."""
        self._expect(Step.EXTRINSICS)
        unknown = set(detections) - set(self.cameras)
        if unknown:
            raise WizardError(f"unknown camera(s) {sorted(unknown)}")
        self.frames[key] = {c: d for c, d in detections.items() if d.count >= 6}

    def _shared_counts(self) -> dict[str, int]:
        return {
            cam: sum(1 for f in self.frames.values() if cam in f and len(f) >= 2)
            for cam in self.cameras
        }

    def solve(self) -> ExtrinsicsResult:
        """Camera poses and bundle adjustment; on failure the wizard stays here, saying why."""
        self._expect(Step.EXTRINSICS, Step.REVIEW)
        shared = self._shared_counts()
        short = [c for c, n in shared.items() if n < self.min_shared_frames]
        if short:
            raise CalibrationError(
                "; ".join(
                    f"camera {c} has seen the board together with another camera in "
                    f"{shared[c]} frames (need {self.min_shared_frames})"
                    for c in short
                )
            )
        cams: list[Camera] = [self.intrinsics[c].camera for c in self.cameras]
        detections = {c: {k: f[c] for k, f in self.frames.items() if c in f} for c in self.cameras}
        self.extrinsics = calibrate_extrinsics(cams, detections, self.detector)
        self.step = Step.REVIEW
        return self.extrinsics

    # -- REVIEW, FLOOR, SAVE -----------------------------------------------------------------------

    def review(self) -> dict[str, float]:
        """Per-camera reprojection error (px) of the solved rig."""
        self._expect(Step.REVIEW)
        assert self.extrinsics is not None
        return dict(self.extrinsics.rms_px)

    def redo_intrinsics(self, cameras: Sequence[str]) -> None:
        """Back to the intrinsics step for ``cameras`` (their views are cleared)."""
        self._expect(Step.REVIEW)
        for c in cameras:
            self.views[c] = []
            self.intrinsics.pop(c, None)
        self.frames = {}
        self.extrinsics = None
        self.step = Step.INTRINSICS

    def accept(self) -> None:
        self._expect(Step.REVIEW)
        self.step = Step.FLOOR

    def set_floor(self, frame: Any | None = None) -> Rig:
        """Put the world on the board of ``frame`` (lying on the floor: Z up); ``None`` keeps the
        default (the frame seen by most cameras)."""
        self._expect(Step.FLOOR)
        assert self.extrinsics is not None
        if frame is not None:
            self.extrinsics = reframe(self.extrinsics, frame)
        self.step = Step.SAVE
        return self.extrinsics.rig

    def result(self) -> Rig:
        """The finished rig (the driver saves it) and the end of the wizard."""
        self._expect(Step.SAVE)
        assert self.extrinsics is not None
        self.step = Step.DONE
        return self.extrinsics.rig

    # -- status ----------------------------------------------------------------------------------

    def status(self) -> WizardStatus:
        missing: list[str] = []
        cams: dict[str, dict[str, Any]] = {}
        ready = self.step in (Step.REVIEW, Step.FLOOR, Step.SAVE)
        if self.step is Step.BOARD:
            missing.append("choose the board that was printed")
        elif self.step is Step.INTRINSICS:
            ready = True
            for c in self.cameras:
                fb = self._camera_feedback(c)
                usable = len(self._usable_views(c))
                ready = ready and usable >= self.min_views
                missing += [self.errors[c]] if c in self.errors else fb
                cams[c] = {"views": usable, "feedback": fb}
        elif self.step is Step.EXTRINSICS:
            for c, n in self._shared_counts().items():
                cams[c] = {"shared_frames": n}
                if n < self.min_shared_frames:
                    missing.append(
                        f"camera {c} has seen the board together with another camera in {n} "
                        f"frames: show it to camera {c} and a neighbour at the same time"
                    )
            ready = not missing
        elif self.step is Step.REVIEW and self.extrinsics is not None:
            for c, err in self.extrinsics.rms_px.items():
                cams[c] = {"rms_px": round(err, 3)}
                if err > 1.5:
                    missing.append(f"camera {c} reprojects with {err:.2f} px: consider redoing it")
        return WizardStatus(self.step, ready, missing, cams)
