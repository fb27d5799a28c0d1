"""What every frame source gives the capture worker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from syncpose.arrays import Float32Array, ImageArray


class SourceUnavailable(Exception):
    """The source cannot deliver frames right now (device gone, stream down, file unreadable).

    The message says which device and why; the worker reports it and reopens with back-off.
    """


class EndOfStream(Exception):
    """A finite source (a video file without looping) has no more frames."""


@dataclass(frozen=True)
class SourceFrame:
    """One grabbed frame.

    ``image``: (H, W, 3) uint8 BGR. ``t_capture_ns``: capture instant on this host's monotonic
    clock. ``skipped``: frames the source lost just before this one (the worker leaves a gap of
    that size in ``seq``). ``keypoints``: (J, 2) float32 true pixels (NaN = not visible), from
    synthetic sources only, with their ``keypoint_names`` and ``keypoint_depth`` (J,) float32
    metres in the camera frame (what the synthetic detector's error model needs).
    """

    image: ImageArray
    t_capture_ns: int
    skipped: int = 0
    device_ts_ns: int | None = None
    keypoints: Float32Array | None = None
    keypoint_names: tuple[str, ...] | None = None
    keypoint_depth: Float32Array | None = None


class FrameSource(Protocol):
    """A camera-like stream of frames; ``read`` blocks until the next frame."""

    description: str

    def open(self) -> None:
        """Open the device; raises :class:`SourceUnavailable`."""
        ...

    def read(self) -> SourceFrame:
        """The next frame; raises :class:`SourceUnavailable` or :class:`EndOfStream`."""
        ...

    def close(self) -> None:
        """Release the device; safe to call twice."""
        ...
