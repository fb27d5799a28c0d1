"""The server's subscription to the rig: the aligner's status and the inference worker's poses,
on a background thread, into the :class:`~syncpose.server.hub.PoseHub`, the metrics and the
recorder; and, only while someone watches ``/ws/preview``, the cameras' pixels, shrunk to
preview frames at a limited rate. A preview frame waits (briefly) for the pose made from that
very frame and carries that pose's keypoints for its camera, so the dots sit on the figure in
the picture; one whose frame gave no pose goes out after :data:`PREVIEW_WAIT_S` without dots."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, NamedTuple

import cv2
import numpy as np
import zmq

from syncpose.bus import SocketTimeouts, drain, subscriber
from syncpose.config import RigConfig
from syncpose.messages import Decoder, Frame, PoseResult, RigStatus, WorkerStatus
from syncpose.server.hub import PoseHub, pose_json
from syncpose.server.metrics import Metrics
from syncpose.server.recording import RecordingStore
from syncpose.server.skeletons import LiveSkeletons

logger = logging.getLogger(__name__)

#: How long a preview frame waits for the pose made from it.
PREVIEW_WAIT_S = 0.5
_PENDING_PER_CAMERA = 4


class _Waiting(NamedTuple):
    """A preview frame waiting for the pose made from it."""

    taken_s: float  # time.monotonic() when it was taken
    preview: dict[str, Any]  # without keypoints yet
    scale: float  # preview pixels per camera pixel


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
        self.skeletons = LiveSkeletons()
        self._last_preview: dict[str, float] = {}
        self._pending: dict[str, OrderedDict[int, _Waiting]] = {}  # camera -> seq -> preview

    def run(self) -> None:
        timeouts = SocketTimeouts.of(self.rig.bus)
        endpoints = [self.rig.aligner_endpoint(), self.rig.inference_endpoint()]
        topics = [PoseResult.TOPIC, RigStatus.TOPIC, WorkerStatus.TOPIC]
        sock = subscriber(self.ctx, endpoints, topics, timeouts)
        frames: zmq.Socket[Any] | None = None
        try:
            while not self.stop_event.is_set():
                frames = self._previews(frames, timeouts)
                self._flush_previews(time.monotonic() - PREVIEW_WAIT_S)
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
                        self._previews_of(msg, data)
                        self.hub.on_pose(self.skeletons.add(data, msg, decoded.arrays))
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
        preview = {
            "camera_id": header.camera_id,
            "seq": header.seq,
            "width": small.shape[1],
            "height": small.shape[0],
            "jpeg_base64": base64.b64encode(jpeg.tobytes()).decode("ascii"),
            "people": [],
        }
        pending = self._pending.setdefault(header.camera_id, OrderedDict())
        pending[header.seq] = _Waiting(now, preview, scale)
        while len(pending) > _PENDING_PER_CAMERA:
            self._send_oldest(pending)

    def _previews_of(self, pose: PoseResult, data: dict[str, Any]) -> None:
        """Send the waiting previews of the frames ``pose`` was made from, with each person's
        keypoints in that view (``people``: ``id`` and ``keypoints_2d`` (J, 3))."""
        for cam, seq in pose.frame_seqs.items():
            pending = self._pending.get(cam)
            if not pending or seq not in pending:
                continue
            while next(iter(pending)) != seq:  # older frames that made no pose of their own
                self._send_oldest(pending)
            waiting = pending.popitem(last=False)[1]
            if cam in pose.camera_ids:
                v, k = pose.camera_ids.index(cam), waiting.scale
                waiting.preview["people"] = [
                    {
                        "id": person["id"],
                        "keypoints_2d": [
                            None if j is None else [j[0] * k, j[1] * k, j[2]]
                            for j in person["keypoints_2d"][v]
                        ],
                    }
                    for person in data.get("people", [])
                    if person.get("keypoints_2d") and any(person["keypoints_2d"][v])
                ]
            self.hub.on_preview(waiting.preview)

    def _flush_previews(self, before: float) -> None:
        """Send, without keypoints, the previews that waited since ``before`` for a pose."""
        for pending in self._pending.values():
            while pending and next(iter(pending.values())).taken_s < before:
                self._send_oldest(pending)

    def _send_oldest(self, pending: OrderedDict[int, _Waiting]) -> None:
        """Send a camera's oldest waiting preview as it is (without keypoints)."""
        self.hub.on_preview(pending.popitem(last=False)[1].preview)

    def stop(self) -> None:
        self.stop_event.set()
