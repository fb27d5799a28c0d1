"""The live outputs: a worker process that subscribes to the inference worker's poses (as the
server does) and sends each to the rig file's ``outputs:`` — VMC targets (:mod:`syncpose.vmc`).

It never slows the rig: it is a subscriber of its own, it solves only the newest pose when it
falls behind (the older ones are dropped, counted), and it sends on non-blocking UDP sockets,
so a receiver that is slow, absent or refusing (an ICMP "port unreachable") costs a dropped
frame, counted, and nothing else. Each target performs one person (:class:`VmcTarget`); that
person's bone lengths are estimated online (:class:`~syncpose.solve.BoneLengths`, one per
track id, new for a new track).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import numpy as np
import zmq

from syncpose.arrays import FloatArray
from syncpose.bus import SocketTimeouts, drain, subscriber
from syncpose.config import RigConfig, VmcOutputConfig
from syncpose.messages import Decoder, PoseResult
from syncpose.process import ProcessSpec
from syncpose.solve import BoneLengths, Lengths, lengths_of, solve
from syncpose.vmc import bone_offsets, frame_datagrams
from syncpose.worker import run_worker

logger = logging.getLogger(__name__)

WORKER_NAME = "outputs"
#: How often the worker logs what each output sent and dropped (s).
REPORT_S = 10.0
#: Track ids whose lengths are kept after they were last seen (poses): a track the tracker
#: keeps through a short gap keeps its skeleton.
FORGET_AFTER = 300


class VmcTarget:
    """One VMC receiver: a non-blocking UDP socket, the person it performs, their lengths.

    :meth:`send` takes a pose's people and sends the chosen one's frame; ``sent`` and
    ``dropped`` (frames the socket refused) count what happened, ``absent`` the poses without
    the person."""

    def __init__(self, config: VmcOutputConfig) -> None:
        self.config = config
        family, kind, proto, _, address = socket.getaddrinfo(
            config.host, config.port, type=socket.SOCK_DGRAM
        )[0]
        self.sock = socket.socket(family, kind, proto)
        self.sock.setblocking(False)
        self.sock.connect(address)  # a refusing receiver then shows as an error on send
        self.following: int | None = config.person
        self._lengths: dict[int, BoneLengths] = {}
        self._last_seen: dict[int, int] = {}
        self._poses = 0
        self._t0 = time.monotonic()
        self.sent = self.dropped = self.absent = 0

    @property
    def name(self) -> str:
        return f"vmc {self.config.host}:{self.config.port}"

    def choose(self, person_ids: list[int]) -> int | None:
        """The row of the person to perform (None: not in this pose)."""
        if self.config.person is None and self.following not in person_ids and person_ids:
            self.following = min(person_ids)  # the first posed; followed while present
        return person_ids.index(self.following) if self.following in person_ids else None

    def lengths(self, person: int, pose: FloatArray) -> Lengths:
        """The person's lengths now: the online estimate, or this pose's own until it is ready."""
        self._last_seen[person] = self._poses
        for old in [p for p, seen in self._last_seen.items() if self._poses - seen > FORGET_AFTER]:
            del self._last_seen[old]
            self._lengths.pop(old, None)
        return self._lengths.setdefault(person, BoneLengths()).update(pose) or lengths_of(
            pose[None]
        )

    def send(self, person_ids: list[int], positions: FloatArray) -> bool:
        """Send the performer's frame from ``positions`` (P, J, 3); whether it went out."""
        self._poses += 1
        row = self.choose(person_ids)
        if row is None or not np.isfinite(positions[row]).any():
            self.absent += 1
            return False
        pose = np.asarray(positions[row], dtype=np.float64)
        try:
            lengths = self.lengths(person_ids[row], pose)
            datagrams = frame_datagrams(
                solve(pose[None]), bone_offsets(lengths), time.monotonic() - self._t0
            )
        except ValueError:  # no pelvis, no bone measured: nothing to perform
            self.absent += 1
            return False
        try:
            for datagram in datagrams:
                self.sock.send(datagram)
        except OSError:  # full buffer, refused, unreachable: this frame is lost
            self.dropped += 1
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        self.sock.close()


def run_outputs(rig: RigConfig, stop: threading.Event, ctx: zmq.Context[Any]) -> None:
    """The worker's body: every pose to every output until ``stop``."""
    targets = [VmcTarget(c) for c in rig.outputs]
    sock = subscriber(
        ctx, [rig.inference_endpoint()], [PoseResult.TOPIC], SocketTimeouts.of(rig.bus)
    )
    decoder = Decoder(accept=[PoseResult], rig=rig.rig_id)
    behind = 0
    next_report = time.monotonic() + REPORT_S
    logger.info("outputs: %s", ", ".join(t.name for t in targets))
    try:
        while not stop.is_set():
            if time.monotonic() >= next_report:
                next_report += REPORT_S
                for t in targets:
                    logger.info(
                        "%s: sent %d, dropped %d (receiver), %d poses without the person, "
                        "%d poses skipped (behind)",
                        t.name, t.sent, t.dropped, t.absent, behind,
                    )  # fmt: skip
            if not sock.poll(100):
                continue
            poses = [d for d, _ in drain(sock, decoder) if isinstance(d.message, PoseResult)]
            if not poses:
                continue
            behind += len(poses) - 1  # only the newest is sent: the rest are stale
            latest = poses[-1]
            assert isinstance(latest.message, PoseResult)
            positions = latest.arrays.get("positions")
            if positions is None or not latest.message.person_ids:
                continue
            for t in targets:
                t.send(latest.message.person_ids, np.asarray(positions))
    finally:
        for t in targets:
            t.close()
        sock.close()


def main(config_json: str, log_level: str = "INFO") -> None:
    """Process entry point (``spawn`` target)."""
    run_worker(WORKER_NAME, config_json, log_level, run_outputs)


def process_spec(rig: RigConfig, log_level: str = "INFO") -> ProcessSpec:
    """The outputs as a process of the rig, stopped with the server (it only listens)."""
    return ProcessSpec(WORKER_NAME, main, (rig.model_dump_json(), log_level), stop_stage=-2)
