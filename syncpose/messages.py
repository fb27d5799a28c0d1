"""Wire messages that cross process boundaries (GUIDE §4).

Every message is a typed, frozen pydantic model. On the wire it is a ZeroMQ multipart message::

    [topic, envelope JSON, array bytes, array bytes, ...]

The envelope is ``{"v": SCHEMA_VERSION, "type": <class name>, "body": {...}, "arrays": [...]}``
where each array descriptor gives ``name``, ``dtype`` and ``shape`` of one raw bytes frame that
follows, in order, and — from a rig's workers — ``"rig": <RigConfig.rig_id>``, so a consumer
never takes another rig's messages for its own. Nothing is pickled. One message type per topic
(``Message.TOPIC``).

:class:`Decoder` turns frames back into messages; anything malformed or of another schema version
is counted and dropped (``decode`` returns ``None``), never raised.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from syncpose.arrays import AnyArray

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: PoseResult carries several people

#: dtypes allowed for array frames (little-endian, as numpy writes them on x86/ARM).
ALLOWED_DTYPES = frozenset({"uint8", "uint16", "int16", "int32", "int64", "float32", "float64"})
MAX_ARRAY_DIMS = 4
#: The largest envelope (JSON) frame read; every real one is a few kB.
MAX_ENVELOPE_BYTES = 1 << 20
#: What decoding may raise on hostile input besides a validation error: all of it is a drop.
_HOSTILE = (ValueError, TypeError, OverflowError, RecursionError, MemoryError)

WorkerState = Literal["starting", "running", "degraded", "error", "stopped"]
ImageEncoding = Literal["raw", "jpeg"]


class Message(BaseModel):
    """Base of all wire messages: frozen, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    TOPIC: ClassVar[bytes] = b""


class FrameHeader(Message):
    """What is known about one captured frame; small, so the aligner never touches pixels."""

    TOPIC: ClassVar[bytes] = b"hdr"

    camera_id: str = Field(description="Camera that produced the frame.")
    seq: int = Field(ge=0, description="Per-camera frame counter; a gap is a dropped frame.")
    t_capture_ns: int = Field(
        description="Capture instant on the host's monotonic clock (midpoint of the grab)."
    )
    host: str = Field(default="local", description="Clock id of the host that stamped the frame.")
    width: int = Field(ge=0, description="Image width in pixels.")
    height: int = Field(ge=0, description="Image height in pixels.")
    encoding: ImageEncoding = Field(description="Pixel payload encoding: raw BGR8 or JPEG.")
    device_ts_ns: int | None = Field(
        default=None, description="Timestamp reported by the device or file, if any (ns)."
    )
    t_publish_ns: int | None = Field(
        default=None, description="When the worker handed the frame to ZeroMQ (host clock, ns)."
    )


class Frame(Message):
    """A frame with its pixels (array ``image``) and, from synthetic cameras, true 2D keypoints.

    Arrays: ``image`` — (H, W, 3) uint8 BGR when ``header.encoding == "raw"``, else (N,) uint8
    JPEG bytes; optional ``keypoints_true`` — (J, 2) float32 pixels, NaN = joint not visible,
    or (P, J, 2) for a scene of P people — and ``keypoints_depth`` — (J,) or (P, J) float32
    camera-frame depth of those joints (metres).
    """

    TOPIC: ClassVar[bytes] = b"frame"

    header: FrameHeader = Field(description="The frame's header, identical to the hdr message.")
    keypoint_names: list[str] | None = Field(
        default=None, description="Names of the rows of keypoints_true, when present."
    )


class BundleView(BaseModel):
    """One camera's entry in a bundle: the chosen frame and its offset, or missing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: str = Field(description="Camera of this entry.")
    header: FrameHeader | None = Field(default=None, description="Chosen frame; None = missing.")
    offset_ns: int | None = Field(
        default=None,
        description="δ_v = corrected capture time − t_ref (ns); None when the view is missing.",
    )


class Bundle(Message):
    """A weakly synchronised bundle: for a tick ``t_ref``, each camera's nearest frame."""

    TOPIC: ClassVar[bytes] = b"bundle"

    bundle_seq: int = Field(ge=0, description="Tick index; consecutive, a gap is a skipped tick.")
    t_ref_ns: int = Field(description="The tick's reference time on the aligner's clock.")
    period_ns: int = Field(gt=0, description="Rig frame period (ns).")
    views: list[BundleView] = Field(description="One entry per rig camera, in rig order.")
    max_skew_ns: int | None = Field(
        default=None, description="max δ_v − min δ_v over present views; None if < 2 present."
    )
    t_emit_ns: int | None = Field(default=None, description="When the aligner emitted it (ns).")

    @property
    def missing(self) -> list[str]:
        """Camera ids with no frame in this bundle."""
        return [v.camera_id for v in self.views if v.header is None]

    @property
    def present(self) -> list[BundleView]:
        """The views that have a frame."""
        return [v for v in self.views if v.header is not None]


class WorkerStatus(Message):
    """A worker's heartbeat."""

    TOPIC: ClassVar[bytes] = b"status"

    worker: str = Field(description="Worker name, e.g. 'capture:cam0' or 'aligner'.")
    state: WorkerState = Field(description="Life-cycle state.")
    fps: float = Field(ge=0, description="Frames (or bundles) per second over the last interval.")
    frames: int = Field(ge=0, description="Frames (or bundles) produced since start.")
    dropped: int = Field(ge=0, description="Frames dropped by this worker since start.")
    last_error: str | None = Field(default=None, description="Most recent error, if any.")
    t_ns: int = Field(description="When the heartbeat was sent (host clock, ns).")
    pid: int = Field(ge=0, description="Process id of the worker.")


CameraSyncState = Literal["ok", "stale", "never_seen"]


class CameraSync(BaseModel):
    """The aligner's view of one camera."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: str = Field(description="Camera id.")
    state: CameraSyncState = Field(description="ok, stale (no recent frames) or never_seen.")
    fps: float = Field(ge=0, description="Measured frame rate from the frame timestamps.")
    frames: int = Field(ge=0, description="Headers received.")
    used: int = Field(ge=0, description="Frames placed in a bundle.")
    gaps: int = Field(ge=0, description="Frames missing from the seq numbering (dropped).")
    late: int = Field(ge=0, description="Frames that arrived after their tick was emitted.")
    last_offset_ns: int | None = Field(default=None, description="δ_v in the latest bundle.")
    mean_abs_offset_ns: float | None = Field(
        default=None, description="Mean |δ_v| over the bundles since start."
    )


class RigStatus(Message):
    """The aligner's heartbeat: its own counters and one entry per camera."""

    TOPIC: ClassVar[bytes] = b"rig"

    state: WorkerState = Field(description="running, or degraded when a camera is stale.")
    bundles: int = Field(ge=0, description="Bundles emitted since start.")
    complete_bundles: int = Field(ge=0, description="Bundles with every camera present.")
    skipped_ticks: int = Field(ge=0, description="Ticks skipped because the aligner fell behind.")
    cameras: list[CameraSync] = Field(description="Per-camera synchronisation state.")
    host_offsets_ns: dict[str, int] = Field(
        default_factory=dict, description="Clock offset applied to each host's timestamps (ns)."
    )
    decode_errors: int = Field(ge=0, description="Malformed or wrong-version messages dropped.")
    probes_refused: int = Field(
        default=0, ge=0, description="Clock probes refused: their peer was over the rate."
    )
    t_ns: int = Field(description="When the heartbeat was sent (aligner clock, ns).")


class ClockRequest(Message):
    """A clock probe from a host to the aligner (over the aligner's clock endpoint)."""

    TOPIC: ClassVar[bytes] = b"clockreq"

    host: str = Field(description="Clock id of the asking host.")
    t0_ns: int = Field(description="Asking host's clock when the probe was sent.")


class ClockReply(Message):
    """The aligner's answer to a :class:`ClockRequest`."""

    TOPIC: ClassVar[bytes] = b"clockrep"

    t0_ns: int = Field(description="The probe's t0, echoed.")
    t1_ns: int = Field(description="Aligner's clock when the probe was answered.")


class ClockOffset(Message):
    """A host's measured offset to the aligner's clock, published by its capture workers."""

    TOPIC: ClassVar[bytes] = b"clock"

    host: str = Field(description="Clock id of the measured host.")
    offset_ns: int = Field(description="Add to this host's timestamps to get the aligner's clock.")
    rtt_ns: int = Field(ge=0, description="Round trip of the probe used (bounds the error).")
    samples: int = Field(ge=1, description="Probes answered in this measurement.")
    t_ns: int = Field(description="When it was measured (host clock, ns).")


class PoseResult(Message):
    """The 3D pose of one bundle, from the inference worker.

    P people (``person_ids``, the tracker's stable ids; P = 0 when nobody could be posed,
    ``reason`` says why). Arrays: ``positions`` (P, J, 3) float32 metres in the rig's world
    frame, NaN = joint unknown; ``uncertainty`` (P, J) float32 metres (the spread of the
    denoiser's hypotheses; NaN where not estimated); optional ``keypoints_2d`` (P, V, J, 3)
    float32: the 2D detection each rig camera gave that person, in rig order (x px, y px,
    confidence; NaN rows for views without them).
    """

    TOPIC: ClassVar[bytes] = b"pose"

    bundle_seq: int = Field(ge=0, description="The bundle this pose was made from.")
    t_ref_ns: int = Field(description="The bundle's reference time on the aligner's clock.")
    calibration_id: str = Field(description="Id of the rig calibration used (Rig.id).")
    joint_names: list[str] = Field(description="Names of the rows of positions.")
    camera_ids: list[str] = Field(description="Rig cameras in order (rows of keypoints_2d).")
    person_ids: list[int] = Field(
        default_factory=list, description="Each person's id (rows of positions), by id."
    )
    views_used: list[str] = Field(description="Cameras whose detections went into any pose.")
    people_views: list[list[str]] = Field(
        default_factory=list, description="Per person, the cameras whose detections it took."
    )
    offsets_ms: dict[str, float] = Field(
        default_factory=dict, description="δ_v of each camera present in the bundle (ms)."
    )
    frame_seqs: dict[str, int] = Field(
        default_factory=dict, description="The frame (seq) of each camera present in the bundle."
    )
    method: str = Field(description="'denoiser' or 'time_aware' (no model configured).")
    detector: str = Field(description="Name of the 2D keypoint detector.")
    reason: str | None = Field(
        default=None, description="Why the pose is all NaN (e.g. fewer than two usable views)."
    )
    latency_ms: dict[str, float] = Field(
        default_factory=dict,
        description="Per-stage latency: decode, detect, fuse, denoise, filter, total (ms).",
    )
    t_emit_ns: int | None = Field(default=None, description="When the worker published it.")
    dropped_bundles: int = Field(
        default=0, ge=0, description="Bundles the worker skipped (fell behind) since start."
    )


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.__name__: cls
    for cls in (
        FrameHeader,
        Frame,
        Bundle,
        WorkerStatus,
        RigStatus,
        ClockRequest,
        ClockReply,
        ClockOffset,
        PoseResult,
    )
}
TOPIC_TYPES: dict[bytes, type[Message]] = {cls.TOPIC: cls for cls in MESSAGE_TYPES.values()}

Buffer = bytes | memoryview


def encode(
    message: Message, arrays: Mapping[str, AnyArray] | None = None, rig: str | None = None
) -> list[Buffer]:
    """Encode ``message`` (and its arrays, in order) as multipart frames, from rig ``rig``.

    Arrays are sent without a copy when they are C-contiguous; the caller must not modify them
    until ZeroMQ has sent them (capture allocates a fresh image per frame).
    """
    descriptors: list[dict[str, Any]] = []
    payload: list[Buffer] = []
    for name, array in (arrays or {}).items():
        arr = np.ascontiguousarray(array)
        if arr.dtype.name not in ALLOWED_DTYPES:
            raise ValueError(f"array {name!r}: dtype {arr.dtype} is not allowed on the wire")
        descriptors.append({"name": name, "dtype": arr.dtype.name, "shape": list(arr.shape)})
        payload.append(memoryview(arr.data).cast("B") if arr.size else b"")  # (0, J, 3): nobody
    envelope = {
        "v": SCHEMA_VERSION,
        "type": type(message).__name__,
        "body": message.model_dump(mode="json"),
        "arrays": descriptors,
    }
    if rig is not None:
        envelope["rig"] = rig
    head = json.dumps(envelope, separators=(",", ":")).encode()
    return [type(message).TOPIC, head, *payload]


@dataclass
class Decoded:
    """A decoded message with its arrays (read-only views on the received buffers)."""

    message: Message
    arrays: dict[str, AnyArray] = field(default_factory=dict)


@dataclass
class DecodeStats:
    """What a :class:`Decoder` dropped, by reason."""

    malformed: int = 0
    wrong_version: int = 0
    unexpected_type: int = 0
    other_rig: int = 0
    last_error: str | None = None

    @property
    def total(self) -> int:
        return self.malformed + self.wrong_version + self.unexpected_type + self.other_rig


class Decoder:
    """Decodes multipart frames, counting and dropping anything it cannot trust.

    ``accept`` limits the message types this consumer takes (default: all known types); with
    ``rig``, a message that says it comes from another rig is dropped (``other_rig``: two rigs
    on clashing ports), one that says nothing (a tool, a test) is taken.
    """

    def __init__(
        self, accept: Sequence[type[Message]] | None = None, rig: str | None = None
    ) -> None:
        self._accept = {cls.__name__ for cls in accept} if accept else set(MESSAGE_TYPES)
        self._rig = rig
        self.stats = DecodeStats()

    def _drop(self, reason: str, detail: str) -> None:
        setattr(self.stats, reason, getattr(self.stats, reason) + 1)
        self.stats.last_error = detail
        # Debug only: a hostile or broken peer must not be able to flood the log.
        logger.debug("dropped message (%s): %s", reason, detail)

    def decode(self, frames: Sequence[Any]) -> Decoded | None:
        """Decode ``[topic, envelope, *arrays]``; ``None`` (and a counted drop) when invalid.

        Frames may be ``bytes``, ``memoryview`` or ``zmq.Frame`` (anything with a buffer).
        """
        try:
            return self._decode(frames)
        except _Drop as drop:
            self._drop(drop.reason, drop.detail)
        except _HOSTILE as exc:  # anything else hostile input can make the parsers raise
            self._drop("malformed", f"undecodable: {type(exc).__name__}")
        return None

    def _decode(self, frames: Sequence[Any]) -> Decoded:
        if len(frames) < 2:
            raise _Drop("malformed", f"expected at least 2 frames, got {len(frames)}")
        topic = bytes(_buffer(frames[0]))
        head = _buffer(frames[1])
        if head.nbytes > MAX_ENVELOPE_BYTES:
            limit = MAX_ENVELOPE_BYTES
            raise _Drop("malformed", f"envelope of {head.nbytes} bytes (at most {limit})")
        try:
            envelope = json.loads(bytes(head))
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise _Drop("malformed", f"envelope is not JSON: {type(exc).__name__}") from None
        if not isinstance(envelope, dict):
            raise _Drop("malformed", "envelope is not a JSON object")
        if envelope.get("v") != SCHEMA_VERSION:
            raise _Drop("wrong_version", f"schema version {_short(envelope.get('v'))}")
        sender = envelope.get("rig")
        if self._rig is not None and sender is not None and sender != self._rig:
            raise _Drop("other_rig", f"from rig {_short(sender)}, not this rig ({self._rig})")
        type_name = envelope.get("type")
        cls = MESSAGE_TYPES.get(type_name) if isinstance(type_name, str) else None
        if cls is None:
            raise _Drop("malformed", f"unknown message type {_short(type_name)}")
        if topic != cls.TOPIC:
            raise _Drop("malformed", f"type {type_name} arrived on topic {_short(topic)}")
        if type_name not in self._accept:
            raise _Drop("unexpected_type", f"{type_name} not accepted here")
        try:
            message = cls.model_validate(envelope.get("body"))
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[:1]
            raise _Drop("malformed", f"{type_name} body invalid: {_short(first, 200)}") from None
        arrays = _decode_arrays(envelope.get("arrays", []), frames[2:])
        return Decoded(message=message, arrays=arrays)


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: what a hostile peer sent never fills a log
    line or a heartbeat."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Drop(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _buffer(frame: Any) -> memoryview:
    if isinstance(frame, bytes | bytearray | memoryview):
        return memoryview(frame)
    buf = getattr(frame, "buffer", None)  # zmq.Frame
    if buf is None:
        raise _Drop("malformed", f"frame of type {type(frame).__name__} has no buffer")
    return memoryview(buf)


def _decode_arrays(descriptors: Any, frames: Sequence[Any]) -> dict[str, AnyArray]:
    if not isinstance(descriptors, list) or len(descriptors) != len(frames):
        n = len(descriptors) if isinstance(descriptors, list) else "?"
        raise _Drop("malformed", f"{n} array descriptors for {len(frames)} array frames")
    arrays: dict[str, AnyArray] = {}
    for desc, frame in zip(descriptors, frames, strict=True):
        if not isinstance(desc, dict):
            raise _Drop("malformed", "array descriptor is not an object")
        name, dtype, shape = desc.get("name"), desc.get("dtype"), desc.get("shape")
        if not isinstance(name, str) or not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
            raise _Drop("malformed", f"bad array descriptor {_short(desc)}")
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_ARRAY_DIMS
            or not all(type(s) is int and 0 <= s < 2**31 for s in shape)
        ):
            raise _Drop("malformed", f"array {_short(name)}: bad shape {_short(shape)}")
        buf = _buffer(frame)
        dt = np.dtype(dtype)
        expected = math.prod(shape) * dt.itemsize  # exact: Python integers do not overflow
        if buf.nbytes != expected:
            needs = f"{buf.nbytes} bytes, shape needs {expected}"
            raise _Drop("malformed", f"array {_short(name)}: {needs}")
        arrays[name] = np.frombuffer(buf, dtype=dt).reshape(shape)
    return arrays
