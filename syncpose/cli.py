"""The ``syncpose`` command line.

This is the composition root: it is the one place in the core allowed to reach into
``capture`` (and later ``inference`` and ``server``), and it does so lazily inside each command
so that ``syncpose validate-config`` stays quick.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from syncpose import __version__, cli_video
from syncpose.cli_output import out as _out
from syncpose.cli_output import shared_data
from syncpose.cli_output import write_json as _write_json
from syncpose.config import RigConfig
from syncpose.configfile import ConfigError, load_config, parse_config
from syncpose.process import ProcessSpec, configure_logging

logger = logging.getLogger(__name__)


def demo_config_text() -> str:
    """The embedded demo rig (4 synthetic cameras, 30 fps, weakly synchronised)."""
    return (resources.files("syncpose") / "data" / "demo_rig.yaml").read_text(encoding="utf-8")


def cmd_validate_config(args: argparse.Namespace) -> int:
    config = load_config(args.file)  # problems are printed by main(), exit status 1
    _out(
        f"{args.file}: OK — rig {config.rig.name!r}, {len(config.cameras)} cameras "
        f"at {config.rig.fps:g} fps"
    )
    return 0


def _consumers(config: RigConfig, log_level: str, epoch_ns: int) -> list[ProcessSpec]:
    """The processes that consume the rig: the inference worker (with a calibration) and the
    server, when enabled (it knows the rig's epoch: a synthetic rig's truth is timed from it)."""
    specs: list[ProcessSpec] = []
    if config.inference.enabled and config.poses_possible:
        from syncpose.inference.worker import process_spec as inference_spec

        specs.append(inference_spec(config, log_level))
    elif config.inference.enabled:
        logger.warning(
            "no 'inference.calibration' in the rig config: capturing and aligning only, no "
            "poses (calibrate with 'syncpose calibrate', then set it)"
        )
    if config.server.enabled:
        from syncpose.server.main import process_spec as server_spec
        from syncpose.server.main import url

        specs.append(server_spec(config, log_level, epoch_ns))
        _out(f"syncpose: open {url(config)}  (Ctrl-C stops)")
    return specs


def cmd_run(args: argparse.Namespace) -> int:
    from syncpose.capture.rig import run_rig

    config = load_config(args.config)
    return run_rig(
        config,
        seconds=args.seconds,
        log_level=args.log_level,
        extra=lambda epoch: _consumers(config, args.log_level, epoch),
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from syncpose.capture.rig import run_rig

    if args.video is not None:
        config = _video_demo_config(args)
        if config is None:
            return 1
    else:
        config = parse_config(demo_config_text(), source="<embedded demo_rig.yaml>")
    updates: dict[str, Any] = {}
    if args.port is not None:
        updates["server"] = config.server.model_copy(update={"port": args.port})
    if args.bus_port is not None:
        updates["bus"] = config.bus.model_copy(update={"base_port": args.bus_port})
    if args.recordings is not None:
        server = updates.get("server", config.server)
        updates["server"] = server.model_copy(update={"recordings_dir": args.recordings})
    config = config.model_copy(update=updates)
    logger.info(
        "demo: %d %s cameras (weakly synchronised) at %g fps; Ctrl-C stops",
        len(config.cameras),
        "replayed" if args.video is not None else "synthetic",
        config.rig.fps,
    )
    return run_rig(
        config,
        seconds=args.seconds,
        log_level=args.log_level,
        extra=lambda epoch: _consumers(config, args.log_level, epoch),
    )


def _video_demo_config(args: argparse.Namespace) -> RigConfig | None:
    """A live rig replaying the videos in ``args.video`` in real time (looping), with the
    MediaPipe detector and ``args.calibration``."""
    from syncpose.config import InferenceConfig, MediaPipeDetectorConfig
    from syncpose.offline import find_videos, video_rig

    if args.calibration is None:
        _out("demo --video needs --calibration RIG.toml")
        return None
    try:
        videos = find_videos([args.video])
        rig = video_rig(
            videos,
            frame_step=args.frame_step,
            inference=InferenceConfig(
                calibration=args.calibration, detector=MediaPipeDetectorConfig(type="mediapipe")
            ),
        )
    except (OSError, ValueError) as exc:
        _out(f"demo: {exc}")
        return None
    cameras = [
        c.model_copy(update={"source": c.source.model_copy(update={"loop": True})})
        for c in rig.cameras
    ]
    return rig.model_copy(
        update={"cameras": cameras, "rig": rig.rig.model_copy(update={"name": "demo-video"})}
    )


def cmd_capture(args: argparse.Namespace) -> int:
    """One capture worker in the foreground (for a camera on another host)."""
    from syncpose.capture import worker
    from syncpose.clock import monotonic_ns

    config = load_config(args.config)
    config.camera(args.camera)  # clear error for an unknown id before starting
    worker.main(config.model_dump_json(), args.camera, monotonic_ns(), args.log_level)
    return 0


def cmd_align(args: argparse.Namespace) -> int:
    """The aligner alone in the foreground."""
    from syncpose.capture import align_loop

    config = load_config(args.config)
    align_loop.main(config.model_dump_json(), None, args.log_level)
    return 0


def cmd_bench_capture(args: argparse.Namespace) -> int:
    from syncpose.capture.bench import CaptureBenchOptions, run_repeated

    opts = CaptureBenchOptions(
        cameras=args.cameras,
        fps=args.fps,
        seconds=args.seconds,
        width=args.width,
        height=args.height,
        encoding=args.encoding,
        max_wait_ms=args.max_wait_ms,
        jitter_ms=args.jitter_ms,
        consume_pixels=args.consume_pixels,
    )
    report = run_repeated(opts, args.repeat)
    _write_json(args.json, report)
    _out(json.dumps(report, indent=2))
    return 0


def _board_spec(args: argparse.Namespace) -> Any:
    from syncpose.calibration.boards import BoardSpec, read_caliscope_charuco

    if args.board is not None:
        return read_caliscope_charuco(args.board)
    if args.charuco is None and args.checkerboard is None:
        raise SystemExit(
            "give the board: --board charuco.toml, --charuco CxR or --checkerboard CxR"
        )
    cols, _, rows = (args.charuco or args.checkerboard).lower().partition("x")
    return BoardSpec(
        kind="charuco" if args.charuco else "checkerboard",
        columns=int(cols),
        rows=int(rows),
        square_m=args.square_mm / 1000.0,
        marker_ratio=args.marker_ratio,
        dictionary=args.dictionary,
        inverted=True if args.inverted else None,
    )


def _add_board_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", type=Path, help="a board file (Caliscope charuco.toml)")
    p.add_argument(
        "--charuco", metavar="CxR", help="ChArUco board of C columns x R rows of squares"
    )
    p.add_argument("--checkerboard", metavar="CxR", help="checkerboard of C x R squares")
    p.add_argument("--square-mm", type=float, default=30.0, help="printed square size (mm)")
    p.add_argument("--marker-ratio", type=float, default=0.75, help="ArUco marker / square")
    p.add_argument("--dictionary", default="DICT_4X4_1000", help="ArUco dictionary name")
    p.add_argument("--inverted", action="store_true", help="the print is colour-inverted")


VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv"}


def _video_files(items: list[Path]) -> list[Path]:
    """Video files given directly, or found in given folders."""
    files: list[Path] = []
    for item in items:
        if item.is_dir():
            files += sorted(p for p in item.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        else:
            files.append(item)
    return files


def _print_feedback(lines: list[str]) -> None:
    for line in lines:
        _out(f"  {line}")


def cmd_calibrate(args: argparse.Namespace) -> int:
    from syncpose.calibration.intrinsics import CalibrationError
    from syncpose.calibration.pipeline import calibrate_live, calibrate_videos, compare_rigs
    from syncpose.calibration.rigfile import RigFileError, load_rig, write_rig

    files = _video_files(args.videos or [])
    n_cameras = len(args.live) if args.live else len(files)
    if n_cameras < 2:
        _out(f"calibrate: need at least 2 cameras (--videos or --live), got {n_cameras}")
        return 1
    try:
        spec = _board_spec(args)
        if args.live:
            sources: dict[str, int | str] = {
                f"cam_{i}": int(src) if src.isdigit() else src for i, src in enumerate(args.live)
            }
            rig, report = calibrate_live(
                sources,
                spec,
                seconds=args.seconds,
                on_feedback=_print_feedback,
            )
        else:
            videos = {f.stem: f for f in files}
            rig, report = calibrate_videos(videos, spec, floor_frame=args.floor_frame)
        if args.compare is not None:
            report.comparison = compare_rigs(rig, load_rig(args.compare))
    except (CalibrationError, RigFileError, ValueError) as exc:
        _out(f"calibrate: {exc}")
        return 1
    write_rig(args.out, rig)
    _write_json(args.report, report.as_dict())
    _out(json.dumps(report.as_dict(), indent=2))
    _out(f"wrote {args.out} (calibration id {rig.id})")
    return 0


def cmd_intrinsics(args: argparse.Namespace) -> int:
    """One camera's intrinsics from a video or a folder of images."""
    from syncpose.calibration.boards import BoardDetector
    from syncpose.calibration.intrinsics import CalibrationError, calibrate_intrinsics
    from syncpose.calibration.pipeline import read_image_views, read_views
    from syncpose.calibration.rigfile import write_rig
    from syncpose.camera import Rig

    try:
        detector = BoardDetector(_board_spec(args))
        source = args.video or args.images
        if args.video is not None:
            views, size = read_views(args.video, detector)
        else:
            views, size = read_image_views(args.images, detector)
        name = args.name or source.stem
        result = calibrate_intrinsics(name, views, detector, size)
    except (CalibrationError, ValueError) as exc:
        _out(f"intrinsics: {exc}")
        return 1
    write_rig(args.out, Rig((result.camera,), {"intrinsics_only": True}))
    report = {
        "camera": name,
        "rms_px": round(result.rms_px, 4),
        "lens_model": result.lens_model,
        "held_out_error_px": result.held_out_error_px,
        "focal_px": round(float(result.camera.K[0, 0]), 2),
        "principal_point_px": [round(float(v), 2) for v in result.camera.K[:2, 2]],
        "distortion": [round(float(v), 5) for v in result.camera.dist],
        "views_used": len(result.per_view_error_px),
        "per_view_error_px": {str(k): round(v, 3) for k, v in result.per_view_error_px.items()},
        "rejected": {str(k): v for k, v in sorted(result.rejected.items())},
        "coverage": result.coverage.tolist(),
        "feedback": result.feedback,
    }
    _out(json.dumps(report, indent=2))
    _out(f"wrote {args.out}")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    """Estimate each camera's time offset from a board recording with per-frame times."""

    from syncpose.calibration.boards import BoardDetector
    from syncpose.calibration.intrinsics import CalibrationError
    from syncpose.calibration.pipeline import corner_array, read_views
    from syncpose.calibration.rigfile import RigFileError, load_rig
    from syncpose.calibration.sync import Track, estimate_offsets, read_frame_times

    try:
        rig = load_rig(args.rig)
        times = read_frame_times(args.timestamps)
        detector = BoardDetector(_board_spec(args))
        tracks = {}
        for name in rig.names:
            video = args.videos / f"{name}.mp4" if args.videos.is_dir() else args.videos
            views, _ = read_views(video, detector)
            if name not in times:
                raise ValueError(f"{args.timestamps}: no frame times for camera {name}")
            n = min(len(views), len(times[name]))
            seen = {v.frame: v.detection for v in views}
            tracks[name] = Track(
                times[name][:n], corner_array(seen, range(n), detector.spec.n_corners)
            )
        estimates = estimate_offsets(rig, tracks, search_ms=args.search_ms)
    except (CalibrationError, RigFileError, ValueError, OSError) as exc:
        _out(f"sync: {exc}")
        return 1
    rows = [
        {
            "camera": e.camera,
            "offset_ms": round(e.offset_ms, 2),
            "std_ms": round(e.std_ms, 2),
            "contrast": round(e.contrast, 2),
            "frames": e.frames,
            "confident": e.confident,
        }
        for e in estimates
    ]
    _write_json(args.json, rows)
    for r in rows:
        flag = "" if r["confident"] else "   (not confident: move the board faster or longer)"
        _out(
            f"{r['camera']}: {r['offset_ms']:+.2f} ms ± {r['std_ms']:.2f} "
            f"(contrast {r['contrast']:.1f}, {r['frames']} frames){flag}"
        )
    _out(
        "rig YAML (cameras[].latency_ms): "
        + ", ".join(f"{r['camera']}: {r['offset_ms']}" for r in rows)
    )
    return 0


def cmd_board(args: argparse.Namespace) -> int:
    from syncpose.calibration.boards import render_board

    sheet = render_board(_board_spec(args), args.paper, args.dpi)
    if args.out.suffix.lower() == ".pdf":
        sheet.save_pdf(args.out)
    else:
        sheet.save_png(args.out)
    _out(f"wrote {args.out}")
    return 0


def cmd_bench_calibration(args: argparse.Namespace) -> int:
    from syncpose.calibration.bench import run_calibration_bench

    if not (args.data / "charuco.toml").exists():
        _out(f"bench calibration: {args.data} does not hold the ChArUco recording (charuco.toml)")
        return 1
    report = run_calibration_bench(args.data)
    _write_json(args.json, report)
    _out(json.dumps(report, indent=2))
    return 0


def cmd_bench_accuracy(args: argparse.Namespace) -> int:
    from syncpose.inference.research.accuracy import format_table, run_accuracy
    from syncpose.simulate import DetectorNoise

    noise = DetectorNoise(
        jitter_px=args.jitter_px,
        temporal_correlation=args.noise_correlation,
        outlier_rate=args.outlier_rate,
        miss_rate=args.miss_rate,
        swap_rate=args.swap_rate,
    )
    methods = args.methods.split(",")
    try:
        denoiser = None
        if "denoiser" in methods:
            from syncpose.inference.denoiser.runtime import DenoiserRuntime

            denoiser = DenoiserRuntime(
                args.denoiser, prefer=args.provider, hypotheses=args.hypotheses, select=args.select
            )
            _out(f"denoiser: {denoiser.describe()}")
        report = run_accuracy(
            args.motion,
            rig=args.rig,
            cameras=args.cameras,
            fps=args.fps,
            offsets=args.offsets,
            methods=methods,
            seed=args.seed,
            max_frames=args.max_frames,
            drop_rate=args.drop_rate,
            missing_views=args.missing_views,
            clips=args.clips,
            noise=noise,
            denoiser=denoiser,
        )
    except (ValueError, OSError) as exc:
        _out(f"bench accuracy: {exc}")
        return 1
    _write_json(args.json, report)
    _out(format_table(report))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train the denoiser (needs the ``train`` extra: torch)."""
    try:
        from syncpose.inference.research.train import TrainConfig, train
    except ImportError as exc:
        _out(f"train: {exc}; install the training extra: pip install -e '.[train]'")
        return 1
    try:
        cfg = TrainConfig.from_yaml(args.config) if args.config else TrainConfig()
    except (ValueError, TypeError, OSError) as exc:
        _out(f"train: {exc}")
        return 1
    if args.steps is not None:
        cfg.steps = args.steps
    if args.threads is not None:
        cfg.threads = args.threads
    missing = [
        m
        for m in cfg.motions
        if m != "bundled" and not (args.data / m).exists() and not Path(m).exists()
    ]
    if missing:
        _out(f"train: motion file(s) {missing} not found (looked under {args.data})")
        return 1
    summary = train(cfg, args.out, args.data)
    last = summary["history"][-1] if summary["history"] else {}
    _out(
        f"trained in {summary['data_seconds'] + summary['train_seconds']:.0f} s; "
        f"validation MPJPE {last.get('val_mpjpe_mm', float('nan')):.2f} mm "
        f"(initial estimate {last.get('val_init_mpjpe_mm', float('nan')):.2f} mm); "
        f"wrote {args.out / 'denoiser.pt'}"
    )
    if args.export:
        from syncpose.inference.research.export import export_onnx
        from syncpose.inference.research.train import load_trained

        path = export_onnx(
            load_trained(args.out / "denoiser.pt"),
            args.out / "denoiser.onnx",
            steps=args.steps_ddim,
            metadata={
                "training": {
                    "held_out_styles": cfg.holdout_styles,
                    "motions": cfg.motions,
                    "steps": cfg.steps,
                }
            },
        )
        _out(f"exported {path}")
    return 0


def cmd_bench_denoiser(args: argparse.Namespace) -> int:
    from syncpose.inference.research.denoiser_bench import run_denoiser_bench

    try:
        report = run_denoiser_bench(
            args.model,
            prefer=args.provider,
            views=args.views,
            hypotheses=args.hypotheses,
            batch=args.batch,
            repeats=args.repeats,
            torch_eager=not args.no_torch,
        )
    except (ValueError, OSError, RuntimeError) as exc:
        _out(f"bench denoiser: {exc}")
        return 1
    _write_json(args.json, report)
    _out(json.dumps(report, indent=2))
    return 0


def cmd_bench_ablation(args: argparse.Namespace) -> int:
    try:
        from syncpose.inference.research.ablation import format_ablation, run_ablation
    except ImportError as exc:
        _out(f"bench ablation: {exc}; it exports variants, so it needs the training extra")
        return 1
    report = run_ablation(
        args.model,
        args.motion,
        pair=tuple(args.pair) if args.pair else None,
        max_frames=args.max_frames,
    )
    _write_json(args.json, report)
    _out(format_ablation(report))
    return 0


def cmd_import_bvh(args: argparse.Namespace) -> int:
    """Convert Bandai-Namco or CMU BVH files into one motion file in the shared npz format."""
    from syncpose.motion import Motion, MotionFileError, read_bvh_motion, write_motion

    try:
        motions = [read_bvh_motion(p) for p in args.bvh]
        fps = {m.clips[0].fps for m in motions}
        if len(fps) > 1:
            raise MotionFileError(f"the files have different frame rates {sorted(fps)}")
        merged = Motion(
            motions[0].joint_names, motions[0].parents, tuple(m.clips[0] for m in motions)
        )
        write_motion(args.out, merged)
    except (MotionFileError, OSError) as exc:
        _out(f"import-bvh: {exc}")
        return 1
    frames = sum(c.n_frames for c in merged.clips)
    _out(f"wrote {args.out}: {len(merged.clips)} clips, {frames} frames at {fps.pop():g} fps")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncpose",
        description="Real-time 3D human pose from several unsynchronised cameras.",
    )
    parser.add_argument("--version", action="version", version=f"syncpose {__version__}")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("calibrate", help="calibrate a rig from one board video per camera")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--videos", type=Path, nargs="+", help="one video per camera, or a folder")
    src.add_argument("--live", nargs="+", metavar="SRC", help="device indices or stream URLs")
    p.add_argument("--seconds", type=float, default=120.0, help="--live: longest capture")
    _add_board_args(p)
    p.add_argument("--floor-frame", type=int, default=None, help="frame whose board is the floor")
    p.add_argument("--compare", type=Path, default=None, help="a reference rig to compare with")
    p.add_argument("--report", type=Path, default=None, help="write the JSON report here")
    p.add_argument("--out", type=Path, required=True, help="rig TOML to write")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("intrinsics", help="one camera's intrinsics from a video or images")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", type=Path, help="a video of the board")
    src.add_argument("--images", type=Path, help="a folder of board images")
    _add_board_args(p)
    p.add_argument("--name", default=None, help="camera name (default: the file's name)")
    p.add_argument("--out", type=Path, required=True, help="rig TOML to write (one camera)")
    p.set_defaults(func=cmd_intrinsics)

    p = sub.add_parser("sync", help="estimate cameras' time offsets from a board recording")
    p.add_argument("--rig", type=Path, required=True, help="the calibrated rig")
    p.add_argument("--videos", type=Path, required=True, help="folder with <camera>.mp4 files")
    p.add_argument("--timestamps", type=Path, required=True, help="CSV of per-frame times")
    _add_board_args(p)
    p.add_argument("--search-ms", type=float, default=500.0, help="largest offset searched")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("board", help="write a printable calibration board (PNG or PDF)")
    _add_board_args(p)
    p.add_argument("--paper", default="A4", help="A4, A3, letter or tabloid")
    p.add_argument("--dpi", type=float, default=300.0)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_board)

    p = sub.add_parser("train", help="train the weak-sync denoiser on motion capture")
    p.add_argument("--config", type=Path, default=None, help="training YAML (default: shipped)")
    p.add_argument("--out", type=Path, required=True, help="folder for checkpoints and model")
    p.add_argument(
        "--data",
        type=Path,
        default=shared_data(),
        help="where relative motion paths of the config are found",
    )
    p.add_argument("--steps", type=int, default=None, help="override the optimiser steps")
    p.add_argument("--threads", type=int, default=None, help="override the CPU threads")
    p.add_argument("--export", action="store_true", help="also write denoiser.onnx")
    p.add_argument("--steps-ddim", type=int, default=2, help="DDIM steps of the exported graph")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("import-bvh", help="BVH files (Bandai-Namco, CMU) -> a motion .npz")
    p.add_argument("bvh", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_import_bvh)

    p = sub.add_parser("validate-config", help="check a rig YAML file; exit 1 on problems")
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_validate_config)

    p = sub.add_parser("demo", help="run the built-in synthetic 4-camera rig (no camera needed)")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")
    p.add_argument("--port", type=int, default=None, help="server port (default 8000)")
    p.add_argument("--bus-port", type=int, default=None, help="first ZeroMQ port (default 5550)")
    p.add_argument("--recordings", type=Path, default=None, help="recordings folder")
    p.add_argument("--video", type=Path, default=None, help="replay these videos (a folder)")
    p.add_argument("--calibration", type=Path, default=None, help="with --video: the rig TOML")
    p.add_argument("--frame-step", type=int, default=1, help="with --video: every n-th frame")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="run the rig described by a YAML file")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("capture", help="run one camera's capture worker in the foreground")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--camera", required=True)
    p.set_defaults(func=cmd_capture)

    p = sub.add_parser("align", help="run the aligner in the foreground")
    p.add_argument("--config", type=Path, required=True)
    p.set_defaults(func=cmd_align)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench", required=True)
    cli_video.add_commands(sub, bench)
    p = bench.add_parser("capture", help="capture workers + aligner over real sockets")
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--fps", type=float, default=60.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--encoding", choices=["raw", "jpeg"], default="raw")
    p.add_argument("--max-wait-ms", type=float, default=10.0)
    p.add_argument("--jitter-ms", type=float, default=0.5)
    p.add_argument(
        "--consume-pixels", action="store_true", help="also receive every frame's pixels"
    )
    p.add_argument("--repeat", type=int, default=1, help="runs; figures are medians over them")
    p.add_argument("--json", type=Path, default=None, help="write the report here")
    p.set_defaults(func=cmd_bench_capture)
    p = bench.add_parser(
        "calibration", help="calibration (and aniposelib) on the ChArUco recording"
    )
    p.add_argument(
        "--data",
        type=Path,
        default=Path("../shared/data/calibration/caliscope_4cam_charuco"),
        help="folder with cam_*.mp4, charuco.toml, camera_array.toml, timestamps.csv",
    )
    p.add_argument("--json", type=Path, default=None, help="write the report here")
    p.set_defaults(func=cmd_bench_calibration)
    p = bench.add_parser("accuracy", help="3D accuracy of every method on simulated weak sync")
    p.add_argument("--motion", type=Path, nargs="+", required=True, help="motion .npz/.bvh files")
    p.add_argument("--rig", default="default", help="default, random, or a rig file")
    p.add_argument(
        "--cameras",
        type=int,
        default=4,
        help="cameras of the default ring rig or of each random rig (0 with --rig random: 2-8)",
    )
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--offsets", choices=["uniform", "aligned", "none"], default="uniform")
    p.add_argument(
        "--methods",
        default="dlt,time_aware,oracle_sync",
        help="comma-separated: dlt, time_aware, oracle_sync, denoiser",
    )
    p.add_argument(
        "--clips", nargs="*", default=[], help="only clips whose name contains one of these"
    )
    p.add_argument("--missing-views", type=int, default=0, help="views missing from every bundle")
    p.add_argument("--denoiser", type=Path, default=None, help="ONNX model (default: shipped)")
    p.add_argument("--hypotheses", type=int, default=5, help="denoiser hypotheses per bundle")
    p.add_argument(
        "--select", action="store_true", help="pick hypotheses by reprojection, not the mean"
    )
    p.add_argument("--provider", default="auto", help="onnxruntime provider: auto, cpu, cuda…")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--drop-rate", type=float, default=0.0, help="dropped frames per view")
    p.add_argument("--jitter-px", type=float, default=1.5, help="detector jitter σ at f=1000 px")
    p.add_argument("--noise-correlation", type=float, default=0.5, help="AR(1) ρ of the jitter")
    p.add_argument("--outlier-rate", type=float, default=0.01)
    p.add_argument("--miss-rate", type=float, default=0.02)
    p.add_argument("--swap-rate", type=float, default=0.005)
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=cmd_bench_accuracy)
    p = bench.add_parser("denoiser", help="denoiser latency and throughput, ONNX and torch")
    p.add_argument("--model", type=Path, default=None, help="ONNX model (default: shipped)")
    p.add_argument("--provider", default="auto", help="onnxruntime provider: auto, cpu, cuda…")
    p.add_argument("--views", type=int, default=4)
    p.add_argument("--hypotheses", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=300)
    p.add_argument("--no-torch", action="store_true", help="skip the torch eager figures")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=cmd_bench_denoiser)
    p = bench.add_parser("ablation", help="denoiser ablation table (needs torch)")
    p.add_argument("--model", type=Path, required=True, help="trained denoiser.pt")
    p.add_argument(
        "--pair",
        type=Path,
        nargs=2,
        default=None,
        metavar=("WITH_DELTA", "WITHOUT_DELTA"),
        help="two denoiser.pt trained alike, with and without δ_v conditioning",
    )
    p.add_argument("--motion", type=Path, nargs="+", required=True)
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=cmd_bench_ablation)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for problem in exc.problems:
            _out(str(problem))
        return 1
    except KeyboardInterrupt:
        return 130
