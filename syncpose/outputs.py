"""The live outputs: a worker process that subscribes to the inference worker's poses (as the
server does) and sends each to the rig file's ``outputs:`` — VMC targets (:mod:`syncpose.vmc`)
and Lab Streaming Layer outlets (:class:`LslOutlet`).

It never slows the rig: it is a subscriber of its own, it solves only the newest pose when it
falls behind (the older ones are dropped, counted), and it sends on non-blocking UDP sockets,
so a receiver that is slow, absent or refusing (an ICMP "port unreachable") costs a dropped
frame, counted, and nothing else (an LSL outlet buffers for its inlets and never blocks).
Each output performs one person (:class:`Performer`); a VMC target estimates that person's
bone lengths online (:class:`~syncpose.solve.PeopleLengths`: new for a new track).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import numpy as np
import zmq

from syncpose.arrays import AnyArray
from syncpose.bus import SocketTimeouts, drain, subscriber
from syncpose.clock import NS_PER_S
from syncpose.config import LslOutputConfig, RigConfig, VmcOutputConfig
from syncpose.messages import Decoder, PoseResult
from syncpose.process import ProcessSpec
from syncpose.skeleton import JOINTS
from syncpose.solve import PeopleLengths, solve
from syncpose.vmc import frame_datagrams
from syncpose.worker import WorkerFailed, run_worker

logger = logging.getLogger(__name__)

WORKER_NAME = "outputs"
#: How often the worker logs what each output sent and dropped (s).
REPORT_S = 10.0


class Performer:
    """Which person an output performs: ``person`` (a track id), or by default the first
    posed (the lowest id), followed while present, then the next. ``sent``, ``dropped``
    (frames the receiver's side refused) and ``absent`` (poses without the person) count."""

    def __init__(self, person: int | None) -> None:
        self.person = person
        self.following: int | None = person
        self.sent = self.dropped = self.absent = 0

    def choose(self, person_ids: list[int]) -> int | None:
        """The row of the person to perform (None: not in this pose)."""
        if self.person is None and self.following not in person_ids and person_ids:
            self.following = min(person_ids)
        return person_ids.index(self.following) if self.following in person_ids else None

    def report(self) -> str:
        return f"sent {self.sent}, dropped {self.dropped}, {self.absent} poses without the person"


class VmcTarget(Performer):
    """One VMC receiver: a non-blocking UDP socket, the person it performs, their lengths.

    :meth:`send` takes a pose's people and sends the chosen one's frame."""

    def __init__(self, config: VmcOutputConfig) -> None:
        super().__init__(config.person)
        self.config = config
        family, kind, proto, _, address = socket.getaddrinfo(
            config.host, config.port, type=socket.SOCK_DGRAM
        )[0]
        self.sock = socket.socket(family, kind, proto)
        self.sock.setblocking(False)
        self.sock.connect(address)  # a refusing receiver then shows as an error on send
        self._lengths = PeopleLengths()
        self._t0 = time.monotonic()

    @property
    def name(self) -> str:
        return f"vmc {self.config.host}:{self.config.port}"

    def send(self, person_ids: list[int], positions: AnyArray, t_ref_ns: int = 0) -> bool:
        """Send the performer's frame from ``positions`` (P, J, 3); whether it went out."""
        row = self.choose(person_ids)
        if row is None or not np.isfinite(positions[row]).any():
            self.absent += 1
            return False
        pose = np.asarray(positions[row], dtype=np.float64)
        try:
            lengths = self._lengths.update(person_ids[row], pose)
            datagrams = frame_datagrams(
                solve(pose[None]), lengths.offsets(), time.monotonic() - self._t0
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


class LslOutlet(Performer):
    """A Lab Streaming Layer outlet: one float32 channel per joint coordinate of one person
    (``pelvis_x``, ``pelvis_y``, … in the rig's world frame, metres, NaN = unknown), at the
    rig's nominal rate, each sample stamped with its pose's capture time (the bundle's
    ``t_ref``, on this host's monotonic clock) mapped to the LSL clock, so that it lines up
    with EEG or force plates recorded beside it."""

    def __init__(self, config: LslOutputConfig, rig: RigConfig) -> None:
        super().__init__(config.person)
        try:
            import pylsl
        except ImportError as exc:
            raise WorkerFailed(
                f"outputs: an 'lsl' output needs pylsl ({exc}): pip install 'syncpose[lsl]'"
            ) from None
        self.config = config
        info = pylsl.StreamInfo(
            config.name, "MoCap", 3 * len(JOINTS), rig.rig.fps, "float32",
            f"syncpose-{rig.rig_id}-{config.name}",
        )  # fmt: skip
        channels = info.desc().append_child("channels")
        for joint in JOINTS:
            for axis in "xyz":
                channel = channels.append_child("channel")
                channel.append_child_value("label", f"{joint}_{axis}")
                channel.append_child_value("type", "Position")
                channel.append_child_value("unit", "metres")
        info.desc().append_child_value("frame", "rig world, Z up, right-handed")
        self.outlet = pylsl.StreamOutlet(info)
        # The LSL clock minus this host's monotonic clock (both steady; LSL's is monotonic
        # on Linux, so this is about 0 there, but measured, not assumed).
        self.offset_s = pylsl.local_clock() - time.monotonic_ns() / NS_PER_S

    @property
    def name(self) -> str:
        return f"lsl {self.config.name!r}"

    def send(self, person_ids: list[int], positions: AnyArray, t_ref_ns: int = 0) -> bool:
        """Push the performer's joints from ``positions`` (P, J, 3) stamped at ``t_ref_ns``."""
        row = self.choose(person_ids)
        if row is None:
            self.absent += 1
            return False
        sample = np.asarray(positions[row], dtype=np.float32).reshape(-1)
        self.outlet.push_sample(sample.tolist(), t_ref_ns / NS_PER_S + self.offset_s)
        self.sent += 1
        return True

    def close(self) -> None:
        del self.outlet


def _output(config: VmcOutputConfig | LslOutputConfig, rig: RigConfig) -> VmcTarget | LslOutlet:
    return VmcTarget(config) if isinstance(config, VmcOutputConfig) else LslOutlet(config, rig)


def run_outputs(rig: RigConfig, stop: threading.Event, ctx: zmq.Context[Any]) -> None:
    """The worker's body: every pose to every output until ``stop``."""
    targets = [_output(c, rig) for c in rig.outputs]
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
                    logger.info("%s: %s; %d poses skipped (behind)", t.name, t.report(), behind)
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
                t.send(latest.message.person_ids, np.asarray(positions), latest.message.t_ref_ns)
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
