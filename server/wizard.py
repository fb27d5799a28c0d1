"""The calibration wizard's session on a server: the
:class:`~syncpose.calibration.wizard.CalibrationWizard` engine fed with uploaded board videos
(the HTTP side is :mod:`syncpose.server.routes.wizard`).

One session per server at a time. Its flow: start it with the printed board → one board video
per camera (every frame searched for the board; coverage feedback per camera) → calibrate
(intrinsics, then the cameras' poses and bundle adjustment; what is missing is said in words)
→ accept (the floor, and the rig written as TOML). :meth:`WizardSession.status` tells where the
session is and what it still needs at any time.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncpose.calibration.boards import BoardDetector, BoardSpec
from syncpose.calibration.intrinsics import (
    BoardView,
    CalibrationError,
    coverage_feedback,
    coverage_map,
)
from syncpose.calibration.pipeline import board_check, read_views
from syncpose.calibration.rigfile import write_rig
from syncpose.calibration.wizard import CalibrationWizard, WizardError

#: The answer while no session has been started.
IDLE: dict[str, Any] = {
    "step": "none",
    "ready": False,
    "missing": [
        "start a session: describe the printed board and press Start (API: POST /api/wizard)"
    ],
    "cameras": {},
    "review": {},
    "saved": None,
}


@dataclass
class _Session:
    spec: BoardSpec
    views: dict[str, list[BoardView]] = field(default_factory=dict)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    wizard: CalibrationWizard | None = None
    review: dict[str, Any] = field(default_factory=dict)
    saved: str | None = None

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"board": self.spec.describe(), "cameras": {}, "missing": []}
        if self.wizard is None:
            out["step"] = "videos"
            out["ready"] = len(self.views) >= 2
            for cam, vs in self.views.items():
                usable = [v for v in vs if v.detection.count >= 6]
                feedback = coverage_feedback(cam, coverage_map(usable, self.sizes[cam]))
                out["cameras"][cam] = {
                    "frames": len(vs),
                    "board_frames": sum(1 for v in vs if v.detection.count),
                    "size": list(self.sizes[cam]),
                    "coverage": feedback,
                }
                out["missing"] += feedback
            if len(self.views) < 2:
                out["missing"].append(
                    f"upload a board video of each camera ({len(self.views)} so far, need 2 or "
                    "more)"
                )
        else:
            st = self.wizard.status()
            out.update(step=st.step.value, ready=st.ready, missing=st.missing, cameras=st.cameras)
        out["review"] = self.review
        out["saved"] = self.saved
        return out


class WizardSession:
    """The server's wizard session (none until :meth:`start`). Steps that change it run one
    at a time; :class:`~syncpose.calibration.wizard.WizardError` says a step came out of turn,
    :class:`~syncpose.calibration.intrinsics.CalibrationError` what the videos lack."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: _Session | None = None

    def _current(self) -> _Session:
        if self._session is None:
            raise WizardError("no wizard session: start one with the printed board first")
        return self._session

    def status(self) -> dict[str, Any]:
        """The step, whether it has what it needs, and what is missing, in words."""
        session = self._session
        return dict(IDLE) if session is None else session.status()

    def start(self, spec: BoardSpec) -> dict[str, Any]:
        """A new session for the printed board ``spec`` (a running one is discarded)."""
        with self._lock:
            self._session = _Session(spec)
            return self._session.status()

    def expect_videos(self) -> None:
        """Raise unless a session is waiting for videos."""
        if self._current().wizard is not None:
            raise WizardError("videos are in: calibrate or restart")

    def add_video(self, camera: str, body: bytes) -> dict[str, Any]:
        """Camera ``camera``'s board video (the file's bytes): every frame searched for the
        board. Returns the frames read, those with the board, and the image size."""
        session = self._current()
        self.expect_videos()
        # The video lives only while it is read: nothing of an upload stays on the disk.
        with tempfile.NamedTemporaryFile(prefix="syncpose-wizard-", suffix=".video") as tmp:
            tmp.write(body)
            tmp.flush()
            try:
                views, size = read_views(Path(tmp.name), BoardDetector(session.spec))
            except CalibrationError as exc:  # says the file: name the camera, not a server path
                raise CalibrationError(
                    str(exc).replace(tmp.name, f"the video of camera {camera}")
                ) from None
        seen = sum(1 for v in views if v.detection.count)
        if seen == 0:
            raise CalibrationError(
                f"camera {camera}: the board ({session.spec.describe()}) was not found in any of "
                f"the {len(views)} frames; check the board definition and that it is in view"
            )
        with self._lock:
            session.views[camera], session.sizes[camera] = views, size
        return {"camera": camera, "frames": len(views), "board_frames": seen, "size": list(size)}

    def calibrate(self) -> dict[str, Any]:
        """Intrinsics of every camera, then their poses (bundle adjustment) from the frames where
        two or more cameras saw the board at once; then the review figures."""
        with self._lock:
            s = self._current()
            if len(s.views) < 2:
                raise CalibrationError("upload a board video of at least two cameras first")
            t0 = time.perf_counter()
            wizard = CalibrationWizard(dict(s.sizes))
            wizard.choose_board(s.spec)
            for cam, vs in s.views.items():
                for v in vs:
                    wizard.add_view(cam, v)
            wizard.finish_intrinsics()
            s.wizard = wizard
            if wizard.errors:
                return s.status()
            n = max(len(vs) for vs in s.views.values())
            for k in range(n):  # the same frame index is the same moment in every video
                wizard.add_frame(
                    k, {c: vs[k].detection for c, vs in s.views.items() if k < len(vs)}
                )
            ext = wizard.solve()
            detections = {c: {v.frame: v.detection for v in vs} for c, vs in s.views.items()}
            s.review = {
                "rms_px": {c: round(e, 3) for c, e in ext.rms_px.items()},
                "board_check": board_check(ext.rig, detections, s.spec),
                "seconds": round(time.perf_counter() - t0, 2),
            }
            return s.status()

    def accept(self, floor_frame: int | None, name: str, out_dir: Path) -> dict[str, Any]:
        """Accept the review: put the world on the floor board (``floor_frame``, or found
        automatically) and write the rig as ``out_dir/<time>-<name>.toml``; the status and the
        TOML."""
        with self._lock:
            s = self._current()
            if s.wizard is None:
                raise WizardError("calibrate first")
            s.wizard.accept()
            s.wizard.set_floor(floor_frame)
            rig = s.wizard.result()
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}.toml"
            write_rig(path, rig)
            s.saved = f"{out_dir.name}/{path.name}"  # where, in the server's data folder
            return {**s.status(), "toml": path.read_text(encoding="utf-8")}
