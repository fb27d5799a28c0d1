"""``syncpose bench capture``: capture workers and the aligner, measured over real sockets.

Starts N synthetic 1280x720 cameras (their clock offsets spread over one frame period) and the
aligner as separate processes, waits until all report ``running``, then measures for the given
time from a separate subscriber, like any downstream consumer:

* ``latency_ms``: last included frame's grab (``t_capture_ns``) to the aligner emitting the
  bundle (``t_emit_ns``); ``delivery_latency_ms``: to this process receiving it;
* ``dropped_frames``: gaps in ``seq`` seen on the cameras' header streams during the window
  (frames lost anywhere: by the source, in the worker's hand-off, or in transport);
* ``complete_bundle_ratio``: bundles with every camera present / bundles emitted;
* CPU use of every process (from ``/proc``), and optionally a pixel consumer that receives every
  frame's pixels too (what the inference worker will do).
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from syncpose.bus import SocketTimeouts, drain, free_port_block, subscriber
from syncpose.capture.rig import RigWatcher, capture_processes
from syncpose.clock import NS_PER_MS, NS_PER_S, monotonic_ns
from syncpose.config import RigConfig
from syncpose.messages import Bundle, Decoder, Frame, FrameHeader
from syncpose.process import ProcessGroup

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptureBenchOptions:
    cameras: int = 4
    fps: float = 60.0
    seconds: float = 10.0
    width: int = 1280
    height: int = 720
    encoding: str = "raw"
    max_wait_ms: float = 10.0
    jitter_ms: float = 0.5
    consume_pixels: bool = False


def bench_rig(opts: CaptureBenchOptions, base_port: int) -> RigConfig:
    """The synthetic rig the benchmark runs: offsets i/N of a frame period."""
    period_ms = 1000.0 / opts.fps
    cameras = [
        {
            "id": f"cam{i}",
            "encoding": opts.encoding,
            "source": {
                "type": "synthetic",
                "width": opts.width,
                "height": opts.height,
                "clock_offset_ms": round(i * period_ms / opts.cameras, 3),
                "jitter_ms": opts.jitter_ms,
                "seed": i,
            },
        }
        for i in range(opts.cameras)
    ]
    return RigConfig.model_validate(
        {
            "rig": {"name": "bench-capture", "fps": opts.fps},
            "cameras": cameras,
            "aligner": {"max_wait_ms": opts.max_wait_ms},
            "bus": {"base_port": base_port},
        }
    )


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    arr = np.asarray(values)
    return {
        "p50": round(float(np.percentile(arr, 50)), 3),
        "p99": round(float(np.percentile(arr, 99)), 3),
        "max": round(float(arr.max()), 3),
    }


class _SeqCounter:
    """Counts frames and seq gaps per camera on a header or frame stream."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}
        self.frames = 0
        self.gaps = 0

    def add(self, header: FrameHeader) -> None:
        last = self.last.get(header.camera_id)
        if last is not None and header.seq > last:
            self.gaps += header.seq - last - 1
        self.last[header.camera_id] = header.seq
        self.frames += 1


class _PixelConsumer(threading.Thread):
    """Receives every camera's pixels (as the inference worker will) and counts losses."""

    def __init__(self, rig: RigConfig, ctx: zmq.Context[Any], stop: threading.Event) -> None:
        super().__init__(name="pixel-consumer", daemon=True)
        endpoints = [rig.camera_endpoint(i) for i in range(len(rig.cameras))]
        self.sock = subscriber(ctx, endpoints, [Frame.TOPIC], SocketTimeouts(), recv_hwm=8)
        self.stop = stop
        self.counting = threading.Event()
        self.counter = _SeqCounter()
        self.bytes = 0

    def run(self) -> None:
        decoder = Decoder(accept=[Frame])
        while not self.stop.is_set():
            if not self.sock.poll(100):
                continue
            frames = self.sock.recv_multipart(copy=False)
            decoded = decoder.decode(frames)
            if decoded is None or not isinstance(decoded.message, Frame):
                continue
            if self.counting.is_set():
                self.counter.add(decoded.message.header)
                self.bytes += decoded.arrays["image"].nbytes
            else:
                self.counter.last[decoded.message.header.camera_id] = decoded.message.header.seq
        self.sock.close()


def run_capture_bench(opts: CaptureBenchOptions, log_level: str = "WARNING") -> dict[str, Any]:
    """Run the benchmark and return its report (see the module docstring)."""
    rig = bench_rig(opts, free_port_block(opts.cameras + 1))
    epoch = monotonic_ns() + 3 * NS_PER_S
    group = ProcessGroup(capture_processes(rig, epoch, log_level))
    ctx: zmq.Context[Any] = zmq.Context()
    watcher = RigWatcher(rig, ctx)
    endpoints = [rig.camera_endpoint(i) for i in range(len(rig.cameras))]
    headers = subscriber(ctx, endpoints, [FrameHeader.TOPIC], SocketTimeouts())
    header_decoder = Decoder(accept=[FrameHeader])
    stop = threading.Event()
    pixels = _PixelConsumer(rig, ctx, stop) if opts.consume_pixels else None
    group.start()
    try:
        if pixels is not None:
            pixels.start()
        names = ["aligner"] + [f"capture:{c}" for c in rig.camera_ids]
        if not watcher.wait_until_running(names, timeout_s=60.0):
            raise RuntimeError(f"workers did not all start: {watcher.workers}")
        time.sleep(1.0)  # settle
        counter = _SeqCounter()
        for _ in range(3):  # prime per-camera seq so gaps are counted inside the window only
            _drain_headers(headers, header_decoder, counter)
            time.sleep(0.01)
        counter.frames = counter.gaps = 0
        if pixels is not None:
            pixels.counting.set()
        latency: list[float] = []
        delivery: list[float] = []
        skew: list[float] = []
        offsets: dict[str, list[float]] = {c: [] for c in rig.camera_ids}
        complete = 0
        bundle_count = 0

        def on_bundle(bundle: Bundle, received_ns: int) -> None:
            nonlocal complete, bundle_count
            bundle_count += 1
            present = bundle.present
            if len(present) == len(bundle.views):
                complete += 1
            if present and bundle.t_emit_ns is not None:
                last_grab = max(v.header.t_capture_ns for v in present if v.header)
                latency.append((bundle.t_emit_ns - last_grab) / NS_PER_MS)
                delivery.append((received_ns - last_grab) / NS_PER_MS)
            if bundle.max_skew_ns is not None:
                skew.append(bundle.max_skew_ns / NS_PER_MS)
            for v in present:
                if v.offset_ns is not None:
                    offsets[v.camera_id].append(v.offset_ns / NS_PER_MS)

        pids = group.pids()
        cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        wall0 = time.monotonic()
        watcher.receive(0)  # discard what queued before the window
        while time.monotonic() - wall0 < opts.seconds:
            watcher.receive(20, on_bundle)
            _drain_headers(headers, header_decoder, counter)
        wall = time.monotonic() - wall0
        cpu1 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        if pixels is not None:
            pixels.counting.clear()
        exited = group.exited()
    finally:
        stop.set()
        if pixels is not None:
            pixels.join(2.0)
        headers.close()
        watcher.close()
        exit_codes = group.stop()
        ctx.term()
    cpu = {
        name: round(100.0 * (cpu1[name] - c0) / wall, 1)  # type: ignore[operator]
        for name, c0 in cpu0.items()
        if c0 is not None and cpu1.get(name) is not None
    }
    period_ms = 1000.0 / opts.fps
    report: dict[str, Any] = {
        "benchmark": "capture",
        "options": asdict(opts),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "seconds_measured": round(wall, 3),
        "bundles": bundle_count,
        "expected_bundles": round(wall * opts.fps),
        "complete_bundle_ratio": round(complete / bundle_count, 4) if bundle_count else 0.0,
        "dropped_frames": counter.gaps,
        "frames_received": counter.frames,
        "latency_ms": percentiles(latency),
        "delivery_latency_ms": percentiles(delivery),
        "max_skew_ms": percentiles(skew),
        "offset_ms": _offset_report(offsets, period_ms, opts.cameras),
        "cpu_percent": cpu,
        "workers_exited_during_run": exited,
        "exit_codes": exit_codes,
    }
    if pixels is not None:
        report["pixel_consumer"] = {
            "frames": pixels.counter.frames,
            "dropped_frames": pixels.counter.gaps,
            "megabytes_per_s": round(pixels.bytes / wall / 1e6, 1),
        }
    p99 = report["latency_ms"]["p99"]
    report["target"] = {
        "no_drops": counter.gaps == 0,
        "p99_within_max_wait_plus_5ms": p99 is not None and p99 <= opts.max_wait_ms + 5.0,
    }
    return report


def wrap_ms(x: float, period_ms: float) -> float:
    """``x`` reduced into (−period/2, period/2]."""
    r = x % period_ms
    return r - period_ms if r > period_ms / 2 else r


def _offset_report(
    offsets: dict[str, list[float]], period_ms: float, n: int
) -> dict[str, dict[str, float | None]]:
    """Measured δ_v against the configured clock offsets (camera i: i/n of a period).

    The tick phase is the aligner's choice, so offsets are compared relative to cam0, modulo
    one period: ``error_ms`` = wrap((δ_v − δ_0) − (o_v − o_0)).
    """
    medians = {cam: float(np.median(v)) if v else None for cam, v in offsets.items()}
    ref = medians.get("cam0")
    out: dict[str, dict[str, float | None]] = {}
    for i, (cam, med) in enumerate(medians.items()):
        configured = i * period_ms / n
        error = None
        if med is not None and ref is not None:
            error = round(wrap_ms((med - ref) - configured, period_ms), 3)
        out[cam] = {
            "configured_ms": round(configured, 3),
            "median_delta_ms": None if med is None else round(med, 3),
            "error_ms": error,
        }
    return out


def _drain_headers(sock: zmq.Socket[Any], decoder: Decoder, counter: _SeqCounter) -> None:
    for decoded, _ in drain(sock, decoder):
        if isinstance(decoded.message, FrameHeader):
            counter.add(decoded.message)


def run_repeated(opts: CaptureBenchOptions, repeat: int) -> dict[str, Any]:
    """Run the benchmark ``repeat`` times; the headline figures are medians over the runs.

    The machines are shared and noisy: one run can meet a hiccup of the host. Every run is kept
    under ``runs``.
    """
    runs = [run_capture_bench(opts) for _ in range(repeat)]
    if repeat == 1:
        return runs[0]

    def median(get: Any) -> float | None:
        values = [v for v in (get(r) for r in runs) if v is not None]
        return round(float(np.median(values)), 4) if values else None

    summary: dict[str, Any] = {
        "benchmark": "capture",
        "options": asdict(opts),
        "repeat": repeat,
        "aggregate": "median over runs",
        "bundles": median(lambda r: r["bundles"]),
        "complete_bundle_ratio": median(lambda r: r["complete_bundle_ratio"]),
        "dropped_frames": median(lambda r: r["dropped_frames"]),
        "latency_ms": {q: median(lambda r, q=q: r["latency_ms"][q]) for q in ("p50", "p99", "max")},
        "delivery_latency_ms": {
            q: median(lambda r, q=q: r["delivery_latency_ms"][q]) for q in ("p50", "p99", "max")
        },
        "cpu_percent_total": median(lambda r: sum(r["cpu_percent"].values())),
        "runs_without_drops": sum(1 for r in runs if r["dropped_frames"] == 0),
        "runs": runs,
    }
    return summary
