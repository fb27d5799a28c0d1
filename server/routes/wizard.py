"""The calibration wizard over HTTP (the session itself is :mod:`syncpose.server.wizard`).

``POST /api/wizard`` with the printed board → ``PUT /api/wizard/videos/{camera}`` one board
video per camera (the raw file as the body; the camera's detections come back) → ``POST
/api/wizard/calibrate`` → ``POST /api/wizard/accept``. ``GET /api/wizard`` tells where the
session is and what it still needs, in words, at any time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from syncpose.calibration.boards import BoardError, BoardSpec
from syncpose.calibration.intrinsics import CalibrationError
from syncpose.calibration.wizard import WizardError
from syncpose.server.recording import valid_id
from syncpose.server.schemas import Accept, Board, WizardSaved, WizardStatus, WizardVideo
from syncpose.server.state import AUTHORIZED, State

router = APIRouter(tags=["calibration"])

#: The session's steps: guarded by the token, answered with the status (only the keys it has).
_STEP: dict[str, Any] = {
    "response_model": WizardStatus,
    "response_model_exclude_unset": True,
    "dependencies": AUTHORIZED,
}


def _conflict_on_errors(step: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a step of the session; a step out of turn or what the videos lack is a 409."""
    try:
        return step()
    except (CalibrationError, WizardError, BoardError) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


@router.post("/api/wizard", **_STEP)
def start(state: State, board: Board) -> dict[str, Any]:
    """Start a session for the printed ``board`` (a running session is discarded)."""
    return _conflict_on_errors(lambda: state.wizard.start(BoardSpec(**board.model_dump())))


@router.get("/api/wizard", response_model=WizardStatus, response_model_exclude_unset=True)
def get_status(state: State) -> dict[str, Any]:
    """The step, whether it has what it needs, and what is missing, in words."""
    return state.wizard.status()


@router.put("/api/wizard/videos/{camera}", response_model=WizardVideo, dependencies=AUTHORIZED)
async def upload(state: State, camera: str, request: Request) -> dict[str, Any]:
    """One camera's board video as the raw request body; every frame is searched for the
    board. Returns that camera's detections (its coverage feedback is in ``GET``)."""
    if not valid_id(camera):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"invalid camera name {camera!r}")
    try:
        state.wizard.expect_videos()
    except WizardError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    body = await request.body()  # at most max_upload_mb: the request guard sees to it
    if not body:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "empty body: send the video file")
    try:
        return state.wizard.add_video(camera, body)
    except WizardError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except CalibrationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.post("/api/wizard/calibrate", **_STEP)
def calibrate(state: State) -> dict[str, Any]:
    """Intrinsics of every camera, then their poses (bundle adjustment) from the frames
    where two or more cameras saw the board at once; then the review figures."""
    return _conflict_on_errors(state.wizard.calibrate)


@router.post("/api/wizard/accept", **{**_STEP, "response_model": WizardSaved})
def accept(state: State, body: Accept) -> dict[str, Any]:
    """Accept the review: put the world on the floor board and write the rig (TOML)."""
    return _conflict_on_errors(
        lambda: state.wizard.accept(body.floor_frame, body.name, state.calibrations_dir)
    )
