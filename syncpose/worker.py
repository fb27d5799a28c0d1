"""What every worker process of a rig shares: its entry point's frame and its heartbeat.

:func:`run_worker` is the whole entry point but for the work itself: the prologue (logging,
SIGTERM/SIGINT to a stop event, parent-death signal, a process title such as ``syncpose:
capture cam0`` for ``ps`` and ``top``), the rig config from its JSON, and one ZeroMQ context
for the worker's life, closed whatever happens (so a worker that fails to start never hangs
in ``zmq_ctx_term`` with sockets open). A worker whose work ends in ``error``, or that cannot
start (a port taken), exits with status 1 and one line saying why, and the supervisor restarts
it; one that raises :class:`WorkerFailed` (a fault restarting cannot mend: a missing or invalid
file) exits with :data:`~syncpose.process.EXIT_FAILED`, and the supervisor reports it failed.
:class:`Heartbeat` paces a worker's :class:`~syncpose.messages.WorkerStatus` and fills in what
every status carries (name, rate, time, pid).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import zmq

from syncpose.clock import NS_PER_S, Clock, MonotonicClock
from syncpose.config import RigConfig
from syncpose.messages import WorkerState, WorkerStatus
from syncpose.process import EXIT_FAILED, worker_prologue

logger = logging.getLogger(__name__)

#: The work of a worker: runs until ``stop`` is set; returns its end state (or None).
WorkerBody = Callable[[RigConfig, threading.Event, "zmq.Context[Any]"], WorkerState | None]


class WorkerFailed(Exception):
    """A fault that restarting the worker cannot mend (a missing or invalid file): the worker
    exits with :data:`~syncpose.process.EXIT_FAILED` and is not restarted."""


def run_worker(name: str, config_json: str, log_level: str, body: WorkerBody) -> None:
    """Run ``body(rig, stop, ctx)`` as the worker process ``name`` of the rig in
    ``config_json``; exit with status 1 when it ends in ``error`` or cannot start, with
    :data:`~syncpose.process.EXIT_FAILED` when it raises :class:`WorkerFailed`."""
    stop = worker_prologue(name, log_level)
    rig = RigConfig.model_validate_json(config_json)
    ctx: zmq.Context[Any] = zmq.Context()
    code = 0
    try:
        code = 1 if body(rig, stop, ctx) == "error" else 0
    except WorkerFailed as exc:
        logger.error(
            "%s cannot run: %s (not restarted: fix it, then start the rig again)", name, exc
        )
        code = EXIT_FAILED
    except OSError as exc:  # a port taken, a device gone: may pass, so the supervisor retries
        logger.error("%s cannot start: %s", name, exc)
        code = 1
    finally:
        ctx.destroy(linger=0)  # closes what is still open: never blocks on a forgotten socket
    if code:
        raise SystemExit(code)


class Heartbeat:
    """Paces the heartbeat of worker ``worker``: one every ``interval_s``, the first at once.

    :meth:`due` says whether one is due now and, if so, gives the rate (per second) at which
    the worker's count (frames, bundles, poses) grew since the last one; :meth:`status` builds
    the message.
    """

    def __init__(self, worker: str, interval_s: float = 1.0, clock: Clock | None = None) -> None:
        self.worker = worker
        self.clock = clock or MonotonicClock()
        self.interval_ns = round(interval_s * NS_PER_S)
        self._last_ns: int | None = None
        self._last_count = 0

    def next_ns(self) -> int:
        """When the next beat is due (the clock's time)."""
        return self.clock.now_ns() if self._last_ns is None else self._last_ns + self.interval_ns

    def due(self, count: int) -> float | None:
        """The rate of ``count`` since the last beat when a beat is due now, else None."""
        now = self.clock.now_ns()
        if self._last_ns is None:
            rate = 0.0
        elif now - self._last_ns >= self.interval_ns:
            rate = (count - self._last_count) * NS_PER_S / (now - self._last_ns)
        else:
            return None
        self._last_ns, self._last_count = now, count
        return rate

    def status(
        self,
        state: WorkerState,
        *,
        fps: float,
        frames: int,
        dropped: int,
        last_error: str | None,
    ) -> WorkerStatus:
        """This worker's status now: ``frames`` its count, ``fps`` the rate of it."""
        return WorkerStatus(
            worker=self.worker,
            state=state,
            fps=fps,
            frames=frames,
            dropped=dropped,
            last_error=last_error,
            t_ns=self.clock.now_ns(),
            pid=os.getpid(),
        )
