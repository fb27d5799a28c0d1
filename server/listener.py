"""The server's subscription to the rig: the aligner's status and the inference worker's poses,
on a background thread, into the :class:`~syncpose.server.hub.PoseHub`, the metrics and the
recorder; and, only while someone watches ``/ws/preview``, the cameras' pixels, shrunk to
preview frames at a limited rate."""

from __future__ import annotations

import base64
import logging
import threading
import time
from typing import Any

import cv2
import numpy as np
import zmq

from syncpose.bus import SocketTimeouts, drain, subscriber
from syncpose.config import RigConfig
from syncpose.messages import Decoder, Frame, PoseResult, RigStatus, WorkerStatus
from syncpose.server.hub import PoseHub, pose_json
from syncpose.server.metrics import Metrics
from syncpose.server.recording import RecordingStore

logger = logging.getLogger(__name__)


class BusListener(threading.Thread):
    def __init__(
        self,
        rig: RigConfig,
        hub: PoseHub,
        metrics: Metrics,
        store: RecordingStore,
        ctx: zmq.Context[Any],
    ) -> None:
        super().__init__(name="bus-listener", daemon=True)
        self.rig, self.hub, self.metrics, self.store, self.ctx = rig, hub, metrics, store, ctx
        self.stop_event = threading.Event()
        self.decoder = Decoder(accept=[PoseResult, RigStatus, WorkerStatus], rig=rig.rig_id)
        self.frame_decoder = Decoder(accept=[Frame], rig=rig.rig_id)
        self._last_preview: dict[str, float] = {}

    def run(self) -> None:
        timeouts = SocketTimeouts.of(self.rig.bus)
        endpoints = [self.rig.aligner_endpoint(), self.rig.inference_endpoint()]
        topics = [PoseResult.TOPIC, RigStatus.TOPIC, WorkerStatus.TOPIC]
        sock = subscriber(self.ctx, endpoints, topics, timeouts)
        frames: zmq.Socket[Any] | None = None
        try:
            while not self.stop_event.is_set():
                frames = self._previews(frames, timeouts)
                if frames is not None and frames.poll(0):
                    for decoded, _ in drain(frames, self.frame_decoder):
                        if isinstance(decoded.message, Frame):
                            self._preview(decoded.message, decoded.arrays)
                if not sock.poll(50 if frames is not None else 100):
                    continue
                for decoded, _ in drain(sock, self.decoder):
                    msg = decoded.message
                    if isinstance(msg, PoseResult):
                        data = pose_json(msg, decoded.arrays)
                        self.hub.on_pose(data)
                        self.metrics.on_pose(msg)
                        self.store.add(data)
                    elif isinstance(msg, RigStatus):
                        self.hub.on_rig(msg)
                    elif isinstance(msg, WorkerStatus):
                        self.hub.on_worker(msg)
                        self.metrics.on_worker(msg)
        finally:
            sock.close()
            if frames is not None:
                frames.close()

    def _previews(
        self, frames: zmq.Socket[Any] | None, timeouts: SocketTimeouts
    ) -> zmq.Socket[Any] | None:
        """Subscribe to the cameras' pixels only while someone watches the previews."""
        wanted = self.hub.wants_previews
        if wanted and frames is None:
            endpoints = [self.rig.camera_endpoint(i) for i in range(len(self.rig.cameras))]
            return subscriber(self.ctx, endpoints, [Frame.TOPIC], timeouts, recv_hwm=2)
        if not wanted and frames is not None:
            frames.close()
            return None
        return frames

    def _preview(self, frame: Frame, arrays: dict[str, Any]) -> None:
        header = frame.header
        now = time.monotonic()
        if now - self._last_preview.get(header.camera_id, 0.0) < 1.0 / self.rig.server.preview_fps:
            return
        self._last_preview[header.camera_id] = now
        image = arrays.get("image")
        if image is None:
            return
        if header.encoding == "jpeg":
            image = cv2.imdecode(np.asarray(image), cv2.IMREAD_COLOR)
            if image is None:
                return
        width = self.rig.server.preview_width
        scale = width / image.shape[1]
        small = cv2.resize(
            image, (width, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA
        )
        ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])
        if not ok:
            return
        keypoints = None
        pose = self.hub.latest_pose
        if pose and pose.get("keypoints_2d") and header.camera_id in pose["camera_ids"]:
            view = pose["keypoints_2d"][pose["camera_ids"].index(header.camera_id)]
            keypoints = [None if j is None else [j[0] * scale, j[1] * scale, j[2]] for j in view]
        self.hub.on_preview(
            {
                "camera_id": header.camera_id,
                "seq": header.seq,
                "width": small.shape[1],
                "height": small.shape[0],
                "jpeg_base64": base64.b64encode(jpeg.tobytes()).decode("ascii"),
                "keypoints_2d": keypoints,
            }
        )

    def stop(self) -> None:
        self.stop_event.set()
