"""CLI commands on real video: ``reconstruct``, ``bench realvideo`` and ``bench pipeline``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from syncpose.cli_output import out as _out
from syncpose.cli_output import shared_data
from syncpose.cli_output import write_json as _write_json
from syncpose.config import (
    DenoiserConfig,
    DetectorConfig,
    InferenceConfig,
    SmoothingConfig,
)

logger = logging.getLogger(__name__)


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.replace(",", " ").split()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.replace(",", " ").split()]


def load_detector(path: Path | None) -> Any:
    """A detector section from a YAML file (``type: onnx``, ...); None: the default."""
    if path is None:
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        detector = TypeAdapter(DetectorConfig).validate_python(data)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ValueError(f"{path}: not a detector config: {exc}") from None
    model = getattr(detector, "model", None)
    if isinstance(model, Path) and not model.is_absolute():
        detector = detector.model_copy(update={"model": path.parent / model})
    return detector


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from syncpose.calibration.rigfile import RigFileError
    from syncpose.offline import find_videos, reconstruct, video_rig, write_reconstruction

    try:
        videos = find_videos(args.videos)
        inference = InferenceConfig(
            calibration=args.calibration,
            detector=load_detector(args.detector_config),
            denoiser=DenoiserConfig(provider=args.provider),
            smoothing=SmoothingConfig() if args.smoothing else None,
        )
        config = video_rig(
            videos,
            fps=args.fps,
            offsets_ms=_floats(args.offsets_ms) if args.offsets_ms else None,
            frame_step=args.frame_step,
            start_frames=_ints(args.start_frames) if args.start_frames else None,
            inference=inference,
        )
        result = reconstruct(config, method=args.method)
        out = write_reconstruction(args.out, result)
    except (RigFileError, ValueError, OSError) as exc:
        _out(f"reconstruct: {exc}")
        return 1
    s = result.summary
    rep = s.get("reprojection_px", {})
    kept = s.get("reprojection_px_kept_views", {})
    _out(
        f"{out}: {s['ticks_with_pose']}/{s['ticks']} ticks with a pose "
        f"({100 * s['pose_fraction']:.1f} %), {s['method']} on {s['detector']}; "
        f"reprojection median {rep.get('median')} px (views kept: {kept.get('median')} px); "
        f"limb bone-length std mean "
        f"{s['limb_bone_std_mm_mean']} mm (max {s['limb_bone_std_mm_max']}); "
        f"{s['recording_s']:.2f} s of video in {s['wall_s']:.2f} s "
        f"({s['speed_x_real_time']}x real time)"
    )
    _write_json(args.report, s)
    return 0


def _shared(relative: str) -> Path:
    return shared_data() / relative


def cmd_bench_realvideo(args: argparse.Namespace) -> int:
    from syncpose.bench_video import format_realvideo, run_realvideo_bench

    if not args.videos.is_dir() or not args.calibration.is_file():
        _out(f"bench realvideo: need the videos folder and calibration ({args.videos})")
        return 1
    shifted = tuple(i - 1 for i in _ints(args.shifted))
    report = run_realvideo_bench(args.videos, args.calibration, shifted=shifted)
    _out(format_realvideo(report))
    _write_json(args.json, report)
    return 0


def cmd_bench_pipeline(args: argparse.Namespace) -> int:
    from syncpose.bench_video import format_pipeline, run_pipeline_bench
    from syncpose.offline import find_videos

    if not args.videos.is_dir() or not args.calibration.is_file():
        _out(f"bench pipeline: need the videos folder and calibration ({args.videos})")
        return 1
    videos = find_videos([args.videos])
    reports = []
    for n in _ints(args.cameras):
        logger.info("pipeline: %d camera(s) at %g fps for %g s", n, args.fps, args.seconds)
        reports.append(
            run_pipeline_bench(
                videos,
                args.calibration,
                n,
                seconds=args.seconds,
                log_level=args.worker_log_level,
                fps=args.fps,
                transport=args.transport,
            )
        )
        _out(format_pipeline(reports[-1:]))
    fitting = [r["cameras"] for r in reports if r["real_time"]]
    clean = [r["cameras"] for r in reports if r["real_time"] and r["drop_free"]]
    summary = {
        "benchmark": "pipeline",
        "detector": "mediapipe-blazepose-full",
        "runs": reports,
        "most_cameras_in_real_time": max(fitting) if fitting else 0,
        "most_cameras_in_real_time_drop_free": max(clean) if clean else 0,
    }
    _out(format_pipeline(reports))
    _out(
        f"most cameras at {args.fps:g} fps in real time: {summary['most_cameras_in_real_time']}"
        f" (with at most 1 % of frames dropped: "
        f"{summary['most_cameras_in_real_time_drop_free']})"
    )
    _write_json(args.json, summary)
    return 0


def cmd_bench_e2e(args: argparse.Namespace) -> int:
    from syncpose.bench_e2e import run_e2e_bench

    report = run_e2e_bench(args.cameras, args.fps, args.seconds, args.worker_log_level)
    lat = report["capture_to_websocket_ms"]
    _out(
        f"{args.cameras} x {args.fps:g} fps, {report['poses']} poses in {args.seconds:g} s: "
        f"capture→WebSocket p50 {lat['p50']} ms, p99 {lat['p99']} ms (target "
        f"{report['target_p99_ms']} ms: {'met' if report['meets_target'] else 'missed'}); "
        f"bundles missing {report['bundles_missing_from_stream']}, dropped by the worker "
        f"{report['bundles_dropped_by_worker']}; RSS {report['rss_mb_start_end'][0]} → "
        f"{report['rss_mb_start_end'][1]} MB"
    )
    _write_json(args.json, report)
    return 0


def _add_recording_args(p: argparse.ArgumentParser) -> None:
    """--videos and --calibration, defaulting to the shared real recording."""
    p.add_argument("--videos", type=Path, default=_shared("video/pose2sim_single/videos"))
    p.add_argument(
        "--calibration", type=Path, default=_shared("video/pose2sim_single/Calib_qualisys.toml")
    )


def add_commands(sub: Any, bench: Any) -> None:
    """Register the commands on the top-level and ``bench`` sub-parsers."""
    p = sub.add_parser(
        "reconstruct", help="3D poses from recorded multi-camera videos (offline, same path)"
    )
    p.add_argument("--videos", nargs="+", required=True, help="one video per camera, or a folder")
    p.add_argument("--calibration", type=Path, required=True, help="rig TOML or .qca.txt")
    p.add_argument(
        "--offsets-ms", default=None, help="each video's start time in ms, e.g. '0,0,16.7,0'"
    )
    p.add_argument("--fps", type=float, default=None, help="the files' frame rate")
    p.add_argument("--frame-step", type=int, default=1, help="use every n-th frame")
    p.add_argument("--start-frames", default=None, help="first frame per video, e.g. '0,1,0,1'")
    p.add_argument("--method", choices=["denoiser", "time_aware", "dlt"], default="denoiser")
    p.add_argument(
        "--detector-config", type=Path, default=None, help="YAML detector section (default: "
        "MediaPipe); e.g. 'type: onnx' with its model and decoding",
    )  # fmt: skip
    p.add_argument("--provider", default="auto", help="onnxruntime provider to try first")
    p.add_argument("--smoothing", action="store_true", help="One-Euro filter the poses")
    p.add_argument("--out", type=Path, required=True, help=".json, .csv, .npz or .trc")
    p.add_argument("--report", type=Path, default=None, help="write the quality summary (JSON)")
    p.set_defaults(func=cmd_reconstruct)

    p = bench.add_parser(
        "realvideo", help="weak sync made from real synchronised video: methods vs reference"
    )
    _add_recording_args(p)
    p.add_argument("--shifted", default="2,4", help="cameras (1-based) one file frame late")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=cmd_bench_realvideo)

    p = bench.add_parser(
        "pipeline", help="live rig on replayed real video: stage latency, throughput, CPU"
    )
    _add_recording_args(p)
    p.add_argument("--cameras", default="1,2,3,4", help="camera counts to run, e.g. '2' or '1,2,3'")
    p.add_argument("--fps", type=float, default=30.0, help="rig rate (each file frame in turn)")
    p.add_argument("--seconds", type=float, default=20.0, help="measured window per run")
    p.add_argument("--transport", choices=["tcp", "ipc"], default="tcp", help="bus transport")
    p.add_argument("--worker-log-level", default="WARNING")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=cmd_bench_pipeline)

    p = bench.add_parser("e2e", help="synthetic rig to WebSocket: latency, drops, memory")
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--worker-log-level", default="WARNING")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=cmd_bench_e2e)
