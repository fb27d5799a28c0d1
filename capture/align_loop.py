"""The aligner's process loop: ZeroMQ in, :class:`~syncpose.capture.aligner.Aligner` in the
middle, out.

Subscribes to every camera's ``hdr`` (headers only — never pixels), ``status`` and ``clock``
(a remote host's measured clock offset, applied to its timestamps) topics; answers clock probes
on its clock endpoint (ROUTER); feeds headers to the aligner with their arrival time; wakes up
at the aligner's next deadline; and publishes on its own endpoint: ``bundle`` (each
:class:`~syncpose.messages.Bundle`), ``rig`` (a :class:`~syncpose.messages.RigStatus`
heartbeat) and ``status`` (its own heartbeat and the cameras' heartbeats, forwarded, so one
subscription sees the whole rig).
"""

from __future__ import annotations

import logging
import math
import threading
from contextlib import ExitStack
from typing import Any

import zmq

from syncpose.bus import (
    SocketTimeouts,
    clock_server,
    drain,
    publish,
    publish_message,
    publisher,
    subscriber,
)
from syncpose.capture.aligner import Aligner, AlignerSettings
from syncpose.clock import NS_PER_MS, Clock, MonotonicClock
from syncpose.clocksync import ProbeLimiter, answer_clock_requests
from syncpose.config import RigConfig
from syncpose.messages import ClockOffset, ClockRequest, Decoder, FrameHeader, WorkerStatus
from syncpose.worker import Heartbeat, run_worker

logger = logging.getLogger(__name__)

_MAX_POLL_MS = 100


class AlignerLoop:
    """Runs an :class:`Aligner` over real sockets until ``stop`` is set."""

    def __init__(
        self,
        rig: RigConfig,
        *,
        clock: Clock,
        stop: threading.Event,
        tick_origin_ns: int | None = None,
        ctx: zmq.Context[Any] | None = None,
    ) -> None:
        self.rig = rig
        self.clock = clock
        self.stop = stop
        self.aligner = Aligner(AlignerSettings.from_rig(rig), tick_origin_ns=tick_origin_ns)
        self.rig_id = rig.rig_id
        self.decoder = Decoder(accept=[FrameHeader, WorkerStatus, ClockOffset], rig=self.rig_id)
        self.clock_decoder = Decoder(accept=[ClockRequest], rig=self.rig_id)
        self.probe_limiter = ProbeLimiter()
        self._ctx = ctx or zmq.Context.instance()
        self.heartbeat = Heartbeat("aligner", rig.aligner.status_interval_ms / 1000.0, clock)

    def run(self) -> None:
        rig = self.rig
        timeouts = SocketTimeouts.of(rig.bus)
        endpoints = [rig.camera_endpoint(i) for i in range(len(rig.cameras))]
        topics = [FrameHeader.TOPIC, WorkerStatus.TOPIC, ClockOffset.TOPIC]
        with ExitStack() as sockets:  # closed in any case, a failed bind included
            pub = sockets.enter_context(
                publisher(self._ctx, rig.aligner_endpoint(), timeouts, send_hwm=64)
            )
            clock_service = sockets.enter_context(
                clock_server(self._ctx, rig.clock_endpoint(), timeouts)
            )
            sub = sockets.enter_context(subscriber(self._ctx, endpoints, topics, timeouts))
            logger.info("aligner up: %d cameras at %.3f fps", len(endpoints), rig.rig.fps)
            try:
                self._loop(sub, pub, clock_service)
            finally:
                self._heartbeat(pub, self.clock.now_ns(), 0.0, final=True)

    def _loop(
        self, sub: zmq.Socket[Any], pub: zmq.Socket[Any], clock_service: zmq.Socket[Any]
    ) -> None:
        poller = zmq.Poller()
        poller.register(sub, zmq.POLLIN)
        poller.register(clock_service, zmq.POLLIN)
        while not self.stop.is_set():
            now = self.clock.now_ns()
            wake = min(self.aligner.next_wakeup_ns(now), self.heartbeat.next_ns())
            timeout_ms = min(_MAX_POLL_MS, max(0, math.ceil((wake - now) / NS_PER_MS)))
            ready = dict(poller.poll(timeout_ms))
            if clock_service in ready:
                answer_clock_requests(
                    clock_service, self.clock, self.clock_decoder, self.probe_limiter, self.rig_id
                )
            if sub in ready:
                self._drain(sub, pub)
            now = self.clock.now_ns()
            for bundle in self.aligner.poll(now):
                publish_message(pub, bundle, rig=self.rig_id)
            rate = self.heartbeat.due(self.aligner.bundles)
            if rate is not None:
                self._heartbeat(pub, now, rate)

    def _drain(self, sub: zmq.Socket[Any], pub: zmq.Socket[Any]) -> None:
        for decoded, frames in drain(sub, self.decoder):
            msg = decoded.message
            if isinstance(msg, FrameHeader):
                self.aligner.add_frame(msg, self.clock.now_ns())
            elif isinstance(msg, ClockOffset):
                self._apply_clock_offset(msg)
            else:  # a camera's heartbeat: forward it so one subscription sees the rig
                publish(pub, [bytes(f.buffer) for f in frames])

    def _apply_clock_offset(self, msg: ClockOffset) -> None:
        old = self.aligner.host_offsets_ns.get(msg.host)
        if old is None or abs(msg.offset_ns - old) > NS_PER_MS:
            logger.info(
                "host %r: clock offset %.3f ms (round trip %.3f ms)",
                msg.host,
                msg.offset_ns / NS_PER_MS,
                msg.rtt_ns / NS_PER_MS,
            )
        self.aligner.set_host_offset(msg.host, msg.offset_ns)

    def _heartbeat(self, pub: zmq.Socket[Any], now: int, rate: float, final: bool = False) -> None:
        errors = self.decoder.stats.total + self.clock_decoder.stats.total
        status = self.aligner.rig_status(
            now, decode_errors=errors, probes_refused=self.probe_limiter.refused
        )
        publish_message(pub, status, rig=self.rig_id)
        publish_message(
            pub,
            self.heartbeat.status(
                "stopped" if final else status.state,
                fps=rate,
                frames=self.aligner.bundles,
                dropped=self.aligner.skipped_ticks,
                last_error=self._last_error(),
            ),
            rig=self.rig_id,
        )

    def _last_error(self) -> str | None:
        """What the aligner last dropped."""
        return self.decoder.stats.last_error or self.clock_decoder.stats.last_error


def main(config_json: str, tick_origin_ns: int | None, log_level: str = "INFO") -> None:
    """Process entry point (``spawn`` target): run the aligner of the rig in ``config_json``."""

    def align(rig: RigConfig, stop: threading.Event, ctx: zmq.Context[Any]) -> None:
        AlignerLoop(
            rig, clock=MonotonicClock(), stop=stop, tick_origin_ns=tick_origin_ns, ctx=ctx
        ).run()

    run_worker("aligner", config_json, log_level, align)
