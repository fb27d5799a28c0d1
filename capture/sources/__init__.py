"""Frame sources, chosen by the ``type`` field of a camera's ``source`` config."""

from __future__ import annotations

from syncpose.capture.sources.base import EndOfStream, FrameSource, SourceFrame, SourceUnavailable
from syncpose.capture.sources.opencv_source import OpenCVSource
from syncpose.capture.sources.synthetic import SyntheticSource
from syncpose.capture.sources.video import VideoFileSource
from syncpose.clock import Clock
from syncpose.config import (
    OpenCVSourceConfig,
    RigConfig,
    SyntheticSourceConfig,
    VideoSourceConfig,
)

__all__ = [
    "EndOfStream",
    "FrameSource",
    "SourceFrame",
    "SourceUnavailable",
    "make_source",
]


def make_source(rig: RigConfig, camera_id: str, *, epoch_ns: int, clock: Clock) -> FrameSource:
    """Build the source configured for ``camera_id``.

    ``epoch_ns`` is the rig's shared start instant: synthetic cameras schedule their frames from
    it and video replays release their first frame at it, so their offsets are known exactly.
    """
    cam = rig.camera(camera_id)
    src = cam.source
    if isinstance(src, OpenCVSourceConfig):
        return OpenCVSource(src, camera_id=camera_id, clock=clock)
    if isinstance(src, VideoSourceConfig):
        return VideoFileSource(src, camera_id=camera_id, epoch_ns=epoch_ns, clock=clock)
    if isinstance(src, SyntheticSourceConfig):
        return SyntheticSource(
            src,
            camera_id=camera_id,
            camera_index=rig.camera_ids.index(camera_id),
            camera_count=len(rig.cameras),
            rig_fps=rig.rig.fps,
            epoch_ns=epoch_ns,
            clock=clock,
        )
    raise TypeError(f"unknown source config {type(src).__name__}")
