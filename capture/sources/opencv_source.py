"""A camera opened through OpenCV: USB device index, or an RTSP/HTTP/file URL.

Frames are stamped at the midpoint of ``grab()``. A failed open or grab raises
:class:`SourceUnavailable` naming the device; the worker reopens it with back-off.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from syncpose.capture.sources.base import SourceFrame, SourceUnavailable
from syncpose.clock import NS_PER_MS, Clock, timed_grab
from syncpose.config import OpenCVSourceConfig

logger = logging.getLogger(__name__)


class OpenCVSource:
    """A :class:`~syncpose.capture.sources.base.FrameSource` over ``cv2.VideoCapture``."""

    def __init__(self, config: OpenCVSourceConfig, *, camera_id: str, clock: Clock) -> None:
        self.config = config
        self.description = f"camera {camera_id!r} (OpenCV device {config.device!r})"
        self._clock = clock
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        self.close()
        cfg = self.config
        cap = cv2.VideoCapture(cfg.device)
        if not cap.isOpened():
            cap.release()
            kind = "device index" if isinstance(cfg.device, int) else "URL"
            raise SourceUnavailable(
                f"{self.description}: cannot open {kind} {cfg.device!r} "
                "(unplugged, in use by another program, or unreachable)"
            )
        if cfg.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
        if cfg.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
        if cfg.fps:
            cap.set(cv2.CAP_PROP_FPS, cfg.fps)
        self._cap = cap
        logger.info("%s opened", self.description)

    def read(self) -> SourceFrame:
        cap = self._cap
        if cap is None:
            raise SourceUnavailable(f"{self.description}: not open")
        ok, t = timed_grab(self._clock, cap.grab)
        if not ok:
            raise SourceUnavailable(
                f"{self.description}: grab failed (device lost or stream ended)"
            )
        ok, image = cap.retrieve()
        if not ok or image is None:
            raise SourceUnavailable(f"{self.description}: could not decode the grabbed frame")
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        pos_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
        device_ts = round(pos_ms * NS_PER_MS) if pos_ms and pos_ms > 0 else None
        pixels = np.asarray(image, dtype=np.uint8)
        return SourceFrame(image=pixels, t_capture_ns=t, device_ts_ns=device_ts)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
