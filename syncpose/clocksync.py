"""Measuring a host's clock offset to the aligner's clock over the bus, NTP-style.

A probe leaves the host at ``t0`` (host clock), is answered by the aligner at ``t1`` (aligner
clock) and is back at ``t2`` (host clock). If the two legs take equally long,
``offset = t1 − (t0 + t2) / 2`` and the error is at most half the round trip ``t2 − t0``, so of
a burst of probes the one with the smallest round trip is kept.

:class:`ClockSyncClient` (DEALER) runs on the host; :func:`answer_clock_requests` (ROUTER) runs in
the aligner's loop. Messages are the ordinary wire messages (:class:`ClockRequest`,
:class:`ClockReply`, :class:`ClockOffset`), behind the ROUTER/DEALER envelope.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import zmq

from syncpose.bus import SocketTimeouts
from syncpose.clock import Clock
from syncpose.messages import ClockOffset, ClockReply, ClockRequest, Decoder, encode

logger = logging.getLogger(__name__)


def estimate_offset(samples: Sequence[tuple[int, int, int]]) -> tuple[int, int]:
    """``(offset_ns, rtt_ns)`` from probes ``(t0, t1, t2)``: the one with the least round trip."""
    if not samples:
        raise ValueError("no clock samples")
    t0, t1, t2 = min(samples, key=lambda s: s[2] - s[0])
    return t1 - (t0 + t2) // 2, t2 - t0


class ClockSyncClient:
    """Probes the aligner's clock service from a host."""

    def __init__(
        self,
        ctx: zmq.Context[Any],
        endpoint: str,
        host: str,
        clock: Clock,
        timeouts: SocketTimeouts,
        rig: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.rig = rig
        self.host = host
        self.clock = clock
        self.timeouts = timeouts
        self._ctx = ctx
        self._sock: zmq.Socket[Any] | None = None
        self._decoder = Decoder(accept=[ClockReply], rig=rig)

    def _socket(self) -> zmq.Socket[Any]:
        if self._sock is None:
            sock: zmq.Socket[Any] = self._ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDTIMEO, self.timeouts.send_timeout_ms)
            sock.setsockopt(zmq.RCVTIMEO, self.timeouts.recv_timeout_ms)
            sock.connect(self.endpoint)
            self._sock = sock
        return self._sock

    def measure(self, probes: int = 8, timeout_ms: int = 200) -> ClockOffset | None:
        """A burst of ``probes``; ``None`` when the aligner did not answer."""
        sock = self._socket()
        samples: list[tuple[int, int, int]] = []
        for _ in range(probes):
            t0 = self.clock.now_ns()
            try:
                request = ClockRequest(host=self.host, t0_ns=t0)
                sock.send_multipart(encode(request, rig=self.rig), zmq.NOBLOCK)
            except zmq.Again:
                break
            if not sock.poll(timeout_ms):
                # No answer: start over with a fresh socket so a late reply is not misread.
                sock.close(0)
                self._sock = None
                break
            decoded = self._decoder.decode(sock.recv_multipart())
            t2 = self.clock.now_ns()
            if decoded is None or not isinstance(decoded.message, ClockReply):
                continue
            if decoded.message.t0_ns != t0:
                continue  # a stale reply to an earlier probe
            samples.append((t0, decoded.message.t1_ns, t2))
        if not samples:
            logger.warning("no answer from the clock service at %s", self.endpoint)
            return None
        offset, rtt = estimate_offset(samples)
        return ClockOffset(
            host=self.host,
            offset_ns=offset,
            rtt_ns=rtt,
            samples=len(samples),
            t_ns=self.clock.now_ns(),
        )

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None


class ProbeLimiter:
    """A rate limit on clock probes per peer (a token bucket per ZeroMQ identity): a peer may
    send ``burst`` probes at once and ``rate`` per second after that; the rest are dropped and
    counted. A real client sends one burst of 8 every few seconds. At most ``max_peers``
    identities are remembered (the longest silent is forgotten first)."""

    def __init__(self, rate: float = 16.0, burst: float = 32.0, max_peers: int = 256) -> None:
        self.rate = rate
        self.burst = burst
        self.max_peers = max_peers
        self.refused = 0
        self._buckets: OrderedDict[bytes, tuple[float, int]] = OrderedDict()

    def allow(self, peer: bytes, now_ns: int) -> bool:
        tokens, last = self._buckets.pop(peer, (self.burst, now_ns))
        tokens = min(self.burst, tokens + (now_ns - last) / 1e9 * self.rate)
        allowed = tokens >= 1.0
        self._buckets[peer] = (tokens - 1.0 if allowed else tokens, now_ns)
        while len(self._buckets) > self.max_peers:
            self._buckets.popitem(last=False)
        if not allowed:
            self.refused += 1
        return allowed


def answer_clock_requests(
    sock: zmq.Socket[Any],
    clock: Clock,
    decoder: Decoder,
    limiter: ProbeLimiter | None = None,
    rig: str | None = None,
    max_messages: int = 64,
) -> int:
    """Answer the pending probes on a ROUTER socket, at most ``max_messages`` of them (a flood
    must not hold up the caller's loop: the rest wait for the next call), each peer within
    ``limiter``'s rate; returns how many were answered."""
    answered = 0
    for _ in range(max_messages):
        try:
            frames = sock.recv_multipart(flags=zmq.NOBLOCK)
        except zmq.Again:
            break
        t1 = clock.now_ns()
        identity, body = frames[0], frames[1:]
        if limiter is not None and not limiter.allow(identity, t1):
            continue
        decoded = decoder.decode(body)
        if decoded is None or not isinstance(decoded.message, ClockRequest):
            continue
        reply = encode(ClockReply(t0_ns=decoded.message.t0_ns, t1_ns=t1), rig=rig)
        try:
            sock.send_multipart([identity, *reply], flags=zmq.NOBLOCK)
        except zmq.Again:
            continue
        answered += 1
    return answered
