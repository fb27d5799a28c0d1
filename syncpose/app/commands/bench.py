"""The benchmarks, ``syncpose bench …``: each prints a table or JSON and can write its report.

On simulated data (no data set needed): ``accuracy`` (every fusion method on identical weakly
synchronised input), ``denoiser`` (latency and throughput), ``ablation`` (what each part of the
denoiser is worth), ``capture`` (capture workers and aligner over real sockets), ``e2e`` (the
synthetic rig to a WebSocket client), ``multi`` (several people: association and tracking;
with ``--videos``, on a real recording of several people). On the shared real recordings:
``calibration`` (the ChArUco recording), ``realvideo`` and ``pipeline`` (the real
multi-camera video).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from syncpose.app.output import ints, out, shared_data, write_json

logger = logging.getLogger(__name__)


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
    write_json(args.json, report)
    out(json.dumps(report, indent=2))
    return 0


def cmd_bench_calibration(args: argparse.Namespace) -> int:
    from syncpose.calibration.bench import run_calibration_bench

    if not (args.data / "charuco.toml").exists():
        out(f"bench calibration: {args.data} does not hold the ChArUco recording (charuco.toml)")
        return 1
    report = run_calibration_bench(args.data)
    write_json(args.json, report)
    out(json.dumps(report, indent=2))
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
            out(f"denoiser: {denoiser.describe()}")
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
        out(f"bench accuracy: {exc}")
        return 1
    write_json(args.json, report)
    out(format_table(report))
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
        out(f"bench denoiser: {exc}")
        return 1
    write_json(args.json, report)
    out(json.dumps(report, indent=2))
    return 0


def cmd_bench_ablation(args: argparse.Namespace) -> int:
    try:
        from syncpose.inference.research.ablation import format_ablation, run_ablation
    except ImportError as exc:
        out(f"bench ablation: {exc}; it exports variants, so it needs the training extra")
        return 1
    report = run_ablation(
        args.model,
        args.motion,
        pair=tuple(args.pair) if args.pair else None,
        max_frames=args.max_frames,
    )
    write_json(args.json, report)
    out(format_ablation(report))
    return 0


def cmd_bench_multi(args: argparse.Namespace) -> int:
    from syncpose.app.bench_multi import format_multi, run_multi_bench, run_multi_video

    if args.videos is not None:
        if not args.videos.is_dir() or args.calibration is None or not args.calibration.is_file():
            out(f"bench multi: need the videos folder and --calibration ({args.videos})")
            return 1
        report: Any = run_multi_video(args.videos, args.calibration, max_people=args.max_people)
        out(json.dumps(report, indent=2))
    else:
        report = run_multi_bench(
            ints(args.people), cameras=args.cameras, seconds=args.seconds, fps=args.fps
        )
        out("simulated scenes (bundled CMU clip, default detector noise, aligned weak sync)")
        out(format_multi(report))
    write_json(args.json, report)
    return 0


def cmd_bench_solve(args: argparse.Namespace) -> int:
    """The skeleton solve one pose at a time, as a live output runs it: the online bone
    lengths, the rotations and their quaternions, per person per pose; then the same with the
    VMC frame built and sent (UDP, to a socket on this host); and how far forward kinematics
    from them lies from the input."""
    import os
    import socket
    import time

    import numpy as np

    from syncpose.motion import load_motion
    from syncpose.posefile import read_poses
    from syncpose.skeleton import MOCAP
    from syncpose.solve import PeopleLengths, forward, lengths_of, solve
    from syncpose.vmc import frame_datagrams

    if args.poses is None:
        source = "bundled CMU clip (motion capture)"
        poses = np.asarray(MOCAP.apply(load_motion("bundled").clips[0].positions)[0])
    else:
        source = str(args.poses)
        poses = read_poses(args.poses).positions[:, 0]
    poses = poses[np.isfinite(poses).all(-1).any(-1)]
    if not len(poses):
        out(f"bench solve: no pose in {source}")
        return 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.setblocking(False)
            sender.connect(sink.getsockname())
            solve_ms: list[float] = []
            send_ms: list[float] = []
            # The two are timed pose by pose in turn, so a change in the machine's load
            # (shared machines vary twofold) falls on both alike.
            plain, sending = PeopleLengths(), PeopleLengths()  # as the VMC output keeps them
            for k in range(args.repeat * len(poses)):
                pose = poses[k % len(poses)]
                t0 = time.perf_counter()
                plain.update(0, pose)
                solve(pose[None]).quaternions()
                t1 = time.perf_counter()
                held = sending.update(0, pose)
                for datagram in frame_datagrams(solve(pose[None]), held.offsets(), k / 30.0):
                    sender.send(datagram)  # the frame carries the quaternions
                t2 = time.perf_counter()
                solve_ms.append((t1 - t0) * 1000.0)
                send_ms.append((t2 - t1) * 1000.0)
                with contextlib.suppress(BlockingIOError):  # never let the receiver fill
                    while sink.recv(2048, socket.MSG_DONTWAIT):
                        pass
    gap = np.linalg.norm(forward(solve(poses), lengths_of(poses)) - poses, axis=-1) * 1000.0
    report = {
        "source": source,
        "poses": len(poses),
        "solve_ms_median": round(float(np.median(solve_ms)), 3),
        "solve_ms_p95": round(float(np.percentile(solve_ms, 95)), 3),
        "solve_vmc_send_ms_median": round(float(np.median(send_ms)), 3),
        "solve_vmc_send_ms_p95": round(float(np.percentile(send_ms, 95)), 3),
        "fk_gap_mm_median": round(float(np.nanmedian(gap)), 2),
        "fk_gap_mm_max": round(float(np.nanmax(gap)), 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    out(
        f"{source}: {len(poses)} poses; per person per pose: lengths + solve + quaternions "
        f"{report['solve_ms_median']} ms median ({report['solve_ms_p95']} p95), with the VMC "
        f"frame built and sent {report['solve_vmc_send_ms_median']} ms "
        f"({report['solve_vmc_send_ms_p95']} p95); forward kinematics vs input "
        f"{report['fk_gap_mm_median']} mm median ({report['fk_gap_mm_max']} max: bones held "
        f"rigid); load average {report['load_average_1min']} on {report['cpus']} CPUs"
    )
    write_json(args.json, report)
    return 0


def _add_solve(bench: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = bench.add_parser(
        "solve", help="the skeleton solve per pose (bone lengths, rotations) and its FK gap"
    )
    p.add_argument("--poses", type=Path, default=None, help="a .npz/.json pose file (person 1)")
    p.add_argument("--repeat", type=int, default=3, help="passes over the poses")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(handler=cmd_bench_solve)
    return p


def cmd_bench_realvideo(args: argparse.Namespace) -> int:
    from syncpose.app.bench_video import format_realvideo, run_realvideo_bench

    if not args.videos.is_dir() or not args.calibration.is_file():
        out(f"bench realvideo: need the videos folder and calibration ({args.videos})")
        return 1
    shifted = tuple(i - 1 for i in ints(args.shifted))
    report = run_realvideo_bench(args.videos, args.calibration, shifted=shifted)
    out(format_realvideo(report))
    write_json(args.json, report)
    return 0


def cmd_bench_pipeline(args: argparse.Namespace) -> int:
    from syncpose.app.bench_video import format_pipeline, run_pipeline_bench
    from syncpose.app.offline import find_videos

    if not args.videos.is_dir() or not args.calibration.is_file():
        out(f"bench pipeline: need the videos folder and calibration ({args.videos})")
        return 1
    videos = find_videos([args.videos])
    reports = []
    for n in ints(args.cameras):
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
        out(format_pipeline(reports[-1:]))
    fitting = [r["cameras"] for r in reports if r["real_time"]]
    clean = [r["cameras"] for r in reports if r["real_time"] and r["drop_free"]]
    summary = {
        "benchmark": "pipeline",
        "detector": "mediapipe-blazepose-full",
        "runs": reports,
        "most_cameras_in_real_time": max(fitting) if fitting else 0,
        "most_cameras_in_real_time_drop_free": max(clean) if clean else 0,
    }
    out(format_pipeline(reports))
    out(
        f"most cameras at {args.fps:g} fps in real time: {summary['most_cameras_in_real_time']}"
        f" (with at most 1 % of frames dropped: "
        f"{summary['most_cameras_in_real_time_drop_free']})"
    )
    write_json(args.json, summary)
    return 0


def cmd_bench_e2e(args: argparse.Namespace) -> int:
    from syncpose.app.bench_e2e import run_e2e_bench

    report = run_e2e_bench(args.cameras, args.fps, args.seconds, args.worker_log_level)
    lat = report["capture_to_websocket_ms"]
    out(
        f"{args.cameras} x {args.fps:g} fps, {report['poses']} poses in {args.seconds:g} s: "
        f"capture→WebSocket p50 {lat['p50']} ms, p99 {lat['p99']} ms (target "
        f"{report['target_p99_ms']} ms: {'met' if report['meets_target'] else 'missed'}); "
        f"bundles missing {report['bundles_missing_from_stream']}, dropped by the worker "
        f"{report['bundles_dropped_by_worker']}; RSS {report['rss_mb_start_end'][0]} → "
        f"{report['rss_mb_start_end'][1]} MB"
    )
    write_json(args.json, report)
    return 0


def cmd_bench_faults(args: argparse.Namespace) -> int:
    from syncpose.app.faults import run_faults_bench

    report = run_faults_bench(args.cameras, args.fps)
    for worker, seconds in report["kill_to_poses_from_every_camera_s"].items():
        out(f"SIGKILL {worker}: poses from every camera again after {seconds} s")
    frozen = report["sigstop_camera_3s"]
    out(
        f"SIGSTOP cam1 for 3 s: the others carried on: {frozen['others_carried_on']}, cam1 left "
        f"out: {frozen['frozen_camera_left_out']}; back {frozen['back_after_s']} s after SIGCONT"
    )
    write_json(args.json, report)
    return 0


def register(sub: Any) -> None:
    """Add ``bench`` and its benchmarks to the top-level sub-parsers."""
    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench", required=True)
    for add in (
        _add_capture,
        _add_calibration,
        _add_accuracy,
        _add_denoiser,
        _add_ablation,
        _add_realvideo,
        _add_pipeline,
        _add_e2e,
        _add_faults,
        _add_multi,
        _add_solve,
    ):
        add(bench).set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark chosen (its handler, set by :func:`register`)."""
    return int(args.handler(args))


def _add_capture(bench: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = bench.add_parser(
        "capture", help="capture workers + aligner over real sockets"
    )
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
    p.set_defaults(handler=cmd_bench_capture)
    return p


def _add_calibration(bench: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = bench.add_parser(
        "calibration", help="calibration (and aniposelib) on the ChArUco recording"
    )
    p.add_argument(
        "--data",
        type=Path,
        default=Path("../shared/data/calibration/caliscope_4cam_charuco"),
        help="folder with cam_*.mp4, charuco.toml, camera_array.toml, timestamps.csv",
    )
    p.add_argument("--json", type=Path, default=None, help="write the report here")
    p.set_defaults(handler=cmd_bench_calibration)
    return p


def _add_accuracy(bench: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = bench.add_parser(
        "accuracy", help="3D accuracy of every method on simulated weak sync"
    )
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
    p.set_defaults(handler=cmd_bench_accuracy)
    return p


def _add_denoiser(bench: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = bench.add_parser(
        "denoiser", help="denoiser latency and throughput, ONNX and torch"
    )
    p.add_argument("--model", type=Path, default=None, help="ONNX model (default: shipped)")
    p.add_argument("--provider", default="auto", help="onnxruntime provider: auto, cpu, cuda…")
    p.add_argument("--views", type=int, default=4)
    p.add_argument("--hypotheses", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=300)
    p.add_argument("--no-torch", action="store_true", help="skip the torch eager figures")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(handler=cmd_bench_denoiser)
    return p


def _add_ablation(bench: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = bench.add_parser(
        "ablation", help="denoiser ablation table (needs torch)"
    )
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
    p.set_defaults(handler=cmd_bench_ablation)
    return p


def _add_recording_args(p: argparse.ArgumentParser) -> None:
    """--videos and --calibration, defaulting to the shared real recording."""
    data = shared_data()
    p.add_argument("--videos", type=Path, default=data / "video/pose2sim_single/videos")
    p.add_argument(
        "--calibration", type=Path, default=data / "video/pose2sim_single/Calib_qualisys.toml"
    )


def _add_realvideo(bench: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = bench.add_parser(
        "realvideo", help="weak sync made from real synchronised video: methods vs reference"
    )
    _add_recording_args(p)
    p.add_argument("--shifted", default="2,4", help="cameras (1-based) one file frame late")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(handler=cmd_bench_realvideo)
    return p


def _add_pipeline(bench: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = bench.add_parser(
        "pipeline", help="live rig on replayed real video: stage latency, throughput, CPU"
    )
    _add_recording_args(p)
    p.add_argument("--cameras", default="1,2,3,4", help="camera counts to run, e.g. '2' or '1,2,3'")
    p.add_argument("--fps", type=float, default=30.0, help="rig rate (each file frame in turn)")
    p.add_argument("--seconds", type=float, default=20.0, help="measured window per run")
    p.add_argument("--transport", choices=["tcp", "ipc"], default="tcp", help="bus transport")
    p.add_argument("--worker-log-level", default="WARNING")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(handler=cmd_bench_pipeline)
    return p


def _add_e2e(bench: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = bench.add_parser(
        "e2e", help="synthetic rig to WebSocket: latency, drops, memory"
    )
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--worker-log-level", default="WARNING")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(handler=cmd_bench_e2e)
    return p


def _add_faults(bench: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = bench.add_parser(
        "faults", help="the synthetic rig with workers killed and frozen: time to recover"
    )
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(handler=cmd_bench_faults)
    return p


def _add_multi(bench: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = bench.add_parser(
        "multi", help="several people: PCP, identity switches, association time (simulated)"
    )
    p.add_argument("--people", default="2,3,4,5,6", help="people counts, e.g. '3' or '2,4'")
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument(
        "--videos", type=Path, default=None, help="a real recording of several people instead"
    )
    p.add_argument("--calibration", type=Path, default=None, help="its calibration")
    p.add_argument("--max-people", type=int, default=2, help="people to follow in --videos")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(handler=cmd_bench_multi)
    return p
