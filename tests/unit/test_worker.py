"""The capture worker, in-process, publishing over a real ZeroMQ socket on loopback."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import zmq

from syncpose.bus import SocketTimeouts, free_port_block, subscriber
from syncpose.capture.sources import SourceFrame, SourceUnavailable
from syncpose.capture.sources.opencv_source import OpenCVSource
from syncpose.capture.worker import CaptureWorker
from syncpose.clock import MonotonicClock
from syncpose.config import RigConfig
from syncpose.messages import Decoder, Frame, FrameHeader, WorkerStatus


class FlakySource:
    """Fails to open once (unplugged), then serves frames; loses a frame now and then."""

    description = "camera 'c0' (test device 7)"

    def __init__(self) -> None:
        self.opens = 0
        self.n = 0

    def open(self) -> None:
        self.opens += 1
        if self.opens == 1:
            raise SourceUnavailable(f"{self.description}: cannot open device index 7 (unplugged)")

    def read(self) -> SourceFrame:
        time.sleep(0.01)
        self.n += 1
        img = np.full((48, 64, 3), self.n % 250, np.uint8)
        return SourceFrame(
            image=img,
            t_capture_ns=time.monotonic_ns(),
            skipped=1 if self.n % 10 == 0 else 0,
            keypoints=np.array([[1.0, 2.0]], np.float32),
            keypoint_names=("nose",),
        )

    def close(self) -> None:
        return None


@pytest.mark.parametrize("encoding", ["jpeg", "raw"])
def test_worker_publishes_headers_pixels_and_status(encoding: str) -> None:
    base = free_port_block(2)
    rig = RigConfig.model_validate(
        {
            "rig": {"fps": 30},
            "cameras": [
                {
                    "id": "c0",
                    "encoding": encoding,
                    "source": {"type": "opencv", "device": 7, "reconnect_initial_s": 0.05},
                }
            ],
            "bus": {"base_port": base},
        }
    )
    ctx: zmq.Context[Any] = zmq.Context()
    stop = threading.Event()
    source = FlakySource()
    worker = CaptureWorker(
        rig, "c0", source=source, clock=MonotonicClock(), stop=stop, ctx=ctx, status_interval_s=0.05
    )
    sub = subscriber(
        ctx,
        [rig.camera_endpoint(0)],
        [FrameHeader.TOPIC, Frame.TOPIC, WorkerStatus.TOPIC],
        SocketTimeouts(),
    )
    thread = threading.Thread(target=worker.run)
    thread.start()
    decoder = Decoder()
    headers: list[FrameHeader] = []
    frames: list[tuple[Frame, np.ndarray]] = []
    statuses: list[WorkerStatus] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (len(frames) < 30 or len(statuses) < 3):
        if not sub.poll(100):
            continue
        decoded = decoder.decode(sub.recv_multipart(copy=False))
        assert decoded is not None
        msg = decoded.message
        if isinstance(msg, FrameHeader):
            headers.append(msg)
        elif isinstance(msg, Frame):
            frames.append((msg, decoded.arrays["image"]))
            np.testing.assert_array_equal(decoded.arrays["keypoints_true"], [[1.0, 2.0]])
        elif isinstance(msg, WorkerStatus):
            statuses.append(msg)
    stop.set()
    thread.join(5)
    sub.close()
    ctx.term()
    assert not thread.is_alive()
    assert len(frames) >= 30
    # Every pixel message carries the same header that went out on 'hdr'.
    by_seq = {h.seq: h for h in headers}
    for msg, pixels in frames:
        assert by_seq.get(msg.header.seq, msg.header) == msg.header
        assert msg.keypoint_names == ["nose"]
        image = cv2.imdecode(pixels, cv2.IMREAD_COLOR) if encoding == "jpeg" else pixels
        assert image is not None and image.shape == (48, 64, 3)
    # seq counts lost frames: every tenth source frame reports one loss before it.
    seqs = [m.header.seq for m, _ in frames]
    assert seqs == sorted(seqs)
    assert max(seqs) - min(seqs) + 1 > len(seqs)
    # The failed open was reported and retried, then the worker ran.
    assert source.opens == 2
    assert worker.last_error is not None and "unplugged" in worker.last_error
    assert statuses[-1].state == "running" and statuses[-1].worker == "capture:c0"
    assert statuses[-1].dropped >= 1


def test_lost_opencv_device_is_reported_and_retried_with_backoff(tmp_path: Path) -> None:
    """A real OpenCV stream that ends and whose file then disappears: the worker keeps
    reopening with growing back-off and its heartbeat names the device and the reason."""
    video = tmp_path / "stream.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    rig = RigConfig.model_validate(
        {
            "rig": {"fps": 30},
            "cameras": [
                {
                    "id": "door",
                    "source": {
                        "type": "opencv",
                        "device": str(video),
                        "reconnect_initial_s": 0.02,
                        "reconnect_max_s": 0.1,
                    },
                }
            ],
            "bus": {"base_port": free_port_block(2)},
        }
    )
    ctx: zmq.Context[Any] = zmq.Context()
    stop = threading.Event()
    clock = MonotonicClock()
    source = OpenCVSource(rig.cameras[0].source, camera_id="door", clock=clock)  # type: ignore[arg-type]
    worker = CaptureWorker(
        rig, "door", source=source, clock=clock, stop=stop, ctx=ctx, status_interval_s=0.05
    )
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and worker.frames_published < 10:
            time.sleep(0.01)
        assert worker.frames_published >= 10  # the stream "reconnected" after it ended
        video.unlink()  # the device is gone for good
        time.sleep(0.5)
        assert worker.state == "degraded"
        assert worker.last_error is not None
        assert "camera 'door'" in worker.last_error and "cannot open URL" in worker.last_error
        assert str(video) in worker.last_error
    finally:
        stop.set()
        thread.join(5)
        ctx.term()
    assert not thread.is_alive()
