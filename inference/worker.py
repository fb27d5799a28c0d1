"""The inference worker process: bundles and frames in over ZeroMQ, poses out.

Subscribes to the aligner's ``bundle`` topic and to every camera's ``frame`` topic (pixels and,
from synthetic cameras, true keypoints). Frames wait in a short per-camera buffer keyed by
``seq`` until their bundle comes; a bundle waits at most ``frame_wait_ms`` for frames still on
the way. Bundles queue in a bounded queue: when the worker falls behind, the oldest bundle is
dropped and counted (the pose stream stays live instead of growing late). Each bundle goes
through the :class:`~syncpose.inference.pipeline.InferencePipeline` in two overlapping stages: while
one bundle's views are being detected (on the pipeline's threads), the previous bundle is
fused and published on this thread, so neither the cores nor the detector wait. With a
per-camera detector (MediaPipe, synthetic) each camera's frames are detected the moment they
arrive, on that camera's own thread, so detection overlaps the aligner's wait for the slowest
camera and the load is spread evenly; a camera whose detector falls three frames behind skips
frames (counted in the heartbeat's ``dropped`` with the dropped bundles). The
:class:`~syncpose.messages.PoseResult` goes out on the worker's endpoint (topic ``pose``)
with a :class:`~syncpose.messages.WorkerStatus` heartbeat (``status``) every second.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import zmq

from syncpose.bus import SocketTimeouts, drain, publish_message, publisher, subscriber
from syncpose.clock import NS_PER_MS, monotonic_ns
from syncpose.config import RigConfig
from syncpose.inference.pipeline import (
    Detected,
    FrameDetection,
    InferencePipeline,
    PoseOutput,
    ViewFrame,
)
from syncpose.messages import Bundle, Decoder, Frame, WorkerState
from syncpose.process import ProcessSpec
from syncpose.worker import Heartbeat, WorkerFailed, run_worker

logger = logging.getLogger(__name__)

WORKER_NAME = "inference"
_FRAMES_KEPT = 8  # per camera: a few frame periods of pixels waiting for their bundle
_MAX_BEHIND = 3  # per camera: frames waiting for the detector before new ones are skipped


class InferenceWorker:
    """Runs an :class:`InferencePipeline` over real sockets until ``stop`` is set."""

    def __init__(
        self,
        rig: RigConfig,
        pipeline: InferencePipeline,
        *,
        stop: threading.Event,
        ctx: zmq.Context[Any] | None = None,
        status_interval_s: float = 1.0,
    ) -> None:
        self.rig = rig
        self.pipeline = pipeline
        self.stop = stop
        self._ctx = ctx or zmq.Context.instance()
        self.heartbeat = Heartbeat(WORKER_NAME, status_interval_s)
        self.frames: dict[str, OrderedDict[int, ViewFrame]] = {
            cam: OrderedDict() for cam in rig.camera_ids
        }
        self.queue: deque[tuple[Bundle, int]] = deque()
        self._stage = ThreadPoolExecutor(1, thread_name_prefix="detect")
        self._inflight: Future[Detected] | None = None
        # Per-camera mode: each camera's frames are detected as they arrive, in order, on
        # that camera's own thread; a bundle then only collects the results.
        self._per_camera = pipeline.per_camera
        self._camera_threads = {
            cam: ThreadPoolExecutor(1, thread_name_prefix=f"detect-{cam}")
            for cam in rig.camera_ids
        } if self._per_camera else {}  # fmt: skip
        self._detections: dict[str, OrderedDict[int, Future[FrameDetection]]] = {
            cam: OrderedDict() for cam in rig.camera_ids
        }
        self.frames_not_detected = 0  # a camera's detector was too far behind
        self.rig_id = rig.rig_id
        self.decoder = Decoder(accept=[Bundle, Frame], rig=self.rig_id)
        self.poses = 0
        self.dropped_bundles = 0
        self.state: WorkerState = "starting"
        self.last_error: str | None = None

    def run(self) -> None:
        rig = self.rig
        timeouts = SocketTimeouts.of(rig.bus)
        n = len(rig.cameras)
        cams = [rig.camera_endpoint(i) for i in range(n)]
        with ExitStack() as sockets:  # closed in any case, a failed bind included
            sockets.callback(self.pipeline.close)
            pub = sockets.enter_context(
                publisher(self._ctx, rig.inference_endpoint(), timeouts, send_hwm=64)
            )
            # Raw frames are megabytes: keep only a few per camera queued in ZeroMQ.
            frame_sub = sockets.enter_context(
                subscriber(self._ctx, cams, [Frame.TOPIC], timeouts, recv_hwm=4 * n)
            )
            bundle_sub = sockets.enter_context(
                subscriber(self._ctx, [rig.aligner_endpoint()], [Bundle.TOPIC], timeouts)
            )
            self.state = "running"
            denoiser = self.pipeline.engine.denoiser
            on = f" on {denoiser.provider}" if denoiser is not None else ""
            logger.info("inference worker up: %d cameras, detector %s, %s%s (details: "
                        "--log-level DEBUG)", n, self.pipeline.detector.name,
                        self.pipeline.engine.method, on)  # fmt: skip
            try:
                self._loop(pub, frame_sub, bundle_sub)
            finally:
                self.state = "stopped"
                self._stage.shutdown(wait=True, cancel_futures=True)
                for pool in self._camera_threads.values():
                    pool.shutdown(wait=True, cancel_futures=True)
                self._heartbeat(pub, 0.0)

    def _loop(
        self, pub: zmq.Socket[Any], frame_sub: zmq.Socket[Any], bundle_sub: zmq.Socket[Any]
    ) -> None:
        poller = zmq.Poller()
        poller.register(frame_sub, zmq.POLLIN)
        poller.register(bundle_sub, zmq.POLLIN)
        wait_ns = round(self.rig.inference.frame_wait_ms * NS_PER_MS)
        while not self.stop.is_set():
            busy = self.queue or self._inflight is not None
            ready = dict(poller.poll(1 if busy else 50))
            if frame_sub in ready:
                self._drain(frame_sub)
            if bundle_sub in ready:
                self._drain(bundle_sub)
            detected = None
            if self._inflight is not None and self._inflight.done():
                detected = self._take(self._inflight)
                self._inflight = None
            if self._inflight is None:
                self._start_next(wait_ns)  # the next detection overlaps this fusion
            if detected is not None:
                self._publish(pub, self.pipeline.fuse(detected))
            rate = self.heartbeat.due(self.poses)
            if rate is not None:
                self._heartbeat(pub, rate)

    def _drain(self, sock: zmq.Socket[Any]) -> None:
        for decoded, _ in drain(sock, self.decoder):
            msg = decoded.message
            if isinstance(msg, Frame):
                buffer = self.frames.get(msg.header.camera_id)
                if buffer is None:
                    continue
                frame = ViewFrame.from_message(msg, decoded.arrays)
                buffer[msg.header.seq] = frame
                while len(buffer) > _FRAMES_KEPT:
                    buffer.popitem(last=False)
                if self._per_camera:
                    self._detect_on_arrival(msg.header.camera_id, frame)
            elif isinstance(msg, Bundle):
                if len(self.queue) >= self.rig.inference.queue:
                    self.queue.popleft()
                    self.dropped_bundles += 1
                self.queue.append((msg, monotonic_ns()))

    def _complete(self, bundle: Bundle) -> bool:
        return all(
            v.header.seq in self.frames.get(v.camera_id, {})
            for v in bundle.views
            if v.header is not None
        )

    def _detect_on_arrival(self, cam: str, frame: ViewFrame) -> None:
        """Start detecting a camera's frame now, unless that camera's detector is already
        :data:`_MAX_BEHIND` frames behind (then this frame goes undetected: its bundle will lack
        the view)."""
        pending = self._detections[cam]
        behind = sum(1 for f in pending.values() if not f.done())
        if behind >= _MAX_BEHIND:
            self.frames_not_detected += 1
            return
        pending[frame.header.seq] = self._camera_threads[cam].submit(
            self.pipeline.detect_frame, cam, frame
        )
        while len(pending) > _FRAMES_KEPT:
            pending.popitem(last=False)

    def _collect(self, bundle: Bundle, frames: dict[str, ViewFrame | None]) -> Detected:
        """The detection stage in per-camera mode: wait for the views' detections (started when
        their frames arrived) and hand them to the pipeline."""
        ready: dict[str, FrameDetection | None] = {}
        for view in bundle.views:
            if view.header is None:
                continue
            future = self._detections[view.camera_id].get(view.header.seq)
            if future is not None:
                ready[view.camera_id] = future.result()
            elif frames.get(view.camera_id) is not None:
                ready[view.camera_id] = FrameDetection(
                    None, None, "detector behind, frame skipped", 0.0, 0.0
                )
        return self.pipeline.detect(bundle, frames, ready)

    def _start_next(self, wait_ns: int) -> None:
        """Hand the oldest bundle to the detection stage once its frames are in (or waited
        for long enough)."""
        if not self.queue:
            return
        bundle, received = self.queue[0]
        if not (self._complete(bundle) or monotonic_ns() - received >= wait_ns):
            return
        self.queue.popleft()
        frames = {
            v.camera_id: self.frames[v.camera_id].get(v.header.seq)
            for v in bundle.views
            if v.header is not None and v.camera_id in self.frames
        }
        if self._per_camera:
            self._inflight = self._stage.submit(self._collect, bundle, frames)
        else:
            self._inflight = self._stage.submit(self.pipeline.detect, bundle, frames)

    def _take(self, future: Future[Detected]) -> Detected | None:
        try:
            return future.result()
        except Exception as exc:  # the pipeline reports its own failures; this is a bug
            logger.exception("detection stage failed")
            self.last_error = f"detection stage failed: {exc}"
            self.dropped_bundles += 1
            return None

    def _publish(self, pub: zmq.Socket[Any], out: PoseOutput) -> None:
        message = out.message.model_copy(
            update={"t_emit_ns": monotonic_ns(), "dropped_bundles": self.dropped_bundles}
        )
        publish_message(pub, message, rig=self.rig_id, **out.arrays)
        self.poses += 1

    def _heartbeat(self, pub: zmq.Socket[Any], rate: float) -> None:
        state = self.state
        errors = self.pipeline.detector_errors
        if state == "running" and (errors or self.decoder.stats.total):
            self.last_error = (
                f"{errors} detector failure(s)" if errors else self.decoder.stats.last_error
            )
        if state == "running" and self.frames_not_detected:
            self.last_error = f"{self.frames_not_detected} frame(s) skipped: detector behind"
        publish_message(
            pub,
            self.heartbeat.status(
                state,
                fps=rate,
                frames=self.poses,
                dropped=self.dropped_bundles + self.frames_not_detected,
                last_error=self.last_error,
            ),
            rig=self.rig_id,
        )


def main(config_json: str, log_level: str = "INFO") -> None:
    """Process entry point (``spawn`` target): the inference worker of the rig."""

    def infer(rig: RigConfig, stop: threading.Event, ctx: zmq.Context[Any]) -> None:
        try:
            pipeline = InferencePipeline.from_config(rig)
        except (OSError, ValueError) as exc:  # a calibration or model missing or invalid
            raise WorkerFailed(str(exc)) from exc
        InferenceWorker(rig, pipeline, stop=stop, ctx=ctx).run()

    run_worker(WORKER_NAME, config_json, log_level, infer)


def process_spec(rig: RigConfig, log_level: str = "INFO") -> ProcessSpec:
    """The worker as a process of the rig: stopped first (it consumes everyone else)."""
    return ProcessSpec(WORKER_NAME, main, (rig.model_dump_json(), log_level), stop_stage=-1)
