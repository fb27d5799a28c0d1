"""The capture side of a rig as processes, and a watcher of its bus.

:func:`capture_processes` is what capture contributes to a running rig: the aligner and one
capture worker per camera (which processes a whole rig starts is decided by the application
layer, :mod:`syncpose.app.rig`). :class:`RigWatcher` subscribes to the aligner's endpoint like
any downstream consumer would — and, asked to, to the inference worker's poses — and keeps the
latest status of every worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import zmq

from syncpose.bus import SocketTimeouts, drain, subscriber
from syncpose.capture import align_loop, worker
from syncpose.clock import monotonic_ns
from syncpose.config import RigConfig
from syncpose.messages import Bundle, Decoder, PoseResult, RigStatus, WorkerStatus
from syncpose.process import ProcessSpec


def capture_processes(rig: RigConfig, epoch_ns: int, log_level: str = "INFO") -> list[ProcessSpec]:
    """The aligner, then one capture worker per camera; the aligner (a consumer of the
    cameras) is stopped before them.

    ``epoch_ns`` is the shared start instant: synthetic and video sources time their frames from
    it and the aligner puts its tick grid on it.
    """
    config_json = rig.model_dump_json()
    specs = [ProcessSpec("aligner", align_loop.main, (config_json, epoch_ns, log_level), 0)]
    specs += [
        ProcessSpec(f"capture:{cam}", worker.main, (config_json, cam, epoch_ns, log_level), 1)
        for cam in rig.camera_ids
    ]
    return specs


class RigWatcher:
    """Subscribes to the aligner's bundles and heartbeats (all of the rig's, forwarded) and,
    with ``poses``, to the inference worker's poses and heartbeat."""

    def __init__(self, rig: RigConfig, ctx: zmq.Context[Any], poses: bool = False) -> None:
        bus = rig.bus
        timeouts = SocketTimeouts.of(bus)
        topics = [Bundle.TOPIC, RigStatus.TOPIC, WorkerStatus.TOPIC, PoseResult.TOPIC]
        endpoints = [rig.aligner_endpoint()] + ([rig.inference_endpoint()] if poses else [])
        self.sock = subscriber(ctx, endpoints, topics, timeouts)
        self.decoder = Decoder(accept=[Bundle, RigStatus, WorkerStatus, PoseResult], rig=rig.rig_id)
        self.workers: dict[str, WorkerStatus] = {}
        self.rig_status: RigStatus | None = None
        self.last_pose: PoseResult | None = None
        self.poses = 0

    def receive(
        self,
        timeout_ms: int,
        on_bundle: Callable[[Bundle, int], None] | None = None,
        on_pose: Callable[[PoseResult, dict[str, Any], int], None] | None = None,
    ) -> None:
        """Wait up to ``timeout_ms`` for messages and take all that are queued."""
        if not self.sock.poll(timeout_ms):
            return
        for decoded, _ in drain(self.sock, self.decoder):
            received = monotonic_ns()
            msg = decoded.message
            if isinstance(msg, Bundle):
                if on_bundle is not None:
                    on_bundle(msg, received)
            elif isinstance(msg, PoseResult):
                self.last_pose = msg
                self.poses += 1
                if on_pose is not None:
                    on_pose(msg, decoded.arrays, received)
            elif isinstance(msg, RigStatus):
                self.rig_status = msg
            elif isinstance(msg, WorkerStatus):
                self.workers[msg.worker] = msg

    def wait_until_running(self, names: list[str], timeout_s: float) -> bool:
        """Wait until every named worker has reported ``running``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.receive(100)
            if all(self.workers.get(n) and self.workers[n].state == "running" for n in names):
                return True
        return False

    def close(self) -> None:
        self.sock.close()
