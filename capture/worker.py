"""The capture worker: one process per camera.

Two threads, so the grab is never held up by encoding or sending:

* the **grab thread** reads the source, numbers each frame (``seq``; a source-reported loss
  leaves a gap) and hands it over through a 2-slot queue that drops the oldest frame when full;
* the **publish thread** (the caller of :meth:`CaptureWorker.run`, owner of the ZeroMQ socket)
  publishes the header on ``hdr``, the pixels (raw or JPEG) on ``frame``, and a
  :class:`~syncpose.messages.WorkerStatus` heartbeat on ``status``;
* on a host other than the aligner's, a **clock thread** measures this host's clock offset to
  the aligner's (:mod:`syncpose.clocksync`) every few seconds; the publish thread sends it on
  ``clock`` and the aligner applies it to this host's timestamps.

A lost device is reopened with exponential back-off; the heartbeat says which device and why.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from typing import Any

import cv2
import numpy as np
import zmq

from syncpose.bus import SocketTimeouts, publish_message, publisher
from syncpose.capture.sources import EndOfStream, FrameSource, SourceFrame, SourceUnavailable
from syncpose.clock import Clock, MonotonicClock
from syncpose.clocksync import ClockSyncClient
from syncpose.config import OpenCVSourceConfig, RigConfig
from syncpose.messages import ClockOffset, Frame, FrameHeader, WorkerState, WorkerStatus
from syncpose.worker import Heartbeat, run_worker

logger = logging.getLogger(__name__)

_CLOSE_GRACE_S = 0.05


class CaptureWorker:
    """Grab, number, timestamp and publish one camera's frames until ``stop`` is set."""

    def __init__(
        self,
        rig: RigConfig,
        camera_id: str,
        *,
        source: FrameSource,
        clock: Clock,
        stop: threading.Event,
        ctx: zmq.Context[Any] | None = None,
        status_interval_s: float = 1.0,
    ) -> None:
        self.rig = rig
        self.rig_id = rig.rig_id
        self.camera = rig.camera(camera_id)
        self.endpoint = rig.camera_endpoint(rig.camera_ids.index(camera_id))
        self.source = source
        self.clock = clock
        self.stop = stop
        self._ctx = ctx or zmq.Context.instance()
        self.heartbeat = Heartbeat(f"capture:{camera_id}", status_interval_s, clock)
        self._handoff: queue.Queue[tuple[int, SourceFrame]] = queue.Queue(maxsize=2)
        self._clock_offset: ClockOffset | None = None  # measured, not yet published
        self._lock = threading.Lock()
        self.state: WorkerState = "starting"
        self.last_error: str | None = None
        self.frames_published = 0
        self.handoff_drops = 0
        self.source_skipped = 0
        src = self.camera.source
        if isinstance(src, OpenCVSourceConfig):
            self._backoff = (src.reconnect_initial_s, src.reconnect_max_s)
        else:
            self._backoff = (0.5, 10.0)

    # -- grab thread ---------------------------------------------------------------------------

    def _set_state(self, state: WorkerState, error: str | None = None) -> None:
        with self._lock:
            self.state = state
            if error is not None:
                self.last_error = error

    def _grab_loop(self) -> None:
        seq = 0
        opened = False
        delay = self._backoff[0]
        try:
            while not self.stop.is_set():
                if not opened:
                    try:
                        self.source.open()
                    except SourceUnavailable as exc:
                        self._unavailable(str(exc), delay)
                        delay = min(delay * 2.0, self._backoff[1])
                        continue
                    opened = True
                    self._set_state("running")
                try:
                    frame = self.source.read()
                except SourceUnavailable as exc:
                    self.source.close()
                    opened = False
                    self._unavailable(str(exc), delay)
                    delay = min(delay * 2.0, self._backoff[1])
                    continue
                delay = self._backoff[0]
                seq += frame.skipped
                with self._lock:
                    self.source_skipped += frame.skipped
                self._hand_over(seq, frame)
                seq += 1
        except EndOfStream as exc:
            logger.info("%s", exc)
            self._set_state("stopped")
        except Exception as exc:
            logger.exception("%s: capture failed", self.source.description)
            self._set_state("error", f"{type(exc).__name__}: {exc}")
        finally:
            self.source.close()
            self.stop.set()

    def _unavailable(self, reason: str, delay: float) -> None:
        logger.warning("%s; retrying in %.1f s", reason, delay)
        self._set_state("degraded", reason)
        self.stop.wait(delay)

    def _hand_over(self, seq: int, frame: SourceFrame) -> None:
        try:
            self._handoff.put_nowait((seq, frame))
        except queue.Full:
            with contextlib.suppress(queue.Empty):
                self._handoff.get_nowait()  # drop the oldest: the newest frame matters most
            with self._lock:
                self.handoff_drops += 1
            self._handoff.put_nowait((seq, frame))

    # -- clock thread --------------------------------------------------------------------------

    def _clock_loop(self, timeouts: SocketTimeouts) -> None:
        client = ClockSyncClient(
            self._ctx,
            self.rig.clock_endpoint(),
            self.camera.host,
            self.clock,
            timeouts,
            self.rig_id,
        )
        try:
            while not self.stop.is_set():
                measured = client.measure()
                if measured is not None:
                    with self._lock:
                        self._clock_offset = measured
                self.stop.wait(self.rig.aligner.clock_sync_interval_s)
        except Exception:
            logger.exception("camera %r: clock synchronisation failed", self.camera.id)
        finally:
            client.close()

    # -- publish thread ------------------------------------------------------------------------

    def _publish(self, sock: zmq.Socket[Any], seq: int, frame: SourceFrame) -> None:
        cam = self.camera
        h, w = frame.image.shape[:2]
        header = FrameHeader(
            camera_id=cam.id,
            seq=seq,
            t_capture_ns=frame.t_capture_ns,
            host=cam.host,
            width=w,
            height=h,
            encoding=cam.encoding,
            device_ts_ns=frame.device_ts_ns,
            t_publish_ns=self.clock.now_ns(),
        )
        publish_message(sock, header, rig=self.rig_id)
        if cam.encoding == "jpeg":
            ok, buf = cv2.imencode(
                ".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, cam.jpeg_quality]
            )
            if not ok:
                raise RuntimeError(f"camera {cam.id!r}: JPEG encoding failed")
            pixels = np.asarray(buf, dtype=np.uint8).reshape(-1)
        else:
            pixels = np.ascontiguousarray(frame.image)
        arrays: dict[str, Any] = {"image": pixels}
        if frame.keypoints is not None:
            arrays["keypoints_true"] = frame.keypoints
        if frame.keypoint_depth is not None:
            arrays["keypoints_depth"] = frame.keypoint_depth
        names = list(frame.keypoint_names) if frame.keypoint_names else None
        frame_msg = Frame(header=header, keypoint_names=names)
        publish_message(sock, frame_msg, rig=self.rig_id, **arrays)
        self.frames_published += 1

    def status(self, fps: float) -> WorkerStatus:
        """The heartbeat to publish now."""
        with self._lock:
            return self.heartbeat.status(
                self.state,
                fps=fps,
                frames=self.frames_published,
                dropped=self.handoff_drops + self.source_skipped,
                last_error=self.last_error,
            )

    def run(self) -> WorkerState:
        """Capture and publish until ``stop`` is set or the source ends; returns the end state."""
        timeouts = SocketTimeouts.of(self.rig.bus)
        sock = publisher(self._ctx, self.endpoint, timeouts, send_hwm=self.camera.send_hwm)
        grabber = threading.Thread(target=self._grab_loop, name=f"grab-{self.camera.id}")
        grabber.start()
        clock_thread = None
        if self.rig.clock_sync_enabled(self.camera.id):
            clock_thread = threading.Thread(
                target=self._clock_loop, args=(timeouts,), name=f"clock-{self.camera.id}"
            )
            clock_thread.start()
        try:
            while grabber.is_alive() or not self._handoff.empty():
                try:
                    seq, frame = self._handoff.get(timeout=0.05)
                except queue.Empty:
                    pass
                else:
                    self._publish(sock, seq, frame)
                with self._lock:
                    offset, self._clock_offset = self._clock_offset, None
                if offset is not None:
                    publish_message(sock, offset, rig=self.rig_id)
                fps = self.heartbeat.due(self.frames_published)
                if fps is not None:
                    publish_message(sock, self.status(fps), rig=self.rig_id)
        except Exception as exc:
            logger.exception("camera %r: publishing failed", self.camera.id)
            self._set_state("error", f"{type(exc).__name__}: {exc}")
            self.stop.set()
        finally:
            grabber.join(timeout=5.0)
            if clock_thread is not None:
                clock_thread.join(timeout=5.0)
            if self.state not in ("error", "stopped"):
                self._set_state("stopped")
            publish_message(sock, self.status(0.0), rig=self.rig_id)
            # Let subscribers finish reading before the socket unbinds (zeromq/libzmq#3442).
            time.sleep(_CLOSE_GRACE_S)
            sock.close()
        return self.state


def main(config_json: str, camera_id: str, epoch_ns: int, log_level: str = "INFO") -> None:
    """Process entry point (``spawn`` target): capture ``camera_id`` of the rig in ``config_json``.

    Exits with status 1 when the worker ended in ``error`` (the supervisor restarts it).
    """

    def capture(rig: RigConfig, stop: threading.Event, ctx: zmq.Context[Any]) -> WorkerState:
        from syncpose.capture.sources import make_source

        clock = MonotonicClock()
        source = make_source(rig, camera_id, epoch_ns=epoch_ns, clock=clock)
        return CaptureWorker(rig, camera_id, source=source, clock=clock, stop=stop, ctx=ctx).run()

    run_worker(f"capture:{camera_id}", config_json, log_level, capture)
