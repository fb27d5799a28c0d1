"""Run a capture rig: one capture process per camera plus the aligner, and watch its output.

:class:`RigWatcher` subscribes to the aligner's endpoint like any downstream consumer would and
keeps the latest status of every worker; :func:`run_rig` is what ``syncpose run`` and
``syncpose demo`` start.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import zmq

from syncpose.bus import SocketTimeouts, drain, subscriber
from syncpose.capture import align_loop, worker
from syncpose.clock import NS_PER_MS, NS_PER_S, monotonic_ns
from syncpose.config import RigConfig
from syncpose.messages import Bundle, Decoder, PoseResult, RigStatus, WorkerStatus
from syncpose.process import ProcessGroup, ProcessSpec, Supervisor

logger = logging.getLogger(__name__)


def rig_processes(
    rig: RigConfig,
    epoch_ns: int,
    log_level: str = "INFO",
    extra: Sequence[ProcessSpec] = (),
) -> list[ProcessSpec]:
    """The processes of a rig: ``extra`` consumers (the inference worker, which capture does
    not import), the aligner, then one capture worker per camera.

    Consumers are stopped before their producers.

    ``epoch_ns`` is the shared start instant: synthetic and video sources time their frames from
    it and the aligner puts its tick grid on it.
    """
    config_json = rig.model_dump_json()
    args = (config_json, epoch_ns, log_level)
    specs = [*extra, ProcessSpec("aligner", align_loop.main, args, stop_stage=0)]
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
        timeouts = SocketTimeouts(bus.linger_ms, bus.send_timeout_ms, bus.recv_timeout_ms)
        topics = [Bundle.TOPIC, RigStatus.TOPIC, WorkerStatus.TOPIC, PoseResult.TOPIC]
        endpoints = [rig.aligner_endpoint()] + ([rig.inference_endpoint()] if poses else [])
        self.sock = subscriber(ctx, endpoints, topics, timeouts)
        self.decoder = Decoder(accept=[Bundle, RigStatus, WorkerStatus, PoseResult])
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


def describe(status: RigStatus) -> str:
    """One log line: bundle counts and each camera's state, rate and offset."""
    parts = [f"bundles {status.bundles} ({status.complete_bundles} complete)"]
    for cam in status.cameras:
        off = f"{cam.last_offset_ns / NS_PER_MS:+.1f}ms" if cam.last_offset_ns is not None else "-"
        parts.append(f"{cam.camera_id}: {cam.state} {cam.fps:.1f}fps δ={off} gaps={cam.gaps}")
    return " | ".join(parts)


def describe_pose(pose: PoseResult, worker: WorkerStatus | None) -> str:
    """One log line: pose rate, views used, latency, or why there is no pose."""
    rate = f"{worker.fps:.1f}/s, {worker.dropped} bundles dropped" if worker else "-"
    if pose.reason:
        return f"poses {rate} | last: none ({pose.reason})"
    views = ",".join(pose.views_used)
    return (
        f"poses {rate} | {pose.method} from {views} | "
        f"{pose.latency_ms.get('total', float('nan')):.1f} ms"
    )


def run_rig(
    rig: RigConfig,
    *,
    seconds: float | None = None,
    log_level: str = "INFO",
    stop: threading.Event | None = None,
    extra: Callable[[int], Sequence[ProcessSpec]] | Sequence[ProcessSpec] = (),
) -> int:
    """Start the rig (with the ``extra`` processes, or a function of the rig's epoch giving
    them), log its state every second; stop cleanly on Ctrl-C, SIGTERM, ``stop`` or timeout."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda _sig, _frame: stop.set())
    epoch = monotonic_ns() + 2 * NS_PER_S  # time for the workers to start
    consumers = extra(epoch) if callable(extra) else extra
    group = ProcessGroup(rig_processes(rig, epoch, log_level, consumers))
    ctx: zmq.Context[Any] = zmq.Context()
    watcher = RigWatcher(rig, ctx, poses=any(s.name == "inference" for s in consumers))
    end = None if seconds is None else time.monotonic() + seconds
    group.start()
    logger.info("rig %r: %d cameras at %.3f fps", rig.rig.name, len(rig.cameras), rig.rig.fps)
    supervisor = Supervisor(group)
    try:
        next_report = time.monotonic() + 1.0
        while not stop.is_set() and (end is None or time.monotonic() < end):
            watcher.receive(100)
            for event in supervisor.check(time.monotonic()):
                logger.warning("%s", event)
            if time.monotonic() >= next_report:
                next_report += 1.0
                if watcher.rig_status is not None:
                    logger.info("%s", describe(watcher.rig_status))
                if watcher.last_pose is not None:
                    inference = watcher.workers.get("inference")
                    logger.info("%s", describe_pose(watcher.last_pose, inference))
    except KeyboardInterrupt:
        logger.info("stopping")
    finally:
        watcher.close()
        codes = group.stop()
        ctx.term()
        logger.info("stopped: %s", codes)
    return 0
