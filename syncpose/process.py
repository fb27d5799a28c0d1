"""Worker processes: a common prologue, and a group that starts and stops them cleanly.

Each worker runs in its own process (``spawn``; no state inherited by accident). The prologue
sets up logging, names the process for ``ps`` (``syncpose: capture cam0``, not the interpreter's
``-c from multiprocessing.spawn …``), turns SIGTERM/SIGINT into a stop event, and asks Linux to
send SIGTERM to the worker if its parent dies, so no process is left behind even when the
launcher is killed.
Restarting crashed workers with back-off (the supervisor proper) builds on :class:`ProcessGroup`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

import setproctitle

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1

#: A worker's exit status for a fault that restarting cannot mend (sysexits' EX_CONFIG).
EXIT_FAILED = 78


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (a test harness may swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(level: str | int = "INFO") -> None:
    """One log format for every syncpose process (stderr)."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(processName)s %(name)s: %(message)s",
        handlers=[_StderrHandler()],
        force=True,
    )


def process_title(name: str) -> str:
    """What ``ps`` and ``top`` show for worker ``name``: ``syncpose: capture cam0``."""
    return f"syncpose: {name.replace(':', ' ')}"


def worker_prologue(name: str, log_level: str | int = "INFO") -> threading.Event:
    """Call first in a worker process; returns the event that SIGTERM/SIGINT sets."""
    mp.current_process().name = name
    setproctitle.setproctitle(process_title(name))
    configure_logging(log_level)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            logger.debug("prctl(PR_SET_PDEATHSIG) unavailable")
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    if mp.parent_process() is not None:
        # A worker of a rig: Ctrl-C reaches the whole process group, but the launcher stops
        # its workers in order (consumers first), so the worker waits for its SIGTERM.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGINT, _on_signal)
    return stop


@dataclass
class ProcessSpec:
    """A worker to start: ``target(*args)`` in a new process called ``name``.

    ``stop_stage``: workers of lower stages are stopped (and waited for) first, so consumers go
    before their producers — a subscriber whose publisher vanishes in the middle of a multipart
    message can hit a libzmq assertion on close (zeromq/libzmq#3442).
    """

    name: str
    target: Callable[..., Any]
    args: tuple[Any, ...] = ()
    stop_stage: int = 0
    process: BaseProcess | None = field(default=None, repr=False)


class ProcessGroup:
    """Starts worker processes and stops all of them (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, specs: list[ProcessSpec]) -> None:
        self.specs = specs
        self._ctx = mp.get_context("spawn")
        self._started: dict[str, float] = {}

    def _launch(self, spec: ProcessSpec, how: str = "started") -> None:
        proc = self._ctx.Process(target=spec.target, args=spec.args, name=spec.name)
        proc.start()
        spec.process = proc
        self._started[spec.name] = time.monotonic()
        logger.debug("%s %s (pid %s)", how, spec.name, proc.pid)

    def start(self) -> None:
        for spec in self.specs:
            self._launch(spec)

    def restart(self, name: str) -> None:
        """Start worker ``name`` again (its previous process has ended)."""
        spec = next(s for s in self.specs if s.name == name)
        if spec.process is not None and spec.process.is_alive():
            raise RuntimeError(f"{name} is still running")
        self._launch(spec, "restarted")

    def started_at(self, name: str) -> float:
        """When worker ``name`` was last started (``time.monotonic``)."""
        return self._started[name]

    def pids(self) -> dict[str, int]:
        return {s.name: s.process.pid for s in self.specs if s.process and s.process.pid}

    def exited(self) -> dict[str, int]:
        """Workers that have ended, with their exit codes."""
        return {
            s.name: s.process.exitcode
            for s in self.specs
            if s.process is not None and s.process.exitcode is not None
        }

    def stop(self, timeout_s: float = 3.0) -> dict[str, int | None]:
        """Ask the workers to stop, stage by stage, wait, kill stragglers; return exit codes."""
        codes: dict[str, int | None] = {}
        for stage in sorted({s.stop_stage for s in self.specs}):
            specs = [s for s in self.specs if s.stop_stage == stage and s.process is not None]
            for spec in specs:
                proc = spec.process
                if proc is not None and proc.is_alive() and proc.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(proc.pid, signal.SIGTERM)
            for spec in specs:
                proc = spec.process
                assert proc is not None
                proc.join(timeout_s)
                if proc.is_alive():
                    logger.warning("%s did not stop in %.1f s; killing it", spec.name, timeout_s)
                    proc.kill()
                    proc.join(2.0)
                codes[spec.name] = proc.exitcode
        return codes

    def __enter__(self) -> ProcessGroup:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Supervisor:
    """Restarts the workers of a :class:`ProcessGroup` that die (a non-zero exit: a crash, a
    kill) with exponential back-off, ``initial_s`` doubling up to ``max_s``; one that had run
    for ``healthy_s`` before it died starts again from ``initial_s``. One failing worker never
    stops the others. :meth:`check` is called from the owner's loop.

    A worker ends for good — and is reported, not restarted — when it ends cleanly (exit 0:
    ``stopped``, e.g. a video that ended), when it exits with :data:`EXIT_FAILED` (a fault
    restarting cannot mend, said in its own log line: ``failed``), or when it has died
    ``max_quick_deaths`` times in a row, each time within ``quick_s`` of starting (``failed``:
    it crash-loops on something permanent)."""

    def __init__(
        self,
        group: ProcessGroup,
        initial_s: float = 1.0,
        max_s: float = 30.0,
        healthy_s: float = 60.0,
        quick_s: float = 10.0,
        max_quick_deaths: int = 5,
    ) -> None:
        self.group = group
        self.initial_s = initial_s
        self.max_s = max_s
        self.healthy_s = healthy_s
        self.quick_s = quick_s
        self.max_quick_deaths = max_quick_deaths
        self.restarts: dict[str, int] = {}
        self.states: dict[str, str] = {s.name: "running" for s in group.specs}
        self._backoff: dict[str, int] = {}  # restarts since the worker last ran healthily
        self._quick: dict[str, int] = {}  # deaths in a row soon after starting
        self._due: dict[str, float] = {}

    @property
    def all_ended(self) -> bool:
        """Whether no worker runs or will run again (each stopped or failed)."""
        return all(state in ("stopped", "failed") for state in self.states.values())

    def check(self, now: float) -> list[str]:
        """Restart what is due; returns log lines for what happened."""
        events = []
        for name, code in self.group.exited().items():
            if self.states.get(name) in ("stopped", "failed", "restarting"):
                continue
            event = self._ended(name, code, now)
            if event:
                events.append(event)
        for name, due in list(self._due.items()):
            if now >= due:
                del self._due[name]
                self.restarts[name] = self.restarts.get(name, 0) + 1
                self.group.restart(name)
                self.states[name] = "running"
                events.append(f"{name} restarted (restart {self.restarts[name]})")
        return events

    def _ended(self, name: str, code: int, now: float) -> str:
        if code == 0:
            self.states[name] = "stopped"
            return f"{name} ended cleanly"
        if code == EXIT_FAILED:
            self.states[name] = "failed"
            return f"{name} failed (see its error above); not restarted"
        ran_s = now - self.group.started_at(name)
        if ran_s >= self.healthy_s:
            self._backoff[name] = 0
        self._quick[name] = self._quick.get(name, 0) + 1 if ran_s < self.quick_s else 0
        if self._quick[name] >= self.max_quick_deaths:
            self.states[name] = "failed"
            return (
                f"{name} died {self._quick[name]} times in a row within {self.quick_s:g} s of "
                f"starting (exit {code}): failed, not restarted (see its errors above)"
            )
        n = self._backoff.get(name, 0)
        self._backoff[name] = n + 1
        delay = min(self.initial_s * 2.0**n, self.max_s)
        self._due[name] = now + delay
        self.states[name] = "restarting"
        return f"{name} died (exit {code}); restarting in {delay:.1f} s"
