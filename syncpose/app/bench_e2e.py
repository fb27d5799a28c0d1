"""``syncpose bench e2e``: the synthetic rig end to end — capture workers, aligner, inference
worker, server — measured from a WebSocket client: capture-to-WebSocket latency, dropped
bundles, resident memory of the whole rig."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from syncpose.clock import NS_PER_MS, NS_PER_S, monotonic_ns
from syncpose.config import RigConfig
from syncpose.configfile import parse_config

logger = logging.getLogger(__name__)


def e2e_rig(
    cameras: int,
    fps: float,
    base_port: int,
    http_port: int,
    recordings: Path,
    size: tuple[int, int] = (1280, 720),
) -> RigConfig:
    """``cameras`` synthetic cameras of ``size`` at ``fps``, offsets spread over a period, 1 ms
    jitter: the demo rig, sized. The focal length scales with the width, so a smaller camera
    sees the whole person as the demo's 1280-pixel ones do (with the default 1000 px, a
    320x240 camera saw a quarter of the body, and most of its bundles made no pose)."""
    period_ms = 1000.0 / fps
    w, h = size
    focal = round(1000.0 * w / 1280.0, 3)
    cams = "\n".join(
        f"  - id: cam{i}\n    source: {{type: synthetic, clock_offset_ms: "
        f"{round(i * period_ms / cameras, 3)}, jitter_ms: 1.0, seed: {i}, width: {w}, "
        f"height: {h}, focal_px: {focal}}}"
        for i in range(cameras)
    )
    text = (
        f"rig: {{name: e2e, fps: {fps}}}\ncameras:\n{cams}\n"
        f"aligner: {{max_wait_ms: 10}}\nbus: {{base_port: {base_port}}}\n"
        f"server: {{port: {http_port}, recordings_dir: {recordings}}}\n"
    )
    return parse_config(text)


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024.0, 1)


def run_e2e_bench(
    cameras: int, fps: float, seconds: float, log_level: str = "WARNING"
) -> dict[str, Any]:
    import tempfile

    from websockets.sync.client import connect

    from syncpose.app.rig import rig_processes
    from syncpose.bus import free_port_block
    from syncpose.capture.bench import percentiles
    from syncpose.process import ProcessGroup

    recordings = Path(tempfile.mkdtemp(prefix="syncpose-e2e-"))
    rig = e2e_rig(cameras, fps, free_port_block(cameras + 4), free_port_block(1), recordings)
    epoch = monotonic_ns() + 3 * NS_PER_S
    group = ProcessGroup(rig_processes(rig, epoch, log_level))  # with inference and server
    base = f"http://127.0.0.1:{rig.server.port}"
    group.start()
    latencies: list[float] = []
    seqs: list[int] = []
    dropped_by_worker: list[int] = []
    try:
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/api/health", timeout=2) as r:
                    if json.loads(r.read())["poses"] > fps * 2:  # past the start-up
                        break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError("the rig produced no poses within 120 s")
        pids = list(group.pids().values())
        rss_start = _rss_mb(pids)
        with connect(f"ws://127.0.0.1:{rig.server.port}/ws/poses") as ws:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                pose = json.loads(ws.recv(timeout=5))
                received = monotonic_ns()
                offsets = pose.get("offsets_ms") or {}
                if offsets:
                    last_capture = pose["t_ref_ns"] + max(offsets.values()) * NS_PER_MS
                    latencies.append((received - last_capture) / NS_PER_MS)
                seqs.append(pose["bundle_seq"])
                dropped_by_worker.append(pose["dropped_bundles"])
        rss_end = _rss_mb(pids)
        exited = group.exited()
    finally:
        codes = group.stop()
    period_ms = 1000.0 / fps
    gaps = int(sum(max(0, b - a - 1) for a, b in pairwise(seqs)))
    lat = percentiles(latencies)
    return {
        "benchmark": "e2e",
        "cameras": cameras,
        "fps": fps,
        "seconds": seconds,
        "poses": len(seqs),
        "poses_per_s": round(len(seqs) / seconds, 2),
        "capture_to_websocket_ms": lat,
        "target_p99_ms": round(period_ms + 20.0, 1),
        "meets_target": lat["p99"] is not None and lat["p99"] <= period_ms + 20.0,
        "bundles_missing_from_stream": gaps,
        "bundles_dropped_by_worker": (dropped_by_worker[-1] - dropped_by_worker[0])
        if dropped_by_worker
        else 0,
        "rss_mb_start_end": [rss_start, rss_end],
        "mean_latency_first_last_quarter_ms": _quarters(latencies),
        "workers_exited_during_run": exited,
        "exit_codes": codes,
        "machine_cpus": os.cpu_count(),
    }


def _quarters(values: list[float]) -> list[float | None]:
    q = max(1, len(values) // 4)
    if not values:
        return [None, None]
    return [round(float(np.mean(values[:q])), 2), round(float(np.mean(values[-q:])), 2)]
