"""The inference worker over real ZeroMQ sockets: frames and bundles in, PoseResults out,
with views missing from some bundles and pixels that never arrive for others."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import zmq

from syncpose.bus import SocketTimeouts, free_port_block, publish_message, publisher, subscriber
from syncpose.inference.pipeline import InferencePipeline
from syncpose.inference.worker import InferenceWorker
from syncpose.messages import Decoder, Frame, PoseResult, WorkerStatus
from tests.helpers.synthetic_bundles import synthetic_rig_config, synthetic_ticks


def test_worker_publishes_poses_with_reasons_for_missing_views() -> None:
    base = free_port_block(8)
    config = synthetic_rig_config(base, extra="inference: {frame_wait_ms: 120, queue: 64}\n")
    missing = {k: {"cam1", "cam2", "cam3"} for k in (10, 11)}
    missing.update({k: {"cam3"} for k in (15, 16)})
    ticks = synthetic_ticks(config, 30, missing)
    ctx: zmq.Context[Any] = zmq.Context()
    t = SocketTimeouts()
    cams = [publisher(ctx, config.camera_endpoint(i), t, send_hwm=100) for i in range(4)]
    aligner = publisher(ctx, config.aligner_endpoint(), t, send_hwm=100)
    poses = subscriber(ctx, [config.inference_endpoint()], [PoseResult.TOPIC, b"status"], t)
    stop = threading.Event()
    worker = InferenceWorker(
        config, InferencePipeline.from_config(config), stop=stop, ctx=ctx, status_interval_s=0.2
    )
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    received: dict[int, tuple[PoseResult, dict[str, Any]]] = {}
    statuses: list[WorkerStatus] = []
    decoder = Decoder(accept=[PoseResult, WorkerStatus])

    def sent_frames(tick: Any) -> list[str]:
        # Bundle 20: the header made it into the bundle, the pixels of cam0 never arrive.
        return [c for c in tick.frames if not (tick.bundle.bundle_seq == 20 and c == "cam0")]

    def send(tick: Any, wait_for_frames: bool = False) -> None:
        for cam_id in sent_frames(tick):
            frame = tick.frames[cam_id]
            i = config.camera_ids.index(cam_id)
            arrays: dict[str, Any] = {
                "image": frame.pixels,
                "keypoints_true": np.asarray(frame.keypoints_true, np.float32),
                "keypoints_depth": np.asarray(frame.keypoints_depth, np.float32),
            }
            header = Frame(header=frame.header, keypoint_names=list(frame.keypoint_names or ()))
            publish_message(cams[i], header, **arrays)
        if wait_for_frames:  # as live, where the aligner's bundle comes after the frames
            deadline = time.monotonic() + 10.0
            seq = tick.bundle.bundle_seq
            while time.monotonic() < deadline and not all(
                seq in worker.frames[c] for c in sent_frames(tick)
            ):
                time.sleep(0.002)
        publish_message(aligner, tick.bundle)

    def collect(timeout_ms: int) -> None:
        if not poses.poll(timeout_ms):
            return
        decoded = decoder.decode(poses.recv_multipart(copy=False))
        assert decoded is not None
        if isinstance(decoded.message, PoseResult):
            received[decoded.message.bundle_seq] = (decoded.message, decoded.arrays)
        elif isinstance(decoded.message, WorkerStatus):
            statuses.append(decoded.message)

    try:
        # ZeroMQ's slow joiner: repeat the first tick until its pose comes back, so every
        # subscription (frames, bundles, poses) is up before the run starts.
        deadline = time.monotonic() + 20.0
        while 0 not in received and time.monotonic() < deadline:
            send(ticks[0])
            collect(200)
        assert 0 in received, "the worker never answered the first tick"
        for tick in ticks[1:]:
            # In lock-step (each pose before the next tick): this checks the worker's logic,
            # not whether a loaded CI machine keeps up with a frame rate.
            send(tick, wait_for_frames=True)
            deadline = time.monotonic() + 10.0
            while tick.bundle.bundle_seq not in received and time.monotonic() < deadline:
                collect(100)
    finally:
        stop.set()
        thread.join(10.0)
        for s in (*cams, aligner, poses):
            s.close()
        ctx.term()
    assert not thread.is_alive()
    assert len(received) == len(ticks)
    for k, (pose, arrays) in received.items():
        everyone = np.asarray(arrays["positions"], np.float64)
        assert everyone.shape == (len(pose.person_ids), 17, 3)
        assert pose.t_emit_ns is not None and pose.latency_ms["total"] > 0
        if k in (10, 11):
            assert pose.person_ids == [] and "1 view(s) with a person" in (pose.reason or "")
            continue
        if k == 0 and not pose.person_ids:  # an id once seen two ticks running
            continue
        assert pose.person_ids == [1]
        positions = everyone[0]
        if k == 20:
            assert "cam0" not in pose.views_used and len(pose.views_used) == 3
        elif k in (15, 16):
            assert pose.views_used == ["cam0", "cam1", "cam2"]
        elif k >= 2:
            assert pose.reason is None and len(pose.views_used) == 4
            ok = np.isfinite(positions).all(1)
            err = np.linalg.norm(positions[ok] - ticks[k].truth[ok], axis=1)
            assert np.median(err) < 0.03
    assert any(s.worker == "inference" and s.state == "running" for s in statuses)
    assert worker.dropped_bundles == 0
