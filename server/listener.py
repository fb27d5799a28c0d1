"""The server's subscription to the rig: the aligner's status and the inference worker's poses,
on a background thread, into the :class:`~server.hub.PoseHub`, the metrics and the recorder."""

from __future__ import annotations

import logging
import threading
from typing import Any

import zmq

from server.hub import PoseHub, pose_json
from server.metrics import Metrics
from server.recording import RecordingStore
from syncpose.bus import SocketTimeouts, drain, subscriber
from syncpose.config import RigConfig
from syncpose.messages import Decoder, PoseResult, RigStatus, WorkerStatus

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
        self.decoder = Decoder(accept=[PoseResult, RigStatus, WorkerStatus])

    def run(self) -> None:
        bus = self.rig.bus
        timeouts = SocketTimeouts(bus.linger_ms, bus.send_timeout_ms, bus.recv_timeout_ms)
        endpoints = [self.rig.aligner_endpoint(), self.rig.inference_endpoint()]
        topics = [PoseResult.TOPIC, RigStatus.TOPIC, WorkerStatus.TOPIC]
        sock = subscriber(self.ctx, endpoints, topics, timeouts)
        try:
            while not self.stop_event.is_set():
                if not sock.poll(100):
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

    def stop(self) -> None:
        self.stop_event.set()
