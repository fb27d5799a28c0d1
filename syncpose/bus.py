"""ZeroMQ helpers: sockets that always carry linger/send/receive timeouts and a bounded HWM.

Endpoints always come from configuration. Publishers are plain PUB sockets: a subscriber whose
queue is full loses messages on its own, without slowing the publisher or other subscribers
(``XPUB_NODROP`` would make one slow pixel consumer stall the headers the aligner needs).
Subscribers see those losses as gaps in ``seq`` and count them.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from syncpose.config import BusConfig
from syncpose.messages import Decoded, Decoder, Message, encode

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SocketTimeouts:
    """Timeouts applied to every socket (milliseconds)."""

    linger_ms: int = 0
    send_timeout_ms: int = 100
    recv_timeout_ms: int = 1000

    @classmethod
    def of(cls, bus: BusConfig) -> SocketTimeouts:
        """The timeouts a rig's ``bus`` section configures."""
        return cls(bus.linger_ms, bus.send_timeout_ms, bus.recv_timeout_ms)


def _apply(sock: zmq.Socket[Any], timeouts: SocketTimeouts) -> None:
    sock.setsockopt(zmq.LINGER, timeouts.linger_ms)
    sock.setsockopt(zmq.SNDTIMEO, timeouts.send_timeout_ms)
    sock.setsockopt(zmq.RCVTIMEO, timeouts.recv_timeout_ms)


def _bound(
    ctx: zmq.Context[Any], kind: int, endpoint: str, timeouts: SocketTimeouts, **options: int
) -> zmq.Socket[Any]:
    """A socket of ``kind`` with timeouts and ``options`` (zmq option name -> value), bound."""
    if endpoint.startswith("ipc://"):
        Path(endpoint[len("ipc://") :]).parent.mkdir(parents=True, exist_ok=True)
    sock: zmq.Socket[Any] = ctx.socket(kind)
    _apply(sock, timeouts)
    for name, value in options.items():
        sock.setsockopt(getattr(zmq, name), value)
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        sock.close(0)
        kind_name = zmq.SocketType(kind).name
        raise OSError(f"cannot bind {kind_name} socket to {endpoint}: {exc}") from exc
    return sock


def publisher(
    ctx: zmq.Context[Any], endpoint: str, timeouts: SocketTimeouts, send_hwm: int = 8
) -> zmq.Socket[Any]:
    """A PUB socket bound to ``endpoint`` with a bounded per-subscriber queue."""
    return _bound(ctx, zmq.PUB, endpoint, timeouts, SNDHWM=send_hwm)


def subscriber(
    ctx: zmq.Context[Any],
    endpoints: Iterable[str],
    topics: Sequence[bytes],
    timeouts: SocketTimeouts,
    recv_hwm: int = 1000,
) -> zmq.Socket[Any]:
    """A SUB socket connected to every endpoint and subscribed to ``topics``."""
    sock: zmq.Socket[Any] = ctx.socket(zmq.SUB)
    _apply(sock, timeouts)
    sock.setsockopt(zmq.RCVHWM, recv_hwm)
    for topic in topics:
        sock.setsockopt(zmq.SUBSCRIBE, topic)
    for endpoint in endpoints:
        sock.connect(endpoint)
    return sock


def clock_server(ctx: zmq.Context[Any], endpoint: str, timeouts: SocketTimeouts) -> zmq.Socket[Any]:
    """The aligner's clock service: a ROUTER socket bound to ``endpoint``."""
    return _bound(ctx, zmq.ROUTER, endpoint, timeouts)


def drain(
    sock: zmq.Socket[Any], decoder: Decoder, limit: int = 1000
) -> Iterator[tuple[Decoded, list[Any]]]:
    """The messages queued on ``sock`` right now, at most ``limit`` of them (a flood must not
    hold up the caller's loop: the rest wait for the next call), decoded, with their raw frames
    (zero-copy); what ``decoder`` cannot trust it counts and drops. Never blocks."""
    for _ in range(limit):
        try:
            frames = sock.recv_multipart(flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return
        decoded = decoder.decode(frames)
        if decoded is not None:
            yield decoded, frames


def publish(sock: zmq.Socket[Any], frames: Sequence[Any]) -> bool:
    """Send multipart ``frames`` without blocking; ``False`` if ZeroMQ refused the message.

    Array frames are sent zero-copy.
    """
    try:
        sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
    except zmq.Again:
        return False
    return True


def publish_message(
    sock: zmq.Socket[Any], message: Message, *, rig: str | None = None, **arrays: Any
) -> bool:
    """Encode (from rig ``rig``, with ``arrays``) and :func:`publish` a message; ``False`` when
    it was dropped."""
    return publish(sock, encode(message, arrays or None, rig))


def free_port_block(n: int) -> int:
    """A base port such that ``base .. base + n`` were all free a moment ago."""
    for _ in range(50):
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + n >= 65000:
            continue
        try:
            for p in range(base, base + n + 1):
                with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as t:
                    t.bind(("127.0.0.1", p))
        except OSError:
            continue
        return base
    raise OSError("no free block of local TCP ports found")


def endpoint_in_use(endpoint: str) -> bool:
    """Whether something on this host holds ``endpoint`` now (a ``tcp://`` port bound, or an
    ``ipc://`` socket that answers). An address of another host, which cannot be bound here, is
    not this host's to check: False."""
    if endpoint.startswith("tcp://"):
        host, _, port = endpoint[len("tcp://") :].rpartition(":")
        host = "" if host in ("*", "0.0.0.0") else host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with closing(socket.socket(family, socket.SOCK_STREAM)) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as ZeroMQ binds
            try:
                s.bind((host, int(port)))
            except OSError as exc:
                return exc.errno == errno.EADDRINUSE
        return False
    if endpoint.startswith("ipc://"):
        path = endpoint[len("ipc://") :]
        if not os.path.exists(path):
            return False
        with closing(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)) as s:
            try:
                s.connect(path)
            except OSError:
                return False  # a stale socket file: binding replaces it
            return True
    return False
