"""Benchmarks on real video: weak synchronisation made from a synchronised recording
(``bench realvideo``) and the live pipeline's latency and throughput (``bench pipeline``).

Like :mod:`syncpose.app.offline`, this composes ``capture`` and ``inference``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from syncpose.app.offline import Reconstruction, find_videos, reconstruct, video_rig
from syncpose.arrays import FloatArray
from syncpose.clock import NS_PER_S
from syncpose.config import InferenceConfig, RigConfig

logger = logging.getLogger(__name__)


METHODS = ("dlt", "time_aware", "denoiser")


def _interpolate(t_ns: FloatArray, poses: FloatArray, at_ns: FloatArray) -> FloatArray:
    """Linear interpolation of ``poses`` (K, J, 3) at times ``t_ns`` (K,) to ``at_ns`` (M,)
    (NaN outside, or where a bracketing pose lacks the joint)."""
    out = np.full((len(at_ns), *poses.shape[1:]), np.nan)
    i = np.searchsorted(t_ns, at_ns)
    for m, (k, t) in enumerate(zip(i, at_ns, strict=True)):
        if k < len(t_ns) and t_ns[k] == t:
            out[m] = poses[k]
        elif 0 < k < len(t_ns):
            w = (t - t_ns[k - 1]) / (t_ns[k] - t_ns[k - 1])
            out[m] = (1 - w) * poses[k - 1] + w * poses[k]
    return out


Detections = dict[tuple[str, int], FloatArray]


def detections_by_frame(result: Reconstruction) -> Detections:
    """Every view's keypoints (J, 3) in ``result`` by (camera, file frame index)."""
    out: Detections = {}
    for tick in result.ticks:
        kp2d = tick.output.person_keypoints_2d()
        for v, name in enumerate(result.calibration.names):
            view = next((x for x in tick.bundle.views if x.camera_id == name), None)
            if view is not None and view.header is not None:
                out[(name, _file_frame(result, name, view.header.seq))] = kp2d[v]
    return out


def _file_frame(result: Reconstruction, camera: str, seq: int) -> int:
    from syncpose.config import VideoSourceConfig

    assert result.config is not None, "a reconstruction of videos"
    src = result.config.camera(camera).source
    assert isinstance(src, VideoSourceConfig)
    return src.start_frame + seq * src.frame_step


def refuse(
    result: Reconstruction,
    method: str,
    inference: InferenceConfig,
    detections: Detections | None = None,
) -> FloatArray:
    """(K, J, 3): ``result``'s bundles fused again with ``method``. The keypoints are the ones
    ``result`` fused (swaps repaired, thresholds applied), or with ``detections`` those of the
    same file frames from another run, repaired here the same way — every method sees
    identical 2D."""
    from syncpose.inference.engine import ViewKeypoints
    from syncpose.inference.pipeline import make_engine
    from syncpose.inference.swaps import fix_left_right

    rig = result.calibration
    engine = make_engine(inference, rig, method)
    names = rig.names
    out = []
    for tick in result.ticks:
        kp2d = tick.output.person_keypoints_2d().copy()
        views_by_name = {v.camera_id: v for v in tick.bundle.views}
        if detections is not None:
            for v, name in enumerate(names):
                view = views_by_name.get(name)
                kp2d[v] = np.nan
                if view is not None and view.header is not None:
                    key = (name, _file_frame(result, name, view.header.seq))
                    if key in detections:
                        kp2d[v] = detections[key]
            points, conf, _ = fix_left_right(rig, kp2d[..., :2], np.nan_to_num(kp2d[..., 2]))
            kp2d = np.concatenate([points, conf[..., None]], axis=-1)
        views: dict[str, ViewKeypoints | None] = {}
        for v, name in enumerate(names):
            view = views_by_name.get(name)
            if view is None or view.offset_ns is None or not np.isfinite(kp2d[v, :, :2]).any():
                views[name] = None
                continue
            t_cap = (tick.bundle.t_ref_ns + view.offset_ns) / NS_PER_S
            views[name] = ViewKeypoints(kp2d[v, :, :2], np.nan_to_num(kp2d[v, :, 2]), t_cap)
        out.append(engine.step(tick.bundle.t_ref_ns / NS_PER_S, views).pose)
    return np.stack(out)


def _errors_mm(pred: FloatArray, ref: FloatArray) -> dict[str, Any]:
    from syncpose.skeleton import GROUPS, JOINTS

    err = np.linalg.norm(pred - ref, axis=-1) * 1000.0  # (K, J)
    ok = np.isfinite(err)
    extremities = [JOINTS.index(n) for n in GROUPS["extremities"]]
    ext = err[:, extremities][ok[:, extremities]]
    return {
        "mpjpe": round(float(err[ok].mean()), 2),
        "median": round(float(np.median(err[ok])), 2),
        "p95": round(float(np.percentile(err[ok], 95)), 2),
        "extremities": round(float(ext.mean()), 2),
        "joints_compared": int(ok.sum()),
    }


def run_realvideo_bench(
    folder: Path,
    calibration: Path,
    *,
    shifted: tuple[int, ...] = (1, 3),
    progress: bool = True,
) -> dict[str, Any]:
    """The weak-sync benchmark on a hardware-synchronised recording in ``folder``.

    Reference: the synchronised reconstruction at the files' full rate (every frame of every
    camera, plain DLT: with no offsets it is the right method). Weak rig: every other frame,
    and the cameras at indices ``shifted`` one file frame later, correctly timestamped — a
    real weakly synchronised rig at half the rate. Each method's pose at every tick is
    compared with the reference at the same instant (interpolated between its frames).

    Two rows per method: with the weak rig's own detections (the detector run on its own
    frames, as it would live — its tracking differs from the full-rate run's), and with the
    full-rate run's detections of the same frames (only the synchronisation differs).
    """
    videos = find_videos([folder])
    inference = InferenceConfig(calibration=calibration)
    logger.info("reference: synchronised, every frame of %d videos", len(videos))
    reference = reconstruct(video_rig(videos, inference=inference), method="dlt", progress=progress)
    ref_t = np.array([t.bundle.t_ref_ns for t in reference.ticks], dtype=np.float64)
    ref_pose = np.stack([t.output.person_positions() for t in reference.ticks])
    default = reconstruct(video_rig(videos, inference=inference), progress=progress)

    starts = [1 if i in shifted else 0 for i in range(len(videos))]
    weak_rig = video_rig(videos, frame_step=2, start_frames=starts, inference=inference)
    logger.info("weak rig: every other frame, cameras %s one frame later", list(shifted))
    weak = reconstruct(weak_rig, method="time_aware", progress=progress)
    t_ref = np.array([t.bundle.t_ref_ns for t in weak.ticks], dtype=np.float64)
    truth = _interpolate(ref_t, ref_pose, t_ref)
    offsets_ms = sorted(
        {
            round(v.offset_ns / 1e6, 2)
            for t in weak.ticks
            for v in t.bundle.views
            if v.offset_ns is not None
        }
    )
    shared = detections_by_frame(reference)
    own = {m: _errors_mm(refuse(weak, m, inference), truth) for m in METHODS}
    same = {m: _errors_mm(refuse(weak, m, inference, shared), truth) for m in METHODS}
    return {
        "videos": [str(v) for v in videos],
        "calibration": str(calibration),
        "file_fps": reference.fps,
        "weak_rig_fps": weak_rig.rig.fps,
        "shifted_cameras": [weak_rig.camera_ids[i] for i in shifted],
        "offsets_ms_seen": offsets_ms,
        "ticks": len(weak.ticks),
        "detector": weak.summary["detector"],
        "methods_mm": own,
        "methods_mm_shared_detections": same,
        "reference": {k: reference.summary[k] for k in _QUALITY_KEYS},
        "reconstruct_default": {k: default.summary[k] for k in (*_QUALITY_KEYS, "method")},
        "distortion_check": distortion_check(reference, calibration),
    }


_QUALITY_KEYS = (
    "ticks",
    "pose_fraction",
    "reprojection_px",
    "reprojection_px_kept_views",
    "limb_bone_std_mm_mean",
    "limb_bone_std_mm_max",
)


def distortion_check(reference: Reconstruction, calibration: Path) -> dict[str, Any] | None:
    """For a Qualisys recording: the same detections triangulated with the distortion
    coefficients divided by 64 (as Pose2Sim's converter does) and as the .qca.txt writes them;
    the better convention explains the detections better."""
    from syncpose.calibration.rigfile import read_qualisys
    from syncpose.calibration.triangulate import triangulate
    from syncpose.inference.baselines import reject_px
    from syncpose.inference.quality import summarise

    qca = next(iter(calibration.parent.glob("*.qca.txt")), None)
    if qca is None:
        return None
    kp = np.stack([t.output.person_keypoints_2d() for t in reference.ticks])
    points = np.moveaxis(kp[..., :2], 1, 0)
    conf = np.nan_to_num(np.moveaxis(kp[..., 2], 1, 0))
    out: dict[str, Any] = {"file": str(qca)}
    for label, scaled in (("divided_by_64", True), ("as_written", False)):
        rig = read_qualisys(qca, distortion_in_subpixels=scaled).matched_to(
            reference.calibration.names
        )
        X = triangulate(rig, points, conf, max_error_px=reject_px(rig)).points
        s = summarise(rig, X, kp)
        out[label] = {
            "k1": float(rig.cameras[0].dist[0]),
            "reprojection_px": s["reprojection_px"],
            "limb_bone_std_mm_mean": s["limb_bone_std_mm_mean"],
        }
    return out


def format_realvideo(report: dict[str, Any]) -> str:
    lines = [
        f"{report['ticks']} ticks at {report['weak_rig_fps']:g} fps; cameras "
        f"{', '.join(report['shifted_cameras'])} one {report['file_fps']:g} fps frame late; "
        f"offsets seen {report['offsets_ms_seen']} ms; detector {report['detector']}",
        "distance to the synchronised reconstruction at the same instant (mm)",
        f"{'detections':<12}{'method':<12}{'MPJPE':>8}{'median':>8}{'p95':>8}{'extrem':>8}",
    ]
    for label, key in (("own", "methods_mm"), ("shared", "methods_mm_shared_detections")):
        for m, r in report[key].items():
            lines.append(
                f"{label:<12}{m:<12}{r['mpjpe']:>8.1f}{r['median']:>8.1f}{r['p95']:>8.1f}"
                f"{r['extremities']:>8.1f}"
            )
    d = report["reconstruct_default"]
    lines.append(
        f"reconstruct (default, {d['method']}, {report['file_fps']:g} fps): pose "
        f"{100 * d['pose_fraction']:.1f} %, reprojection median {d['reprojection_px']['median']}"
        f" px (views kept {d['reprojection_px_kept_views']['median']} px), limb bone std "
        f"{d['limb_bone_std_mm_mean']} mm"
    )
    return "\n".join(lines)


def pipeline_rig(
    videos: list[Path],
    calibration: Path,
    n_cameras: int,
    base_port: int,
    fps: float = 30.0,
    transport: str = "tcp",
) -> RigConfig:
    """A live rig replaying the first ``n_cameras`` videos, every file frame released at
    ``fps`` (a 60 fps file plays in slow motion: the replay then decodes only the frames it
    releases, as a real camera delivers only its own), raw frames, with the inference worker
    and the MediaPipe detector."""
    from syncpose.config import CameraConfig, VideoSourceConfig

    if n_cameras > len(videos):
        raise ValueError(f"{n_cameras} cameras asked for, {len(videos)} videos available")
    return RigConfig.model_validate(
        {
            "rig": {"name": f"pipeline-{n_cameras}", "fps": fps},
            "cameras": [
                CameraConfig(
                    id=v.stem,
                    source=VideoSourceConfig(type="video", path=v, fps=fps, loop=True),
                    encoding="raw",
                )
                for v in videos[:n_cameras]
            ],
            "aligner": {"max_wait_ms": 15.0},
            "bus": {"base_port": base_port, "transport": transport},
            "inference": InferenceConfig(calibration=calibration).model_dump(),
            "server": {"enabled": False},
        }
    )


def run_pipeline_bench(
    videos: list[Path],
    calibration: Path,
    n_cameras: int,
    *,
    seconds: float = 20.0,
    warmup_s: float = 4.0,
    log_level: str = "WARNING",
    fps: float = 30.0,
    transport: str = "tcp",
) -> dict[str, Any]:
    """Run the live rig (capture workers, aligner, inference worker with MediaPipe) on
    replayed real video at ``fps`` and measure what reaches a pose subscriber."""
    import time

    import zmq

    from syncpose.app.rig import rig_processes
    from syncpose.bus import free_port_block
    from syncpose.capture.bench import cpu_seconds, percentiles
    from syncpose.capture.rig import RigWatcher
    from syncpose.clock import NS_PER_MS, monotonic_ns
    from syncpose.messages import PoseResult
    from syncpose.process import ProcessGroup

    port = free_port_block(n_cameras + 3)
    rig = pipeline_rig(videos, calibration, n_cameras, port, fps, transport)
    epoch = monotonic_ns() + 3 * NS_PER_S
    group = ProcessGroup(rig_processes(rig, epoch, log_level))  # with inference, no server
    ctx: zmq.Context[Any] = zmq.Context()
    watcher = RigWatcher(rig, ctx, poses=True)
    poses: list[tuple[PoseResult, int]] = []

    def on_pose(pose: PoseResult, _arrays: dict[str, Any], received: int) -> None:
        poses.append((pose, received))

    group.start()
    try:
        names = ["aligner", "inference"] + [f"capture:{c}" for c in rig.camera_ids]
        if not watcher.wait_until_running(names, timeout_s=90.0):
            raise RuntimeError(f"workers did not all start: {watcher.workers}")
        end_warmup = time.monotonic() + warmup_s
        while time.monotonic() < end_warmup:
            watcher.receive(50)
        pids = group.pids()
        cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        status0 = watcher.rig_status
        inference0 = watcher.workers.get("inference")
        wall0 = time.monotonic()
        while time.monotonic() - wall0 < seconds:
            watcher.receive(50, on_pose=on_pose)
        wall = time.monotonic() - wall0
        cpu1 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        status1 = watcher.rig_status
        inference1 = watcher.workers.get("inference")
        exited = group.exited()
    finally:
        watcher.close()
        exit_codes = group.stop()
        ctx.term()
    cpu = {
        name: round(100.0 * (c1 - c0) / wall, 1)
        for name, c0 in cpu0.items()
        if c0 is not None and (c1 := cpu1.get(name)) is not None
    }
    stages = ("decode", "detect", "fuse", "denoise", "total")
    latency = {
        s: percentiles([p.latency_ms[s] for p, _ in poses if s in p.latency_ms]) for s in stages
    }
    tick_to_pose = [(p.t_emit_ns - p.t_ref_ns) / NS_PER_MS for p, _ in poses if p.t_emit_ns]
    quarter = max(1, len(tick_to_pose) // 4)
    first_q = float(np.median(tick_to_pose[:quarter])) if tick_to_pose else None
    last_q = float(np.median(tick_to_pose[-quarter:])) if tick_to_pose else None
    dropped = (inference1.dropped if inference1 else 0) - (inference0.dropped if inference0 else 0)
    gaps = 0
    if status0 is not None and status1 is not None:
        before = {c.camera_id: c.gaps for c in status0.cameras}
        gaps = sum(c.gaps - before.get(c.camera_id, 0) for c in status1.cameras)
    with_pose = sum(1 for p, _ in poses if p.reason is None)
    rate = len(poses) / wall
    # Real time: a pose for every tick at the rig's rate, and a latency that does not grow
    # (the queues stay short). Drops — frames the detector skipped when it fell behind — are
    # reported beside it, and "drop_free" asks for at most 1 % of frames.
    fits = (
        rate >= 0.97 * rig.rig.fps
        and first_q is not None
        and last_q is not None
        and last_q <= first_q * 1.5 + 10.0
    )
    frames_offered = rig.rig.fps * wall * n_cameras
    return {
        "cameras": n_cameras,
        "rig_fps": rig.rig.fps,
        "transport": transport,
        "seconds_measured": round(wall, 2),
        "poses": len(poses),
        "poses_per_s": round(rate, 2),
        "poses_with_joints": with_pose,
        "poses_with_joints_fraction": round(with_pose / len(poses), 4) if poses else 0.0,
        "dropped_by_worker": dropped,
        "worker_note": inference1.last_error if inference1 else None,
        "frames_lost_by_cameras": gaps,
        "stage_latency_ms": latency,
        "tick_to_pose_ms": percentiles(tick_to_pose),
        "tick_to_pose_ms_first_last_quarter": [first_q, last_q],
        "cpu_percent": cpu,
        "cpu_percent_total": round(sum(cpu.values()), 1),
        "machine_cpus": os.cpu_count(),
        "real_time": fits,
        "dropped_fraction_of_frames": round(dropped / frames_offered, 4),
        "drop_free": dropped <= 0.01 * frames_offered,
        "workers_exited_during_run": exited,
        "exit_codes": exit_codes,
    }


def format_pipeline(reports: list[dict[str, Any]]) -> str:
    lines = [
        f"{'cams':>4}{'poses/s':>9}{'w/ joints':>10}{'dropped':>9}{'lost':>6}{'detect p50/p99':>16}"
        f"{'total p50/p99':>15}{'tick→pose p50/p99':>19}{'CPU %':>7}  real time, drop-free"
    ]
    for r in reports:
        d, t, e = (
            r["stage_latency_ms"]["detect"],
            r["stage_latency_ms"]["total"],
            r["tick_to_pose_ms"],
        )
        lines.append(
            f"{r['cameras']:>4}{r['poses_per_s']:>9.1f}"
            f"{100 * r['poses_with_joints_fraction']:>9.1f}%{r['dropped_by_worker']:>9}"
            f"{r['frames_lost_by_cameras']:>6}{d['p50']:>8.1f}/{d['p99']:<7.1f}"
            f"{t['p50']:>7.1f}/{t['p99']:<7.1f}{e['p50']:>9.1f}/{e['p99']:<9.1f}"
            f"{r['cpu_percent_total']:>7.0f}  {'yes' if r['real_time'] else 'no'}, "
            f"{'yes' if r['drop_free'] else 'no'}"
        )
    return "\n".join(lines)
