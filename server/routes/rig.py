"""The rig: its cameras' states, the calibration poses are computed in, and a synthetic rig's
ground truth."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from syncpose.server.schemas import Calibration, CameraState, Truth
from syncpose.server.state import READ, State

router = APIRouter(tags=["rig"])


@router.get("/api/cameras", response_model=list[CameraState])
def cameras(state: State) -> list[dict[str, Any]]:
    """Each camera: state, measured fps, drops, current offset δ_v and its skew."""
    return state.hub.cameras()


@router.get("/api/calibration", response_model=Calibration, dependencies=READ)
def calibration(state: State) -> dict[str, Any]:
    """The rig calibration the poses are computed in (intrinsics, distortion, pose)."""
    rig = state.calibration
    if rig is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this rig has no calibration")
    return {
        "rig": state.rig_name,
        "calibration_id": rig.id,
        "cameras": [{**cam.to_dict(), "centre": cam.centre.tolist()} for cam in rig.cameras],
    }


@router.get("/api/demo/truth", response_model=Truth, dependencies=READ)
def demo_truth(state: State, t_ns: int) -> dict[str, Any]:
    """A synthetic rig's true pose at ``t_ns`` (aligner clock, e.g. a pose's ``t_ref_ns``):
    for judging the live output in demos and tests. 404 on a real rig."""
    if state.truth is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no ground truth: not a synthetic rig")
    return state.truth.at(t_ns)
