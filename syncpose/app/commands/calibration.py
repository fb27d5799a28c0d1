"""The calibration commands: ``calibrate`` (a rig from one board video per camera, or live),
``intrinsics`` (one camera), ``sync`` (the cameras' latencies from the people in a recording,
or from a board) and ``board`` (a printable board)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from syncpose.app.commands.video import add_recording_args
from syncpose.app.output import ints, out, write_json


def board_spec(args: argparse.Namespace) -> Any:
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


def add_board_args(p: argparse.ArgumentParser) -> None:
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
        out(f"  {line}")


def cmd_calibrate(args: argparse.Namespace) -> int:
    from syncpose.calibration.intrinsics import CalibrationError
    from syncpose.calibration.pipeline import calibrate_live, calibrate_videos, compare_rigs
    from syncpose.calibration.rigfile import RigFileError, load_rig, write_rig

    files = _video_files(args.videos or [])
    n_cameras = len(args.live) if args.live else len(files)
    if n_cameras < 2:
        out(f"calibrate: need at least 2 cameras (--videos or --live), got {n_cameras}")
        return 1
    try:
        spec = board_spec(args)
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
        out(f"calibrate: {exc}")
        return 1
    write_rig(args.out, rig)
    write_json(args.report, report.as_dict())
    out(json.dumps(report.as_dict(), indent=2))
    out(f"wrote {args.out} (calibration id {rig.id})")
    return 0


def cmd_intrinsics(args: argparse.Namespace) -> int:
    """One camera's intrinsics from a video or a folder of images."""
    from syncpose.calibration.boards import BoardDetector
    from syncpose.calibration.intrinsics import CalibrationError, calibrate_intrinsics
    from syncpose.calibration.pipeline import read_image_views, read_views
    from syncpose.calibration.rigfile import write_rig
    from syncpose.camera import Rig

    try:
        detector = BoardDetector(board_spec(args))
        source = args.video or args.images
        if args.video is not None:
            views, size = read_views(args.video, detector)
        else:
            views, size = read_image_views(args.images, detector)
        name = args.name or source.stem
        result = calibrate_intrinsics(name, views, detector, size)
    except (CalibrationError, ValueError) as exc:
        out(f"intrinsics: {exc}")
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
    out(json.dumps(report, indent=2))
    out(f"wrote {args.out}")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    """Estimate each camera's constant latency from the people in a recording (or from a
    board, ``--from board``)."""
    from syncpose.calibration.intrinsics import CalibrationError
    from syncpose.calibration.rigfile import RigFileError

    try:
        rows = _sync_board(args) if args.target == "board" else _sync_people(args)
    except (CalibrationError, RigFileError, ValueError, OSError) as exc:
        out(f"sync: {exc}")
        return 1
    write_json(args.json, rows)
    for r in rows:
        if r["latency_ms"] is None:
            out(f"{r['camera']}: no estimate   {r['note']}")
            continue
        if r["reference"]:
            out(f"{r['camera']}: latency 0 by definition (the reference camera)")
            continue
        speed = r.get("speed_xcorr_ms")
        also = f"; speed cross-correlation {speed:+.1f} ms" if speed is not None else ""
        out(
            f"{r['camera']}: latency {r['latency_ms']:+.2f} ms ± {r['std_ms']:.2f} "
            f"(contrast {r['contrast'] or float('inf'):.2f}, {r['frames']} frames{also})"
            + (f"   {r['note']}" if r["note"] else "")
        )
    out(
        "rig YAML (cameras[].latency_ms): "
        + ", ".join(f"{r['camera']}: {r['latency_ms']}" for r in rows)
    )
    return 0


def _note(e: Any, what: str) -> str:
    """Why a camera's estimate is not to be trusted, in words ("" when it is, and for the
    reference camera; ``what`` moves in the recording: "person", "board")."""
    if e.camera == e.reference:
        return ""
    if e.frames < 10:
        return f"(not confident: only {e.frames} frames where both views see the {what})"
    if e.still:
        return (
            f"(not confident: too still to tell — the views agree only {100 * e.rise:.0f} % "
            f"worse 50 ms away; record the {what} moving, a few seconds of walking or waving)"
        )
    if not e.confident:
        return (
            f"(not confident: the estimate varies by {e.std_ms:.1f} ms over resamples, more "
            "than a quarter frame)"
        )
    return ""


def _finite(x: float, digits: int) -> float | None:
    """``x`` rounded for the report, None where it is NaN or infinite (JSON has neither)."""
    return round(float(x), digits) if np.isfinite(x) else None


def _row(e: Any, what: str) -> dict[str, Any]:
    """One camera's estimate as the command reports it (see :func:`_note`)."""
    latency = _finite(e.offset_ms, 2)
    return {
        "camera": e.camera,
        "reference": e.camera == e.reference,
        "latency_ms": latency,
        "offset_ms": latency,  # the name before latency_ms, kept for scripts
        "std_ms": _finite(e.std_ms, 2),
        "contrast": _finite(e.contrast, 2),
        "frames": e.frames,
        "rise": _finite(e.rise, 3),
        "confident": bool(e.confident),
        "note": _note(e, what),
    }


def _sync_people(args: argparse.Namespace) -> list[dict[str, Any]]:
    from syncpose.app.offline import find_videos
    from syncpose.app.people_sync import keypoint_people, sync_people, video_people
    from syncpose.calibration.rigfile import load_rig
    from syncpose.calibration.sync import read_frame_times

    starts = ints(args.start_frames) if args.start_frames else None
    calibration = load_rig(args.calibration)
    if args.keypoints is not None:
        cameras = keypoint_people(
            args.keypoints, fps=args.fps or 0.0, layout=args.layout, start_frames=starts
        )
        rig = calibration.matched_to([c.camera_id for c in cameras])
    else:
        videos = find_videos(args.videos)
        rig = calibration.matched_to([v.stem for v in videos])
        cameras = video_people(
            videos, rig, fps=args.fps, start_frames=starts, max_people=args.max_people
        )
    times = read_frame_times(args.timestamps) if args.timestamps else None
    result = sync_people(
        rig, cameras, slots=args.max_people, search_ms=args.search_ms, frame_times=times
    )
    rows = [_row(e, "person") for e in result.estimates]
    for r in rows:
        r["speed_xcorr_ms"] = _finite(result.speed_xcorr_ms[r["camera"]], 2)
    return rows


def _sync_board(args: argparse.Namespace) -> list[dict[str, Any]]:
    from syncpose.calibration.boards import BoardDetector
    from syncpose.calibration.pipeline import corner_array, read_views
    from syncpose.calibration.rigfile import load_rig
    from syncpose.calibration.sync import Track, estimate_offsets, read_frame_times

    if args.videos is None or args.timestamps is None:
        raise ValueError("--from board needs --videos (a folder of <camera>.mp4) and --timestamps")
    rig = load_rig(args.calibration)
    times = read_frame_times(args.timestamps)
    detector = BoardDetector(board_spec(args))
    folder = Path(args.videos[0])
    tracks = {}
    for name in rig.names:
        video = folder / f"{name}.mp4" if folder.is_dir() else folder
        views, _ = read_views(video, detector)
        if name not in times:
            raise ValueError(f"{args.timestamps}: no frame times for camera {name}")
        n = min(len(views), len(times[name]))
        seen = {v.frame: v.detection for v in views}
        tracks[name] = Track(times[name][:n], corner_array(seen, range(n), detector.spec.n_corners))
    return [_row(e, "board") for e in estimate_offsets(rig, tracks, search_ms=args.search_ms)]


def cmd_board(args: argparse.Namespace) -> int:
    from syncpose.calibration.boards import render_board

    sheet = render_board(board_spec(args), args.paper, args.dpi)
    if args.out.suffix.lower() == ".pdf":
        sheet.save_pdf(args.out)
    else:
        sheet.save_png(args.out)
    out(f"wrote {args.out}")
    return 0


def register(sub: Any) -> None:
    """Add the calibration commands to the top-level sub-parsers."""
    p = sub.add_parser("calibrate", help="calibrate a rig from one board video per camera")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--videos", type=Path, nargs="+", help="one video per camera, or a folder")
    src.add_argument("--live", nargs="+", metavar="SRC", help="device indices or stream URLs")
    p.add_argument("--seconds", type=float, default=120.0, help="--live: longest capture")
    add_board_args(p)
    p.add_argument("--floor-frame", type=int, default=None, help="frame whose board is the floor")
    p.add_argument("--compare", type=Path, default=None, help="a reference rig to compare with")
    p.add_argument("--report", type=Path, default=None, help="write the JSON report here")
    p.add_argument("--out", type=Path, required=True, help="rig TOML to write")
    p.set_defaults(run=run, handler=cmd_calibrate)

    p = sub.add_parser("intrinsics", help="one camera's intrinsics from a video or images")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", type=Path, help="a video of the board")
    src.add_argument("--images", type=Path, help="a folder of board images")
    add_board_args(p)
    p.add_argument("--name", default=None, help="camera name (default: the file's name)")
    p.add_argument("--out", type=Path, required=True, help="rig TOML to write (one camera)")
    p.set_defaults(run=run, handler=cmd_intrinsics)

    p = sub.add_parser(
        "sync", help="estimate cameras' latencies from the people (or a board) in a recording"
    )
    add_recording_args(p)
    p.add_argument(
        "--calibration", "--rig", dest="calibration", type=Path, required=True,
        help="the calibrated rig (TOML or .qca.txt)",
    )  # fmt: skip
    p.add_argument(
        "--from", dest="target", choices=["people", "board"], default="people",
        help="what moves in the recording: people (default) or a calibration board",
    )  # fmt: skip
    p.add_argument(
        "--fps", type=float, default=None,
        help="frame rate: frame times index/fps (needed with --keypoints; videos: their own)",
    )  # fmt: skip
    p.add_argument(
        "--timestamps", type=Path, default=None,
        help="CSV of per-frame times (camera,frame,time_s); needed with --from board",
    )  # fmt: skip
    p.add_argument(
        "--start-frames", default=None, help="frames to drop at each camera's start, e.g. '0,3'"
    )
    p.add_argument(
        "--max-people", type=int, default=2, help="people followed per view (others ignored)"
    )
    add_board_args(p)
    p.add_argument("--search-ms", type=float, default=500.0, help="largest latency searched")
    p.add_argument("--json", type=Path, default=None, help="write the estimates (JSON)")
    p.set_defaults(run=run, handler=cmd_sync)

    p = sub.add_parser("board", help="write a printable calibration board (PNG or PDF)")
    add_board_args(p)
    p.add_argument("--paper", default="A4", help="A4, A3, letter or tabloid")
    p.add_argument("--dpi", type=float, default=300.0)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(run=run, handler=cmd_board)


def run(args: argparse.Namespace) -> int:
    """Run the calibration command chosen (its handler, set by :func:`register`)."""
    return int(args.handler(args))
