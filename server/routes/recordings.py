"""Recordings of the pose stream: start, stop, list, and download in a pose file format."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query, status
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from syncpose.posefile import PER_PERSON, person_paths, write_poses
from syncpose.server.recording import RecordingError
from syncpose.server.schemas import Recording, StartRecording
from syncpose.server.state import AUTHORIZED, READ, State

router = APIRouter(tags=["recordings"])


@router.get("/api/recordings", response_model=list[Recording], dependencies=READ)
def list_recordings(state: State) -> list[dict[str, Any]]:
    return state.store.recordings()


@router.post(
    "/api/recordings",
    response_model=Recording,
    status_code=status.HTTP_201_CREATED,
    dependencies=AUTHORIZED,
)
def start_recording(
    state: State, body: Annotated[StartRecording | None, Body()] = None
) -> dict[str, Any]:
    """Start recording the pose stream (one recording at a time)."""
    metadata = {"rig": state.rig_name, "fps": state.rig_fps}
    try:
        return state.store.start(body.name if body else None, metadata)
    except RecordingError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


@router.post("/api/recordings/stop", response_model=Recording, dependencies=AUTHORIZED)
def stop_recording(state: State) -> dict[str, Any]:
    try:
        return state.store.stop()
    except RecordingError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


def _meta(state: State, rec_id: str) -> dict[str, Any]:
    """The recording's metadata; 400 for an id that cannot be one, 404 for an unknown one."""
    try:
        return state.store.meta(rec_id)
    except RecordingError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no recording {rec_id!r}") from None


@router.get("/api/recordings/{rec_id}", response_model=Recording, dependencies=READ)
def recording(state: State, rec_id: str) -> dict[str, Any]:
    return _meta(state, rec_id)


@router.get("/api/recordings/{rec_id}/download", dependencies=READ)
def download(
    state: State,
    rec_id: str,
    format: Literal["json", "csv", "npz", "trc", "c3d", "bvh"] = Query("json"),
) -> FileResponse:
    """The recording's poses as JSON, CSV, NPZ, TRC (OpenSim), C3D or BVH (a skeleton with
    joint rotations, centimetres, Y up); TRC or BVH of several people as a zip of one file
    per person (``<id>_P1.trc``, …)."""
    _meta(state, rec_id)
    try:
        track = state.store.track(rec_id, state.rig_fps)
    except RecordingError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    folder = Path(tempfile.mkdtemp(prefix="syncpose-export-"))
    try:
        path = write_poses(folder / f"{rec_id}.{format}", track)
    except ValueError as exc:  # a BVH of someone never measured whole: say so, lose nothing
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(status.HTTP_409_CONFLICT, f"cannot export as {format}: {exc}") from None
    if f".{format}" in PER_PERSON and len(track.ids) > 1:
        path = folder / f"{rec_id}_{format}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for each in person_paths(folder / f"{rec_id}.{format}", track.ids):
                zf.write(each, each.name)
    return FileResponse(
        path,
        filename=path.name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
