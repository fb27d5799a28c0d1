"""A running rig: which processes a rig config starts, and the loop that runs them.

What runs is declared by the config: the capture side always (the aligner and one capture
worker per camera, :func:`~syncpose.capture.rig.capture_processes`); the inference worker when
``config.poses_possible`` (inference enabled, and a calibration it can use); the server when
``config.server.enabled``. :func:`run_rig` starts them under the supervisor and logs the rig's
state once a second — what ``syncpose run`` and ``syncpose demo`` do.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import zmq

from syncpose.app.output import out
from syncpose.bus import endpoint_in_use
from syncpose.capture.rig import RigWatcher, capture_processes
from syncpose.clock import NS_PER_MS, NS_PER_S, monotonic_ns
from syncpose.config import RigConfig
from syncpose.messages import PoseResult, RigStatus, WorkerStatus
from syncpose.process import ProcessGroup, ProcessSpec, Supervisor

logger = logging.getLogger(__name__)

#: Time from building the process list to the rig's epoch: for the workers to start.
START_S = 2.0


def rig_processes(config: RigConfig, epoch_ns: int, log_level: str = "INFO") -> list[ProcessSpec]:
    """Every process of the rig ``config`` declares, consumers first: the server and the
    outputs (they only listen), the inference worker, the aligner, the capture workers.
    ``epoch_ns``: the rig's start instant (frames are timed from it; a synthetic rig's truth
    too)."""
    specs: list[ProcessSpec] = []
    if config.server.enabled:
        from syncpose.server.main import process_spec as server_spec

        specs.append(server_spec(config, log_level, epoch_ns))
    if config.outputs and config.poses_possible:
        from syncpose.outputs import process_spec as outputs_spec

        specs.append(outputs_spec(config, log_level))
    if config.poses_possible:
        from syncpose.inference.worker import process_spec as inference_spec

        specs.append(inference_spec(config, log_level))
    return specs + capture_processes(config, epoch_ns, log_level)


class RigError(RuntimeError):
    """The rig cannot start; the message says why and what to do."""


def check_calibration(config: RigConfig) -> str | None:
    """Why the rig's calibration cannot be used (unreadable, or without the rig's cameras), or
    None: found before the inference worker would fail on it."""
    if not config.poses_possible or config.inference.calibration is None:
        return None
    from syncpose.calibration.rigfile import RigFileError, rig_calibration

    try:
        rig_calibration(config)
    except (RigFileError, OSError) as exc:
        return str(exc)
    return None


def busy_endpoints(config: RigConfig) -> list[str]:
    """What this rig would bind that something else on this host holds now (another rig on
    the same ports, most likely), each as ``what (endpoint)``."""
    wanted = [
        ("the aligner", config.aligner_endpoint()),
        ("its clock service", config.clock_endpoint()),
    ]
    wanted += [(f"camera {c}", config.camera_endpoint(i)) for i, c in enumerate(config.camera_ids)]
    if config.poses_possible:
        wanted.append(("the inference worker", config.inference_endpoint()))
    if config.server.enabled:
        wanted.append(("the server", f"tcp://{config.server.host}:{config.server.port}"))
    return [f"{what} ({endpoint})" for what, endpoint in wanted if endpoint_in_use(endpoint)]


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
) -> int:
    """Start every process of ``rig`` (:func:`rig_processes`), restart those that die, log the
    rig's state every second; stop cleanly on Ctrl-C or SIGTERM (both only set ``stop``: a
    signal never lands in the middle of library code), on ``stop``, on timeout, or once every
    worker has ended for good. Returns 1 when workers failed, else 0; raises
    :class:`RigError` (nothing started) when another program holds the rig's ports."""
    stop = stop or threading.Event()
    unusable = check_calibration(rig)
    if unusable:
        raise RigError(f"cannot start rig {rig.rig.name!r}: inference.calibration: {unusable}")
    busy = busy_endpoints(rig)
    if busy:
        raise RigError(
            f"cannot start rig {rig.rig.name!r}: in use on this host: {', '.join(busy)}. Is "
            "another rig running? Choose other ports: bus.base_port and server.port in the rig "
            "file (syncpose demo: --bus-port, --port)"
        )
    if rig.inference.enabled and not rig.poses_possible:
        logger.warning(
            "no 'inference.calibration' in the rig config: capturing and aligning only, no "
            "poses (calibrate with 'syncpose calibrate', then set it)"
        )
    epoch = monotonic_ns() + round(START_S * NS_PER_S)
    group = ProcessGroup(rig_processes(rig, epoch, log_level))
    supervisor = Supervisor(group)
    with _stop_on_signals(stop):
        ctx: zmq.Context[Any] = zmq.Context()
        watcher = RigWatcher(rig, ctx, poses=rig.poses_possible)
        end = None if seconds is None else time.monotonic() + seconds
        group.start()
        logger.info("rig %r: %d cameras at %.3f fps", rig.rig.name, len(rig.cameras), rig.rig.fps)
        announce = _ServerAnnouncer(rig) if rig.server.enabled else None
        try:
            next_report = time.monotonic() + 1.0
            while not stop.is_set() and (end is None or time.monotonic() < end):
                watcher.receive(100)
                if announce is not None and announce():
                    announce = None
                for event in supervisor.check(time.monotonic()):
                    logger.warning("%s", event)
                if supervisor.all_ended:
                    logger.warning("every worker has ended: stopping the rig")
                    break
                if time.monotonic() >= next_report:
                    next_report += 1.0
                    _report(watcher)
        finally:
            watcher.close()
            codes = group.stop()
            ctx.destroy(linger=0)
            logger.info("stopped: %s", codes)
    failed = sorted(n for n, state in supervisor.states.items() if state == "failed")
    if failed:
        logger.error("failed: %s", ", ".join(failed))
    return 1 if failed else 0


class _ServerAnnouncer:
    """Says where to open the viewer once the server answers (not before: it takes a few
    seconds to start), checking at most twice a second."""

    def __init__(self, rig: RigConfig) -> None:
        from syncpose.server.main import url

        self.url = url(rig)
        host = rig.server.host if rig.server.host not in ("0.0.0.0", "::") else "127.0.0.1"
        self.address = (host, rig.server.port)
        self._next = 0.0

    def __call__(self) -> bool:
        """True once the server accepted a connection (and the address was printed)."""
        if time.monotonic() < self._next:
            return False
        self._next = time.monotonic() + 0.5
        try:
            socket.create_connection(self.address, timeout=0.2).close()
        except OSError:
            return False
        out(f"syncpose: open {self.url}  (Ctrl-C stops)")
        return True


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` while the rig runs (on the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda _sig, _frame: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _report(watcher: RigWatcher) -> None:
    if watcher.rig_status is not None:
        logger.info("%s", describe(watcher.rig_status))
    if watcher.last_pose is not None:
        from syncpose.inference.worker import WORKER_NAME

        logger.info("%s", describe_pose(watcher.last_pose, watcher.workers.get(WORKER_NAME)))
