"""Calibration wizard endpoints: the :class:`~syncpose.calibration.wizard.CalibrationWizard`
engine driven over HTTP, one session per server (state lives in the app, not the module).

Flow: ``POST /api/wizard`` with the printed board → ``PUT /api/wizard/videos/{camera}`` one
board video per camera (the raw file as the body; every frame is searched for the board and the
camera's coverage feedback comes back) → ``POST /api/wizard/calibrate`` (intrinsics, then the
cameras' poses and bundle adjustment; what is missing is said in words) → ``POST
/api/wizard/accept`` (the floor, and the rig written as TOML). ``GET /api/wizard`` tells where
the session is and what it still needs at any time.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from syncpose.calibration.boards import BoardError, BoardSpec
from syncpose.calibration.intrinsics import (
    BoardView,
    CalibrationError,
    coverage_feedback,
    coverage_map,
)
from syncpose.calibration.pipeline import board_check, read_views
from syncpose.calibration.rigfile import write_rig
from syncpose.calibration.wizard import CalibrationWizard, WizardError
from syncpose.server.recording import ID_PATTERN


class Board(BaseModel):
    """The printed calibration board."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"kind": "charuco", "columns": 4, "rows": 5, "square_m": 0.054,
                 "marker_ratio": 0.75, "dictionary": "DICT_4X4_1000", "inverted": True}
            ]
        },
    )  # fmt: skip
    kind: Literal["charuco", "checkerboard"] = Field(description="Board type.")
    columns: int = Field(ge=2, description="Squares across.")
    rows: int = Field(ge=2, description="Squares down.")
    square_m: float = Field(gt=0, description="Printed square side (m).")
    marker_ratio: float = Field(default=0.75, description="ArUco marker / square (ChArUco).")
    dictionary: str = Field(default="DICT_4X4_1000", description="ArUco dictionary (ChArUco).")
    inverted: bool | None = Field(
        default=False, description="Colour-inverted print; null: try both."
    )


class Accept(BaseModel):
    model_config = ConfigDict(extra="forbid")
    floor_frame: int | None = Field(
        default=None, ge=0, description="Frame whose board lies on the floor; default: automatic."
    )
    name: str = Field(default="rig", pattern=r"^[A-Za-z0-9_-]{1,40}$", description="File name.")


@dataclass
class _Session:
    spec: BoardSpec
    folder: Path
    views: dict[str, list[BoardView]] = field(default_factory=dict)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    wizard: CalibrationWizard | None = None
    review: dict[str, Any] = field(default_factory=dict)
    saved: str | None = None


def add_wizard_routes(
    app: FastAPI, dependencies: Sequence[Any], out_dir: Path, max_bytes: int
) -> None:
    """Mount the wizard on ``app``; ``dependencies`` guard every state change (the token)."""
    lock = threading.Lock()
    state: dict[str, _Session | None] = {"session": None}

    def session() -> _Session:
        s = state["session"]
        if s is None:
            raise HTTPException(status.HTTP_409_CONFLICT, "no wizard session: POST /api/wizard")
        return s

    def status_of(s: _Session) -> dict[str, Any]:
        out: dict[str, Any] = {"board": s.spec.describe(), "cameras": {}, "missing": []}
        if s.wizard is None:
            out["step"] = "videos"
            out["ready"] = len(s.views) >= 2
            for cam, vs in s.views.items():
                usable = [v for v in vs if v.detection.count >= 6]
                feedback = coverage_feedback(cam, coverage_map(usable, s.sizes[cam]))
                out["cameras"][cam] = {
                    "frames": len(vs),
                    "board_frames": sum(1 for v in vs if v.detection.count),
                    "size": list(s.sizes[cam]),
                    "coverage": feedback,
                }
                out["missing"] += feedback
            if len(s.views) < 2:
                out["missing"].append(
                    f"upload a board video of each camera ({len(s.views)} so far, need 2 or more)"
                )
        else:
            st = s.wizard.status()
            out.update(step=st.step.value, ready=st.ready, missing=st.missing, cameras=st.cameras)
        out["review"] = s.review
        out["saved"] = s.saved
        return out

    def guarded(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            with lock:
                return fn()
        except (CalibrationError, WizardError, BoardError) as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None

    @app.post("/api/wizard", tags=["calibration"], dependencies=list(dependencies))
    def start(board: Board) -> dict[str, Any]:
        """Start a session for the printed ``board`` (a running session is discarded)."""

        def run() -> dict[str, Any]:
            spec = BoardSpec(**board.model_dump())
            folder = Path(tempfile.mkdtemp(prefix="syncpose-wizard-"))
            new = _Session(spec, folder)
            state["session"] = new
            return status_of(new)

        return guarded(run)

    @app.get("/api/wizard", tags=["calibration"])
    def get_status() -> dict[str, Any]:
        """The step, whether it has what it needs, and what is missing, in words."""
        s = state["session"]
        if s is None:
            return {
                "step": "none",
                "ready": False,
                "missing": ["start a session with the printed board (POST /api/wizard)"],
                "cameras": {},
                "review": {},
                "saved": None,
            }
        return status_of(s)

    @app.put("/api/wizard/videos/{camera}", tags=["calibration"], dependencies=list(dependencies))
    async def upload(camera: str, request: Request) -> dict[str, Any]:
        """One camera's board video as the raw request body; every frame is searched for the
        board. Returns that camera's detections and coverage feedback."""
        if not ID_PATTERN.match(camera):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"invalid camera name {camera!r}")
        s = session()
        if s.wizard is not None:
            raise HTTPException(status.HTTP_409_CONFLICT, "videos are in: calibrate or restart")
        body = await request.body()
        if len(body) > max_bytes:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "video over the upload limit")
        if not body:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "empty body: send the video file")
        path = s.folder / f"{camera}.video"
        path.write_bytes(body)
        try:
            from syncpose.calibration.boards import BoardDetector

            views, size = read_views(path, BoardDetector(s.spec))
        except CalibrationError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        seen = sum(1 for v in views if v.detection.count)
        if seen == 0:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"camera {camera}: the board ({s.spec.describe()}) was not found in any of the "
                f"{len(views)} frames; check the board definition and that it is in view",
            )
        with lock:
            s.views[camera], s.sizes[camera] = views, size
        return {"camera": camera, "frames": len(views), "board_frames": seen, "size": list(size)}

    @app.post("/api/wizard/calibrate", tags=["calibration"], dependencies=list(dependencies))
    def calibrate() -> dict[str, Any]:
        """Intrinsics of every camera, then their poses (bundle adjustment) from the frames
        where two or more cameras saw the board at once; then the review figures."""

        def run() -> dict[str, Any]:
            s = session()
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
                return status_of(s)
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
            return status_of(s)

        return guarded(run)

    @app.post("/api/wizard/accept", tags=["calibration"], dependencies=list(dependencies))
    def accept(body: Accept) -> dict[str, Any]:
        """Accept the review: put the world on the floor board and write the rig (TOML)."""

        def run() -> dict[str, Any]:
            s = session()
            if s.wizard is None:
                raise WizardError("calibrate first")
            s.wizard.accept()
            s.wizard.set_floor(body.floor_frame)
            rig = s.wizard.result()
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{body.name}.toml"
            write_rig(path, rig)
            s.saved = str(path)
            return {**status_of(s), "toml": path.read_text(encoding="utf-8")}

        return guarded(run)
