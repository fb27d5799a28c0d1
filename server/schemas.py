"""The shapes of the server's JSON: every request body and every response, so ``/docs``
shows them as they are."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from syncpose.messages import PoseResult


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


class SolvedSkeleton(BaseModel):
    """A person's solved skeleton (the live stream only): the humanoid bones placed by forward
    kinematics from their rotations, with each bone's local axes."""

    bones: list[str] = Field(description="Bone names (Unity's humanoid names), root first.")
    parents: list[int] = Field(description="Each bone's parent (index into bones; -1: root).")
    positions: list[list[float] | None] = Field(
        description="(B, 3) where each bone starts, metres, rig world frame."
    )
    axes: list[list[list[float]]] = Field(
        description="(B, 3, 3) each bone's local x, y, z axes in the world (rows; in the "
        "T-pose rest x is the person's left, y up, z forward)."
    )


class Person(BaseModel):
    """One person of a pose."""

    id: int = Field(description="The person's id: the same person keeps it from pose to pose.")
    positions: list[list[float] | None] = Field(
        description="(J, 3) joint positions in metres, rig world frame; null = joint unknown."
    )
    uncertainty: list[float | None] = Field(
        description="(J,) per-joint uncertainty in metres; null where not estimated."
    )
    views_used: list[str] = Field(description="Cameras whose detections went into this person.")
    keypoints_2d: list[list[list[float] | None]] | None = Field(
        default=None,
        description="(V, J, 3) the detection each rig camera gave this person, as fused (x px, "
        "y px, confidence); null for a keypoint not detected (all of a view without them). "
        "Absent when the worker sent none.",
    )
    skeleton: SolvedSkeleton | None = Field(
        default=None,
        description="The solved skeleton, on the live stream (/ws/poses, /api/pose/latest); "
        "absent in recordings and where the person has no pelvis.",
    )


class Pose(PoseResult):
    """A pose as the API gives it: the :class:`~syncpose.messages.PoseResult` fields and each
    person's arrays as lists (``null`` = unknown)."""

    people: list[Person] = Field(description="Everyone posed, by id (empty: nobody; see reason).")


class CameraCalibration(BaseModel):
    name: str
    size: list[int] = Field(description="Image width and height (px).")
    matrix: list[list[float]] = Field(description="Intrinsics K (3x3, px).")
    distortions: list[float] = Field(description="k1, k2, p1, p2, k3.")
    rotation: list[float] = Field(description="World-to-camera rotation (Rodrigues vector).")
    translation: list[float] = Field(description="World-to-camera translation (m).")
    centre: list[float] = Field(description="The camera centre in the world frame (m).")


class Calibration(BaseModel):
    rig: str = Field(description="The rig's name.")
    calibration_id: str = Field(description="Id of the calibration (poses carry it).")
    cameras: list[CameraCalibration]


class Truth(BaseModel):
    t_ns: int = Field(description="The instant asked for (aligner clock).")
    joint_names: list[str]
    positions: list[list[float]] = Field(description="(J, 3) true joint positions (m).")


class WizardStatus(BaseModel):
    step: str = Field(
        description="none, videos, then the engine's steps: board, intrinsics, extrinsics, "
        "review, floor, save, done."
    )
    ready: bool = Field(description="Whether the step has what it needs to go on.")
    missing: list[str] = Field(description="What the step still needs, in words.")
    cameras: dict[str, Any] = Field(description="Per camera: frames, board frames, coverage.")
    review: dict[str, Any] = Field(description="After calibrating: RMS and the board check.")
    saved: str | None = Field(
        description="The rig file written on accept, in the server's data folder (beside the "
        "recordings): calibrations/<time>-<name>.toml."
    )
    board: str | None = Field(default=None, description="The board of the session.")


class WizardVideo(BaseModel):
    camera: str
    frames: int = Field(description="Frames read from the video.")
    board_frames: int = Field(description="Frames in which the board was found.")
    size: list[int] = Field(description="Image width and height (px).")


class WizardSaved(WizardStatus):
    toml: str = Field(description="The rig file's contents.")
