"""Prometheus metrics of one server (its own registry: no module-level state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from syncpose.messages import PoseResult, WorkerStatus

_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.033, 0.05, 0.1, 0.2, 0.5, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.stage = Histogram(
            "syncpose_stage_latency_seconds",
            "Per-stage latency of the inference pipeline.",
            ["stage"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.poses = Counter(
            "syncpose_poses", "Poses received from the inference worker.", registry=self.registry
        )
        self.fps = Gauge(
            "syncpose_worker_fps", "Frames, bundles or poses per second.", ["worker"],
            registry=self.registry,
        )  # fmt: skip
        self.dropped = Gauge(
            "syncpose_worker_dropped", "Frames or bundles dropped since the worker started.",
            ["worker"], registry=self.registry,
        )  # fmt: skip

    def on_pose(self, pose: PoseResult) -> None:
        self.poses.inc()
        for stage, ms in pose.latency_ms.items():
            self.stage.labels(stage).observe(ms / 1000.0)

    def on_worker(self, status: WorkerStatus) -> None:
        self.fps.labels(status.worker).set(status.fps)
        self.dropped.labels(status.worker).set(status.dropped)

    def render(self) -> bytes:
        return generate_latest(self.registry)
