"""The newest pose (the stream of every pose is the WebSocket ``/ws/poses``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from syncpose.server.schemas import Pose
from syncpose.server.state import READ, State

router = APIRouter(tags=["poses"])


@router.get(
    "/api/pose/latest", response_model=Pose, response_model_exclude_unset=True, dependencies=READ
)
def latest_pose(state: State) -> dict[str, Any]:
    """The newest pose: joint names, the people with their ids, positions (m, null = unknown)
    and uncertainty, views used, per-stage latency."""
    pose = state.hub.latest_pose
    if pose is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no pose received yet")
    return pose
