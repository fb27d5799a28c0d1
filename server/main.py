"""The server process: the bus listener thread plus uvicorn serving the app."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn
import zmq

from syncpose.config import RigConfig
from syncpose.process import ProcessSpec
from syncpose.server.app import create_app
from syncpose.server.hub import PoseHub
from syncpose.server.listener import BusListener
from syncpose.server.metrics import Metrics
from syncpose.server.recording import RecordingStore
from syncpose.server.truth import SyntheticTruth
from syncpose.worker import run_worker

logger = logging.getLogger(__name__)

WORKER_NAME = "server"


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the worker prologue's stop event rules."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def url(rig: RigConfig) -> str:
    host = rig.server.host if rig.server.host not in ("0.0.0.0", "::") else "127.0.0.1"
    return f"http://{host}:{rig.server.port}"


def serve(
    rig: RigConfig, stop: threading.Event, ctx: zmq.Context[Any], epoch_ns: int | None = None
) -> None:
    """Serve ``rig`` until ``stop`` is set (``epoch_ns``: the rig's start instant)."""
    from syncpose.calibration.rigfile import RigFileError, rig_calibration

    try:
        calibration = rig_calibration(rig) if rig.poses_possible else None
    except (RigFileError, OSError, ValueError) as exc:
        logger.warning("calibration unavailable to the server: %s", exc)
        calibration = None
    settings = rig.server
    hub = PoseHub(ws_queue=settings.ws_queue)
    store = RecordingStore(settings.recordings_dir)
    metrics = Metrics()
    app = create_app(
        settings, hub, store, metrics,
        calibration=calibration, rig_fps=rig.rig.fps, rig_name=rig.rig.name,
        truth=SyntheticTruth.of(rig, epoch_ns),
    )  # fmt: skip
    listener = BusListener(rig, hub, metrics, store, ctx)
    server = _Server(
        uvicorn.Config(
            app, host=settings.host, port=settings.port, log_level="warning", lifespan="on"
        )
    )

    def watch() -> None:
        stop.wait()
        server.should_exit = True

    threading.Thread(target=watch, name="stop-watch", daemon=True).start()
    listener.start()
    logger.info("server on %s", url(rig))
    try:
        server.run()
    finally:
        listener.stop()
        listener.join(2.0)
        store.close()  # a recording in progress is stopped cleanly


def main(config_json: str, log_level: str = "INFO", epoch_ns: int | None = None) -> None:
    """Process entry point (``spawn`` target)."""

    def run(rig: RigConfig, stop: threading.Event, ctx: zmq.Context[Any]) -> None:
        serve(rig, stop, ctx, epoch_ns)

    run_worker(WORKER_NAME, config_json, log_level, run)


def process_spec(
    rig: RigConfig, log_level: str = "INFO", epoch_ns: int | None = None
) -> ProcessSpec:
    """The server as a process of the rig, stopped first (it only listens)."""
    args = (rig.model_dump_json(), log_level, epoch_ns)
    return ProcessSpec(WORKER_NAME, main, args, stop_stage=-2)
