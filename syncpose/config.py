"""The rig configuration: one YAML file validated into these pydantic models.

Every model forbids unknown keys and describes every field (``syncpose validate-config`` and the
generated JSON schema show the descriptions). Pluggable parts are chosen by a ``type`` field.
Loading from a file, with errors that name file, line and key, lives in :mod:`syncpose.configfile`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from syncpose.clock import ms_to_ns, period_ns
from syncpose.messages import ImageEncoding

#: The largest image side any source, model input or preview may have (16K video).
MAX_IMAGE_SIDE = 16384


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Vec3 = tuple[float, float, float]


class OpenCVSourceConfig(_Model):
    """A camera opened by OpenCV: a USB device index or a stream URL (RTSP, HTTP, file)."""

    type: Literal["opencv"] = Field(description="Source kind: an OpenCV capture device.")
    device: int | str = Field(description="Device index (0, 1, ...) or stream URL.")
    width: int | None = Field(
        default=None, gt=0, le=MAX_IMAGE_SIDE, description="Requested width in pixels."
    )
    height: int | None = Field(
        default=None, gt=0, le=MAX_IMAGE_SIDE, description="Requested height in pixels."
    )
    fps: float | None = Field(default=None, gt=0, description="Requested frame rate.")
    reconnect_initial_s: float = Field(
        default=0.5, gt=0, description="First wait before reopening a lost device (seconds)."
    )
    reconnect_max_s: float = Field(
        default=10.0, gt=0, description="Longest wait between reopen attempts (seconds)."
    )


class VideoSourceConfig(_Model):
    """A video file replayed as a live camera, paced in real time.

    File frame ``i`` is released at ``epoch + start_offset_ms + i / fps`` (plus one file duration
    per loop), so frames skipped by ``start_frame``/``frame_step`` keep their true time.
    """

    type: Literal["video"] = Field(description="Source kind: replay of a video file.")
    path: Path = Field(description="The video file.")
    fps: float | None = Field(
        default=None, gt=0, description="Rate of the file's frames; default: the file's own."
    )
    frame_step: int = Field(default=1, ge=1, description="Release every n-th frame of the file.")
    start_frame: int = Field(default=0, ge=0, description="First file frame released.")
    start_offset_ms: float = Field(
        default=0.0, description="Shift of this camera's timeline against the rig epoch (ms)."
    )
    loop: bool = Field(default=True, description="Start again at the end of the file.")


class SyntheticSourceConfig(_Model):
    """A virtual camera looking at a person moving with motion capture.

    Renders a simple image and the true 2D keypoints at the exact instant each frame is stamped.
    """

    type: Literal["synthetic"] = Field(description="Source kind: a simulated camera.")
    motion: str = Field(
        default="bundled",
        description="'bundled' (a short CMU clip shipped in the package) or a motion .npz path.",
    )
    clip: str | None = Field(
        default=None, description="Clip name inside the motion file; default: all clips in turn."
    )
    people: int = Field(
        default=1,
        ge=1,
        le=8,
        description="People in view: with more than one, copies of the clip's motion walking "
        "paths that cross in a 3 m square (the same scene in every camera of the rig: give "
        "every camera the same people, motion and people_seed).",
    )
    people_seed: int = Field(default=0, description="Seed of the people's paths.")
    fps: float | None = Field(default=None, gt=0, description="Camera rate; default: rig fps.")
    width: int = Field(default=1280, gt=0, le=MAX_IMAGE_SIDE, description="Image width in pixels.")
    height: int = Field(default=720, gt=0, le=MAX_IMAGE_SIDE, description="Image height in pixels.")
    focal_px: float = Field(default=1000.0, gt=0, description="Focal length in pixels.")
    position: Vec3 | None = Field(
        default=None,
        description="Camera centre (m, Z up); default: on a 4 m circle, spread by camera index.",
    )
    look_at: Vec3 = Field(default=(0.0, 0.0, 1.0), description="Point the camera aims at (m).")
    clock_offset_ms: float = Field(
        default=0.0, description="Constant offset of this camera's frame times (ms)."
    )
    jitter_ms: float = Field(default=0.0, ge=0, description="Per-frame timing jitter σ (ms).")
    drop_rate: float = Field(
        default=0.0, ge=0, lt=1, description="Probability that a frame is dropped."
    )
    stall_rate: float = Field(
        default=0.0, ge=0, lt=1, description="Probability per frame that the camera stalls."
    )
    stall_ms: float = Field(default=200.0, ge=0, description="Length of a stall (ms).")
    seed: int = Field(default=0, description="Seed of the jitter/drop/stall random generator.")


SourceConfig = Annotated[
    OpenCVSourceConfig | VideoSourceConfig | SyntheticSourceConfig, Field(discriminator="type")
]


class CameraConfig(_Model):
    """One camera of the rig and how its capture worker publishes."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Unique camera id.")
    source: SourceConfig = Field(description="Where frames come from, chosen by 'type'.")
    host: str = Field(default="local", description="Clock id of the host the worker runs on.")
    endpoint: str | None = Field(
        default=None,
        description="ZeroMQ endpoint the worker binds (PUB); default: bus.host, base_port+1+index.",
    )
    encoding: ImageEncoding = Field(default="jpeg", description="Pixel encoding: jpeg or raw.")
    jpeg_quality: int = Field(default=80, ge=1, le=100, description="JPEG quality (1-100).")
    latency_ms: float = Field(
        default=0.0,
        description="Constant capture latency (from sync calibration) subtracted from timestamps.",
    )
    send_hwm: int = Field(
        default=8, ge=1, description="ZeroMQ send high-water mark (frames queued per subscriber)."
    )
    clock_sync: bool | None = Field(
        default=None,
        description="Measure this host's clock offset to the aligner over the bus; "
        "default: on when host is not 'local'.",
    )


class HostConfig(_Model):
    """A host's monotonic clock relative to the aligner's."""

    clock_offset_ms: float = Field(
        default=0.0, description="Added to this host's timestamps to get the aligner's clock (ms)."
    )


class AlignerConfig(_Model):
    """The timer-driven aligner that builds weakly synchronised bundles."""

    endpoint: str | None = Field(
        default=None, description="ZeroMQ endpoint the aligner binds (PUB); default: base_port."
    )
    clock_endpoint: str | None = Field(
        default=None,
        description="Endpoint of the aligner's clock service (ROUTER); "
        "default: the port after the cameras' ports.",
    )
    clock_sync_interval_s: float = Field(
        default=2.0, gt=0, description="How often remote hosts re-measure their clock offset."
    )
    tolerance_ms: float | None = Field(
        default=None, gt=0, description="Largest |δ_v| accepted; default: half a frame period."
    )
    max_wait_ms: float = Field(
        default=10.0, ge=0, description="How long a tick waits for late frames past its window."
    )
    auto_phase: bool = Field(
        default=True,
        description="Move the tick phase to the middle of the cameras' phases (smallest |δ_v|).",
    )
    stale_after_ms: float = Field(
        default=500.0, gt=0, description="A camera silent this long is stale and not waited for."
    )
    status_interval_ms: float = Field(
        default=1000.0, gt=0, description="Period of the aligner's status heartbeat (ms)."
    )


class BusConfig(_Model):
    """Defaults for ZeroMQ endpoints and socket timeouts."""

    transport: Literal["tcp", "ipc"] = Field(
        default="tcp",
        description="Derived endpoints: tcp (host:port, any machine can join) or ipc (Unix "
        "sockets in ipc_dir: one host only, cheaper for raw frames).",
    )
    ipc_dir: Path = Field(
        default=Path("/tmp/syncpose"), description="Folder of the ipc sockets (transport: ipc)."
    )
    host: str = Field(default="127.0.0.1", description="Interface/address for derived endpoints.")
    base_port: int = Field(
        default=5550, ge=1024, le=65000, description="Aligner port; cameras use the next ports."
    )
    linger_ms: int = Field(default=0, ge=0, description="ZeroMQ linger on close (ms).")
    send_timeout_ms: int = Field(default=100, ge=0, description="ZeroMQ send timeout (ms).")
    recv_timeout_ms: int = Field(default=1000, ge=0, description="ZeroMQ receive timeout (ms).")


class RigInfo(_Model):
    """Rig-wide settings."""

    name: str = Field(default="rig", description="A name for this rig.")
    fps: float = Field(gt=0, le=1000, description="The rig's tick rate (bundles per second).")


class MediaPipeDetectorConfig(_Model):
    """MediaPipe BlazePose (full) through its Tasks API, tracking per camera (VIDEO mode)."""

    type: Literal["mediapipe"] = Field(description="Detector kind: MediaPipe pose.")
    model: Path | None = Field(
        default=None, description="A pose landmarker .task file; default: the shipped one."
    )
    min_confidence: float = Field(
        default=0.5, ge=0, le=1, description="Detection and tracking confidence threshold."
    )
    max_side: int = Field(
        default=0,
        ge=0,
        description="Images are shrunk so their longer side is at most this (pixels) before "
        "detection, keypoints scaled back; 0: full size. The landmark model sees a 256x256 "
        "crop of the person either way.",
    )


class OnnxPersonDetectorConfig(_Model):
    """An ONNX person detector (YOLO, YOLOX, RTMDet, ... exported by the user) whose boxes a
    top-down keypoint model crops around: one crop per person, all views' crops in one batch.
    """

    model: Path = Field(description="The .onnx file.")
    output: Literal["yolo", "yolov8", "dets"] = Field(
        default="yolo",
        description="yolo: (1, N, 4+1+K) centre x, y, width, height, objectness, class scores; "
        "yolov8: (1, 4+K, N) centre, size, class scores; dets: 'dets' (1, N, 5) corners + score "
        "and optional 'labels' (1, N).",
    )
    input_width: int = Field(
        default=640, gt=0, le=MAX_IMAGE_SIDE, description="Model input width (pixels)."
    )
    input_height: int = Field(
        default=640, gt=0, le=MAX_IMAGE_SIDE, description="Model input height (pixels)."
    )
    resize: Literal["letterbox", "stretch"] = Field(
        default="letterbox",
        description="letterbox: scaled to fit keeping the aspect, grey border; stretch: resized.",
    )
    pad_value: int = Field(default=114, ge=0, le=255, description="Letterbox border grey level.")
    layout: Literal["nchw", "nhwc"] = Field(default="nchw", description="Input tensor layout.")
    channel_order: Literal["rgb", "bgr"] = Field(
        default="rgb", description="Channel order the model expects."
    )
    mean: Vec3 = Field(
        default=(0.0, 0.0, 0.0),
        description="Per-channel mean subtracted from 0-255 pixel values (model's order).",
    )
    std: Vec3 = Field(
        default=(255.0, 255.0, 255.0),
        description="Per-channel divisor after the mean (YOLO: 255; RTMDet: 57-58).",
    )
    boxes_normalised: bool = Field(
        default=False, description="Boxes are fractions of the input size (else input pixels)."
    )
    person_class: int = Field(default=0, ge=0, description="The person class index (COCO: 0).")
    min_score: float = Field(default=0.4, ge=0, le=1, description="Boxes scoring below: dropped.")
    nms_iou: float = Field(
        default=0.5, gt=0, le=1, description="Overlap (IoU) above which the weaker box goes."
    )
    max_boxes: int = Field(
        default=8, ge=1, le=64, description="People kept per view, the best scoring first."
    )


class OnnxDetectorConfig(_Model):
    """A top-down keypoint model in ONNX (RTMPose, HRNet, ViTPose, ... exported by the user).

    With a ``person_detector``, each person box found in a view is cropped; without one, each
    view is cropped around the person's last detection (or taken whole: one person per view).
    The crops are resized to the model's input, normalised, and run as one batch across views;
    outputs are decoded as heatmaps, SimCC vectors or regressed coordinates and mapped into
    the project skeleton.
    """

    type: Literal["onnx"] = Field(description="Detector kind: a user-supplied ONNX model.")
    model: Path = Field(description="The .onnx file.")
    keypoints: Literal["coco17", "halpe26", "blazepose33"] = Field(
        default="coco17", description="The model's keypoint layout (mapped to the skeleton)."
    )
    input_width: int = Field(
        default=192, gt=0, le=MAX_IMAGE_SIDE, description="Model input width (pixels)."
    )
    input_height: int = Field(
        default=256, gt=0, le=MAX_IMAGE_SIDE, description="Model input height (pixels)."
    )
    layout: Literal["nchw", "nhwc"] = Field(default="nchw", description="Input tensor layout.")
    channel_order: Literal["rgb", "bgr"] = Field(
        default="rgb", description="Channel order the model expects."
    )
    mean: Vec3 = Field(
        default=(123.675, 116.28, 103.53),
        description="Per-channel mean subtracted from 0-255 pixel values (model's order).",
    )
    std: Vec3 = Field(
        default=(58.395, 57.12, 57.375),
        description="Per-channel divisor after the mean (model's order).",
    )
    output: Literal["heatmap", "simcc", "regression"] = Field(
        default="heatmap",
        description="heatmap: (N, K, h, w); simcc: two outputs (N, K, W*r) and (N, K, H*r); "
        "regression: (N, K, 2 or 3) coordinates (+ score).",
    )
    simcc_split_ratio: float = Field(default=2.0, gt=0, description="SimCC bins per input pixel.")
    regression_normalised: bool = Field(
        default=True,
        description="Regressed coordinates are fractions of the input size (else input pixels).",
    )
    crop: Literal["track", "full"] = Field(
        default="track",
        description="track: crop around the last detection (whole image when lost); full: whole.",
    )
    crop_padding: float = Field(
        default=1.25, ge=1, description="Crop box = keypoints' box scaled by this factor."
    )
    min_confidence: float = Field(
        default=0.3, ge=0, le=1, description="Keypoints scoring below this are not used."
    )
    person_detector: OnnxPersonDetectorConfig | None = Field(
        default=None,
        description="Person boxes to crop around (several people per view); none: one person, "
        "cropped as 'crop' says.",
    )


class SyntheticDetectorConfig(_Model):
    """The true 2D keypoints of synthetic cameras passed through the detector error model."""

    type: Literal["synthetic"] = Field(description="Detector kind: simulated from truth.")
    jitter_px: float = Field(
        default=1.5, ge=0, description="Keypoint jitter σ at 1000 px focal length and 4 m."
    )
    temporal_correlation: float = Field(
        default=0.5, ge=0, lt=1, description="AR(1) coefficient of the jitter between frames."
    )
    outlier_rate: float = Field(default=0.01, ge=0, le=1, description="Outlier probability.")
    miss_rate: float = Field(default=0.02, ge=0, le=1, description="Missed-joint probability.")
    swap_rate: float = Field(
        default=0.005, ge=0, le=1, description="Probability a frame's left/right are swapped."
    )
    seed: int = Field(default=0, description="Seed of the error model.")


DetectorConfig = Annotated[
    MediaPipeDetectorConfig | OnnxDetectorConfig | SyntheticDetectorConfig,
    Field(discriminator="type"),
]


class DenoiserConfig(_Model):
    """The weak-sync denoiser (an exported ONNX model)."""

    model: Path | None = Field(
        default=None, description="The denoiser .onnx file; default: the shipped one."
    )
    provider: str = Field(
        default="auto", description="onnxruntime provider to try first: auto, cpu, cuda, tensorrt."
    )
    hypotheses: int = Field(default=5, ge=1, le=64, description="Hypotheses drawn per bundle.")
    select: bool = Field(
        default=False,
        description="Pick each joint's hypothesis by reprojection (true) or take the mean "
        "(false: more accurate on the demo rig; selection fits the detections' noise).",
    )
    seed: int = Field(default=0, description="Seed of the hypotheses' noise.")
    threads: int = Field(
        default=1,
        ge=0,
        description="CPU threads of the model (0: one per core; 1 leaves the cores to the "
        "detector, and the model is small).",
    )


class SmoothingConfig(_Model):
    """The One-Euro filter on the output poses (causal)."""

    min_cutoff_hz: float = Field(default=2.0, gt=0, description="Cut-off at rest (Hz).")
    beta: float = Field(default=10.0, ge=0, description="Cut-off increase per m/s of speed.")
    d_cutoff_hz: float = Field(default=1.0, gt=0, description="Cut-off of the speed estimate.")


class TrackingConfig(_Model):
    """How several people are told apart and followed (see :mod:`syncpose.inference.tracking`)."""

    confirm_ticks: int = Field(
        default=2,
        ge=1,
        description="Ticks a new person must be seen in a row before it gets an id.",
    )
    max_gap_ticks: int = Field(
        default=30,
        ge=0,
        description="Ticks a tracked person may go unseen (occluded, out of view) before the id "
        "is given up.",
    )
    match_gate: float = Field(
        default=0.1,
        gt=0,
        description="Largest median joint distance, as a share of the person's height in the "
        "image, at which a detection is taken for a tracked person (grows while unseen).",
    )
    group_gate_m: float = Field(
        default=0.15,
        gt=0,
        description="Largest median ray-to-ray distance (m) at which detections in two views are "
        "taken for one new person.",
    )


class InferenceConfig(_Model):
    """The inference worker: 2D detection on every view, fusion to 3D, publication of poses."""

    enabled: bool = Field(
        default=True,
        description="Run the inference worker with the rig (needs 'calibration' unless every "
        "camera is synthetic; without one the rig captures and aligns only).",
    )
    detector: DetectorConfig | None = Field(
        default=None,
        description="2D detector, chosen by 'type'; default: synthetic when every camera is "
        "synthetic, else mediapipe.",
    )
    calibration: Path | None = Field(
        default=None,
        description="Rig calibration (TOML, Qualisys .qca.txt); not needed for synthetic rigs.",
    )
    denoiser: DenoiserConfig | None = Field(
        default_factory=DenoiserConfig,
        description="The denoiser; null: time-aware triangulation only.",
    )
    smoothing: SmoothingConfig | None = Field(
        default=None, description="One-Euro filter on the poses; null: none."
    )
    min_views: int = Field(default=2, ge=2, description="Fewest usable views for a pose.")
    max_people: int = Field(
        default=1,
        ge=1,
        le=16,
        description="People tracked at once; with 1 the rig follows one person (the one it "
        "tracks, else the largest) and ignores the others.",
    )
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig, description="Telling people apart and following them."
    )
    fix_swaps: bool = Field(
        default=True,
        description="Exchange a view's left and right when the other views say it mixed them up "
        "(needs three views).",
    )
    min_confidence: float = Field(
        default=0.3, ge=0, le=1, description="2D keypoints below this confidence are ignored."
    )
    detect_threads: int = Field(
        default=0, ge=0, description="Threads detecting views in parallel; 0: one per CPU core."
    )
    frame_wait_ms: float = Field(
        default=30.0, ge=0, description="How long a bundle waits for its views' pixels (ms)."
    )
    queue: int = Field(
        default=4,
        ge=1,
        description="Bundles waiting for the worker (absorbs jitter); when full the oldest is "
        "dropped.",
    )
    endpoint: str | None = Field(
        default=None,
        description="ZeroMQ endpoint the worker binds (PUB, topic 'pose'); default: the port "
        "after the clock endpoint.",
    )
    keypoints_2d: bool = Field(
        default=True, description="Include every view's 2D keypoints in each PoseResult."
    )


class ServerConfig(_Model):
    """The HTTP/WebSocket server (REST API, pose stream, recordings)."""

    enabled: bool = Field(default=True, description="Run the server with the rig.")
    host: str = Field(
        default="127.0.0.1",
        description="Address to bind; 127.0.0.1 keeps it on this machine (0.0.0.0: all).",
    )
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port.")
    token: str | None = Field(
        default=None,
        min_length=8,
        description="API token required by every state-changing endpoint, the pose data, the "
        "calibration, the recordings and the WebSockets (Authorization: Bearer <token>, or "
        "?token=); none: open to whoever reaches the port.",
    )
    open_without_token: bool = Field(
        default=False,
        description="Allow a host other than this machine (0.0.0.0, a LAN address) without a "
        "token: anyone on the network can then read the poses and start recordings.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS; empty: CORS off."
    )
    recordings_dir: Path = Field(
        default=Path("recordings"), description="Where recordings are written."
    )
    max_upload_mb: float = Field(default=50.0, gt=0, description="Largest accepted upload (MB).")
    ws_queue: int = Field(
        default=8,
        ge=1,
        description="Poses queued per WebSocket client; a client that falls behind that far "
        "gets only the latest pose (it never slows the others).",
    )
    preview_fps: float = Field(
        default=5.0, gt=0, le=30, description="Preview frames per second per camera (/ws/preview)."
    )
    preview_width: int = Field(
        default=320, ge=64, le=1920, description="Width of preview frames (pixels)."
    )


class VmcOutputConfig(_Model):
    """A live VMC-protocol target (OSC over UDP: Unity, Unreal, Blender and VTubing receivers)."""

    type: Literal["vmc"] = Field(description="Output kind: the VMC protocol over OSC/UDP.")
    host: str = Field(default="127.0.0.1", description="The receiver's address.")
    port: int = Field(default=39539, ge=1, le=65535, description="The receiver's UDP port.")
    person: int | None = Field(
        default=None,
        description="The person (track id) it performs; default: the first person posed, "
        "followed while present (then the next one).",
    )


class LslOutputConfig(_Model):
    """A Lab Streaming Layer outlet (needs pylsl: ``pip install syncpose[lsl]``): one channel
    per joint coordinate of one person, each sample stamped with the pose's capture time on
    the LSL clock."""

    type: Literal["lsl"] = Field(description="Output kind: a Lab Streaming Layer outlet.")
    name: str = Field(default="syncpose", min_length=1, description="The stream's name.")
    person: int | None = Field(
        default=None,
        description="The person (track id) it streams; default: the first person posed, "
        "followed while present (then the next one).",
    )


OutputConfig = Annotated[VmcOutputConfig | LslOutputConfig, Field(discriminator="type")]


class RigConfig(_Model):
    """A whole rig: cameras, hosts, aligner and bus."""

    rig: RigInfo = Field(description="Rig-wide settings.")
    cameras: list[CameraConfig] = Field(min_length=1, description="The cameras, in rig order.")
    hosts: dict[str, HostConfig] = Field(
        default_factory=dict, description="Clock offsets of hosts other than the aligner's."
    )
    aligner: AlignerConfig = Field(default_factory=AlignerConfig, description="The aligner.")
    bus: BusConfig = Field(default_factory=BusConfig, description="ZeroMQ defaults.")
    inference: InferenceConfig = Field(
        default_factory=InferenceConfig, description="The inference worker."
    )
    server: ServerConfig = Field(default_factory=ServerConfig, description="The server.")
    outputs: list[OutputConfig] = Field(
        default_factory=list,
        description="Live consumers of the pose stream (VMC targets, LSL outlets); each "
        "drops, counted, what its receiver cannot take, never slowing the rig.",
    )

    @property
    def rig_id(self) -> str:
        """What the rig's messages carry, so its consumers drop another rig's: a digest of the
        rig's name, rate and camera ids (the same on every host that runs a part of it)."""
        canonical = json.dumps([self.rig.name, self.rig.fps, self.camera_ids])
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> RigConfig:
        if info.context and info.context.get("defer_checks"):
            return self
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(f"{dotted_key(loc)}: {msg}" for loc, msg in problems))
        return self

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Cross-field problems as (location, message); locations index into the YAML tree."""
        out: list[tuple[tuple[str | int, ...], str]] = []
        seen: dict[str, int] = {}
        for i, cam in enumerate(self.cameras):
            if cam.id in seen:
                out.append((("cameras", i, "id"), f"duplicate camera id {cam.id!r}"))
            seen.setdefault(cam.id, i)
            if cam.host != "local" and cam.host not in self.hosts:
                out.append((("cameras", i, "host"), f"host {cam.host!r} is not in 'hosts'"))
        endpoints: dict[str, str] = {}
        for i, cam in enumerate(self.cameras):
            ep = self.camera_endpoint(i)
            if ep in endpoints:
                out.append((("cameras", i, "endpoint"), f"endpoint {ep} already used"))
            endpoints[ep] = cam.id
        if self.aligner_endpoint() in endpoints:
            out.append((("aligner", "endpoint"), "aligner endpoint is also a camera's endpoint"))
        if self.clock_endpoint() in (*endpoints, self.aligner_endpoint()):
            out.append((("aligner", "clock_endpoint"), "clock endpoint is already in use"))
        if self.inference.enabled and self.inference_endpoint() in (
            *endpoints,
            self.aligner_endpoint(),
            self.clock_endpoint(),
        ):
            out.append((("inference", "endpoint"), "inference endpoint is already in use"))
        server = self.server
        loopback = server.host in ("localhost", "::1") or server.host.startswith("127.")
        if (
            server.enabled
            and not loopback
            and server.token is None
            and not server.open_without_token
        ):
            message = (
                f"binding {server.host} makes the API reachable from the network: set "
                "server.token (syncpose demo: --token or $SYNCPOSE_TOKEN), or "
                "server.open_without_token: true to accept that anyone there can use it"
            )
            out.append((("server", "host"), message))
        if self.server.enabled and self.bus.transport == "tcp":
            first, last = self.bus.base_port, self.bus.base_port + 2 + len(self.cameras)
            if first <= self.server.port <= last:
                message = (
                    f"port {self.server.port} is one of the bus's ports ({first}-{last}: "
                    "bus.base_port and those after it)"
                )
                out.append((("server", "port"), message))
        detector = self.inference.detector
        if isinstance(detector, SyntheticDetectorConfig) and not self.all_synthetic:
            message = "the synthetic detector needs synthetic cameras"
            out.append((("inference", "detector", "type"), message))
        half_period_ms = 500.0 / self.rig.fps
        tol = self.aligner.tolerance_ms
        if tol is not None and tol > half_period_ms + 1e-9:
            out.append(
                (
                    ("aligner", "tolerance_ms"),
                    f"{tol} ms exceeds half a frame period ({half_period_ms:.3f} ms)",
                )
            )
        return out

    # Derived values -------------------------------------------------------------------------

    @property
    def camera_ids(self) -> list[str]:
        return [c.id for c in self.cameras]

    def camera(self, camera_id: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise KeyError(f"no camera {camera_id!r} in the rig (have {self.camera_ids})")

    def camera_endpoint(self, index: int) -> str:
        cam = self.cameras[index]
        return cam.endpoint or self._derived(self.bus.base_port + 1 + index)

    def aligner_endpoint(self) -> str:
        return self.aligner.endpoint or self._derived(self.bus.base_port)

    def clock_endpoint(self) -> str:
        port = self.bus.base_port + 1 + len(self.cameras)
        return self.aligner.clock_endpoint or self._derived(port)

    @property
    def poses_possible(self) -> bool:
        """Whether the inference worker can run: enabled, and a calibration it can use."""
        inference = self.inference
        return inference.enabled and (inference.calibration is not None or self.all_synthetic)

    def _derived(self, port: int) -> str:
        """The endpoint of ``port`` on the configured transport."""
        if self.bus.transport == "ipc":
            return f"ipc://{self.bus.ipc_dir}/{self.rig.name}-{port}"
        return f"tcp://{self.bus.host}:{port}"

    def inference_endpoint(self) -> str:
        port = self.bus.base_port + 2 + len(self.cameras)
        return self.inference.endpoint or self._derived(port)

    @property
    def all_synthetic(self) -> bool:
        return all(isinstance(c.source, SyntheticSourceConfig) for c in self.cameras)

    def detector(self) -> MediaPipeDetectorConfig | OnnxDetectorConfig | SyntheticDetectorConfig:
        """The configured detector, or the default for this rig's sources."""
        if self.inference.detector is not None:
            return self.inference.detector
        if self.all_synthetic:
            return SyntheticDetectorConfig(type="synthetic")
        return MediaPipeDetectorConfig(type="mediapipe")

    def clock_sync_enabled(self, camera_id: str) -> bool:
        cam = self.camera(camera_id)
        return cam.clock_sync if cam.clock_sync is not None else cam.host != "local"

    @property
    def period_ns(self) -> int:
        return period_ns(self.rig.fps)

    def tolerance_ns(self) -> int:
        if self.aligner.tolerance_ms is not None:
            return ms_to_ns(self.aligner.tolerance_ms)
        return self.period_ns // 2

    def host_offsets_ns(self) -> dict[str, int]:
        return {name: ms_to_ns(h.clock_offset_ms) for name, h in self.hosts.items()}

    def camera_fps(self, camera_id: str) -> float:
        """The rate a camera is expected to deliver (its source's fps, else the rig's)."""
        src = self.camera(camera_id).source
        if isinstance(src, VideoSourceConfig) and src.fps:
            return src.fps / src.frame_step  # a replay releases every frame_step-th frame
        return src.fps or self.rig.fps


def dotted_key(loc: tuple[Any, ...]) -> str:
    """``('cameras', 0, 'source')`` -> ``cameras[0].source``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"
