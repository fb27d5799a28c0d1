"""A video file replayed as a live camera, paced in real time.

File frame ``i`` of loop ``L`` is released at ``epoch + start_offset + (L * n + i) / fps`` where
``n`` is the number of frames in the file. Only frames ``start_frame, start_frame + step, ...``
are released, each stamped with its release time — the instant the file's frame shows, exactly,
even when a loaded machine releases it a little late (that lateness is latency, not timestamp
error). So a 60 fps hardware-synchronised recording replayed with ``frame_step: 2`` and
``start_frame: 1`` on some cameras is a real 30 fps rig whose shifted cameras are one 60 fps
frame (16.7 ms) late — with correct timestamps.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from syncpose.arrays import ImageArray
from syncpose.capture.sources.base import EndOfStream, SourceFrame, SourceUnavailable
from syncpose.clock import NS_PER_S, Clock, ms_to_ns
from syncpose.config import VideoSourceConfig

logger = logging.getLogger(__name__)


class VideoFileSource:
    """A :class:`~syncpose.capture.sources.base.FrameSource` replaying a video file."""

    def __init__(
        self,
        config: VideoSourceConfig,
        *,
        camera_id: str,
        epoch_ns: int,
        clock: Clock,
    ) -> None:
        self.config = config
        self.description = f"camera {camera_id!r} (video {str(config.path)!r})"
        self._clock = clock
        self._epoch = epoch_ns + ms_to_ns(config.start_offset_ms)
        self._cap: cv2.VideoCapture | None = None
        self.fps = config.fps or 0.0
        self._next = 0  # next file frame index to read
        self._loop = 0
        self._frames_in_file: int | None = None

    def open(self) -> None:
        self.close()
        path = Path(self.config.path)
        if not path.is_file():
            raise SourceUnavailable(f"{self.description}: file not found")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            cap.release()
            raise SourceUnavailable(f"{self.description}: OpenCV cannot open it (codec/format?)")
        if not self.config.fps:
            file_fps = cap.get(cv2.CAP_PROP_FPS)
            if not file_fps or file_fps <= 0:
                cap.release()
                raise SourceUnavailable(f"{self.description}: no frame rate in file; set 'fps'")
            self.fps = float(file_fps)
        self._cap = cap
        self._next = 0

    def _release_time(self, index: int) -> int:
        n = self._frames_in_file or 0
        return self._epoch + round((self._loop * n + index) * NS_PER_S / self.fps)

    def _wanted(self, index: int) -> bool:
        cfg = self.config
        return index >= cfg.start_frame and (index - cfg.start_frame) % cfg.frame_step == 0

    def _read_next_wanted(self) -> tuple[int, ImageArray]:
        """Decode the next released frame of the file (rewinding at the end when looping)."""
        rewound = False
        while True:
            cap = self._cap
            if cap is None:
                raise SourceUnavailable(f"{self.description}: not open")
            index = self._next
            if not self._wanted(index):
                if not cap.grab():
                    self._end_of_file(index, rewound)
                    rewound = True
                    continue
                self._next += 1
                continue
            ok, image = cap.read()
            if not ok or image is None:
                self._end_of_file(index, rewound)
                rewound = True
                continue
            self._next += 1
            return index, np.asarray(image, dtype=np.uint8)

    def _end_of_file(self, index: int, rewound: bool) -> None:
        if index == 0 or rewound:
            raise SourceUnavailable(f"{self.description}: no readable frames")
        if not self.config.loop:
            raise EndOfStream(f"{self.description}: end of file after {index} frames")
        self._frames_in_file = index
        self._loop += 1
        self._next = 0
        # Seeking back is much cheaper than reopening (which can cost a few frames' time).
        if self._cap is None or not self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
            self.open()

    def read(self) -> SourceFrame:
        index, image = self._read_next_wanted()
        release = self._release_time(index)
        # Frames whose release time is long gone (the replay started late) are skipped, the way
        # a live camera would have lost them, instead of being released in a burst.
        skipped = 0
        while self._clock.now_ns() - release > round(NS_PER_S / self.fps) * self.config.frame_step:
            index, image = self._read_next_wanted()
            release = self._release_time(index)
            skipped += 1
        self._clock.sleep_until_ns(release)
        return SourceFrame(image=image, t_capture_ns=release, skipped=skipped, device_ts_ns=release)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
