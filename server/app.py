"""The FastAPI app, built by :func:`create_app` from injected parts (no module-level state).

REST under ``/api`` (health, version, cameras, latest pose, calibration, recordings), Prometheus
metrics on ``/metrics``, and the pose stream on the WebSocket ``/ws/poses``. With a token
configured, every state-changing endpoint and the WebSockets require it.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import msgpack  # type: ignore[import-untyped]
from fastapi import (
    Body,
    Depends,
    FastAPI,
    HTTPException,
    Query,
    Request,
    WebSocket,
    WebSocketDisconnect,
    status,
)
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from syncpose import __version__
from syncpose.camera import Rig
from syncpose.config import RigConfig, ServerConfig, SyntheticSourceConfig
from syncpose.messages import SCHEMA_VERSION
from syncpose.motion import load_motion
from syncpose.posefile import write_poses
from syncpose.server.hub import PoseHub
from syncpose.server.metrics import Metrics
from syncpose.server.recording import RecordingError, RecordingStore
from syncpose.server.wizard import add_wizard_routes
from syncpose.simulate import MotionPlayer
from syncpose.skeleton import JOINTS, MOCAP


class Health(BaseModel):
    status: Literal["ok"] = Field(description="Always ok when the server answers.")
    poses: int = Field(description="Poses received since the server started.")
    workers: dict[str, str] = Field(
        description="Each worker's last reported state; 'silent' when its heartbeats stopped "
        "(it died, or the supervisor is restarting it)."
    )
    recording: str | None = Field(description="Id of the recording in progress, if any.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "poses": 1520,
                    "workers": {"aligner": "running", "inference": "running"},
                    "recording": None,
                }
            ]
        }
    )


class Version(BaseModel):
    version: str = Field(description="syncpose version.")
    schema_version: int = Field(description="Wire message schema version.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"version": "0.1.0", "schema_version": 1}]}
    )


class CameraState(BaseModel):
    camera_id: str
    state: str = Field(description="ok, stale or never_seen (the aligner's view).")
    fps: float = Field(description="Measured frame rate.")
    frames: int = Field(description="Frames received by the aligner.")
    drops: int = Field(description="Frames missing from the camera's numbering.")
    late: int = Field(description="Frames that came after their tick.")
    offset_ms: float | None = Field(description="δ_v in the latest bundle (ms).")
    mean_abs_offset_ms: float | None = Field(description="Mean |δ_v| since start (ms).")
    worker_state: str | None = Field(description="The capture worker's own state.")
    worker_error: str | None = Field(description="The capture worker's last error.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "camera_id": "cam0", "state": "ok", "fps": 30.0, "frames": 900, "drops": 0,
                    "late": 0, "offset_ms": -4.2, "mean_abs_offset_ms": 5.1,
                    "worker_state": "running", "worker_error": None,
                }
            ]
        }
    )  # fmt: skip


class StartRecording(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "squat-set-1"}]}
    )
    name: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{1,40}$", description="A label for the recording."
    )


class Recording(BaseModel):
    id: str
    name: str
    state: str = Field(description="recording, stopped, or interrupted (its process died).")
    started_unix: float
    stopped_unix: float | None
    poses: int
    metadata: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "20261121-180000-squat-set-1", "name": "squat-set-1",
                    "state": "stopped", "started_unix": 1795283000.0,
                    "stopped_unix": 1795283030.0, "poses": 900, "metadata": {},
                }
            ]
        }
    )  # fmt: skip


@dataclass
class SyntheticTruth:
    """The true pose of a synthetic rig's subject at any instant (demos and end-to-end tests:
    the rig's motion, timed from its epoch, in the project skeleton)."""

    player: MotionPlayer
    epoch_ns: int

    @classmethod
    def of(cls, rig: RigConfig, epoch_ns: int | None) -> SyntheticTruth | None:
        """For a rig whose cameras are all synthetic and film the same motion; else None."""
        sources = [c.source for c in rig.cameras]
        if epoch_ns is None or not rig.all_synthetic:
            return None
        motions = {(s.motion, s.clip) for s in sources if isinstance(s, SyntheticSourceConfig)}
        if len(motions) != 1:
            return None
        ((motion, clip),) = motions
        return cls(MotionPlayer(load_motion(motion), clip), epoch_ns)

    def at(self, t_ns: int) -> dict[str, Any]:
        joints, _ = MOCAP.apply(self.player.pose_at((t_ns - self.epoch_ns) / 1e9))
        return {
            "t_ns": t_ns,
            "joint_names": list(JOINTS),
            "positions": [[round(float(v), 6) for v in p] for p in joints],
        }


def create_app(
    settings: ServerConfig,
    hub: PoseHub,
    store: RecordingStore,
    metrics: Metrics,
    *,
    calibration: Rig | None = None,
    rig_fps: float = 30.0,
    rig_name: str = "rig",
    truth: SyntheticTruth | None = None,
) -> FastAPI:
    """The app for one rig."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hub.attach(asyncio.get_running_loop())  # poses reach the WebSockets on this loop
        yield

    app = FastAPI(
        title="syncpose",
        version=__version__,
        description="Real-time 3D human pose from weakly synchronised cameras.",
        lifespan=lifespan,
    )
    limit = int(settings.max_upload_mb * 1024 * 1024)

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        """Refuse request bodies over ``max_upload_mb`` (413) before reading them."""
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return JSONResponse(
                {"detail": f"request body over the {settings.max_upload_mb:g} MB limit"},
                status_code=status.HTTP_413_CONTENT_TOO_LARGE,
            )
        if length is None and request.headers.get("transfer-encoding", "").lower() == "chunked":
            return JSONResponse(
                {"detail": "chunked request bodies are not accepted; send Content-Length"},
                status_code=status.HTTP_411_LENGTH_REQUIRED,
            )
        return await call_next(request)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )

    def token_ok(given: str | None) -> bool:
        """Whether ``given`` is the configured token (always, when none is configured)."""
        if settings.token is None:
            return True
        return secrets.compare_digest((given or "").encode(), settings.token.encode())

    def require_token(request: Request) -> None:
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else ""
        if not token_ok(given):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or wrong API token (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    authorized = [Depends(require_token)]

    static = Path(__file__).resolve().parent / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        """The live viewer (files shipped in the package; no CDN)."""
        return FileResponse(static / "index.html")

    @app.get("/wizard", include_in_schema=False)
    def wizard_page() -> FileResponse:
        """The calibration wizard's page."""
        return FileResponse(static / "wizard.html")

    @app.get("/api/health", response_model=Health, tags=["status"])
    def health() -> Health:
        """Liveness, pose count, each worker's state, the recording in progress."""
        return Health(
            status="ok",
            poses=hub.poses,
            workers=hub.worker_states(),
            recording=store.active_id,
        )

    @app.get("/api/version", response_model=Version, tags=["status"])
    def version() -> Version:
        return Version(version=__version__, schema_version=SCHEMA_VERSION)

    @app.get("/api/cameras", response_model=list[CameraState], tags=["rig"])
    def cameras() -> list[dict[str, Any]]:
        """Each camera: state, measured fps, drops, current offset δ_v and its skew."""
        return hub.cameras()

    @app.get("/api/pose/latest", tags=["poses"])
    def latest_pose() -> dict[str, Any]:
        """The newest pose: joint names, positions (m, null = unknown), uncertainty, views used,
        per-stage latency."""
        pose = hub.latest_pose
        if pose is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no pose received yet")
        return pose

    @app.get("/api/calibration", tags=["rig"])
    def get_calibration() -> dict[str, Any]:
        """The rig calibration the poses are computed in (intrinsics, distortion, pose)."""
        if calibration is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "this rig has no calibration")
        return {
            "rig": rig_name,
            "calibration_id": calibration.id,
            "cameras": [
                {**cam.to_dict(), "centre": cam.centre.tolist()} for cam in calibration.cameras
            ],
        }

    @app.get("/api/demo/truth", tags=["rig"])
    def demo_truth(t_ns: int) -> dict[str, Any]:
        """A synthetic rig's true pose at ``t_ns`` (aligner clock, e.g. a pose's ``t_ref_ns``):
        for judging the live output in demos and tests. 404 on a real rig."""
        if truth is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no ground truth: not a synthetic rig")
        return truth.at(t_ns)

    @app.get("/api/recordings", response_model=list[Recording], tags=["recordings"])
    def list_recordings() -> list[dict[str, Any]]:
        return store.recordings()

    @app.post(
        "/api/recordings",
        response_model=Recording,
        status_code=status.HTTP_201_CREATED,
        tags=["recordings"],
        dependencies=authorized,
    )
    def start_recording(
        body: Annotated[StartRecording | None, Body()] = None,
    ) -> dict[str, Any]:
        """Start recording the pose stream (one recording at a time)."""
        try:
            return store.start(body.name if body else None, {"rig": rig_name, "fps": rig_fps})
        except RecordingError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None

    @app.post(
        "/api/recordings/stop",
        response_model=Recording,
        tags=["recordings"],
        dependencies=authorized,
    )
    def stop_recording() -> dict[str, Any]:
        try:
            return store.stop()
        except RecordingError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None

    def _meta(rec_id: str) -> dict[str, Any]:
        try:
            return store.meta(rec_id)
        except RecordingError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
        except KeyError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no recording {rec_id!r}") from None

    @app.get("/api/recordings/{rec_id}", response_model=Recording, tags=["recordings"])
    def recording(rec_id: str) -> dict[str, Any]:
        return _meta(rec_id)

    @app.get("/api/recordings/{rec_id}/download", tags=["recordings"])
    def download(
        rec_id: str, format: Literal["json", "csv", "npz", "trc", "c3d"] = Query("json")
    ) -> FileResponse:
        """The recording's poses as JSON, CSV, NPZ, TRC (OpenSim) or C3D."""
        _meta(rec_id)
        try:
            track = store.track(rec_id, rig_fps)
        except RecordingError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        folder = Path(tempfile.mkdtemp(prefix="syncpose-export-"))
        path = write_poses(folder / f"{rec_id}.{format}", track)
        return FileResponse(
            path,
            filename=path.name,
            background=BackgroundTask(_remove, folder),
        )

    add_wizard_routes(app, authorized, settings.recordings_dir.parent / "calibrations", limit)

    @app.get("/metrics", tags=["status"])
    def prometheus() -> Response:
        """Prometheus metrics: per-stage latency histograms, worker fps and drops."""
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    async def stream(ws: WebSocket, token: str | None, previews: bool, binary: bool) -> None:
        """Check the token, then send every item the hub queues for this client until it
        disconnects (as msgpack bytes with ``binary``, else JSON text)."""
        if not token_ok(token):
            await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="missing or wrong token")
            return
        await ws.accept()
        client = hub.subscribe(previews=previews)
        try:
            while True:
                item = await client.queue.get()
                if binary:
                    await ws.send_bytes(msgpack.packb(item))
                else:
                    await ws.send_json(item)
        except WebSocketDisconnect:
            pass
        finally:
            hub.unsubscribe(client)

    @app.websocket("/ws/poses")
    async def ws_poses(
        ws: WebSocket,
        token: str | None = None,
        format: Literal["json", "msgpack"] = "json",
    ) -> None:
        """Every pose as JSON text (or msgpack binary with ``?format=msgpack``)."""
        await stream(ws, token, previews=False, binary=format == "msgpack")

    @app.websocket("/ws/preview")
    async def ws_preview(ws: WebSocket, token: str | None = None) -> None:
        """Per-camera preview frames (JSON: camera_id, seq, width, height, jpeg_base64, and
        the 2D keypoints the latest pose used from that camera), at most ``preview_fps`` per
        camera; frames are only received from the cameras while someone watches."""
        await stream(ws, token, previews=True, binary=False)

    return app


def _remove(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
