"""The capture worker, in-process, publishing over a real ZeroMQ socket on loopback."""

from __future__ import annotations

import threading
import time
from typing import Any

import cv2
import numpy as np
import pytest
import zmq

from capture.bench import free_port_block
from capture.sources import SourceFrame, SourceUnavailable
from capture.worker import CaptureWorker
from syncpose.bus import SocketTimeouts, subscriber
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
