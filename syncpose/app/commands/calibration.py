"""The calibration commands: ``calibrate`` (a rig from one board video per camera, or live),
``intrinsics`` (one camera), ``sync`` (the cameras' time offsets from a board recording) and
``board`` (a printable board)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from syncpose.app.output import out, write_json


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
    """Estimate each camera's time offset from a board recording with per-frame times."""

    from syncpose.calibration.boards import BoardDetector
    from syncpose.calibration.intrinsics import CalibrationError
    from syncpose.calibration.pipeline import corner_array, read_views
    from syncpose.calibration.rigfile import RigFileError, load_rig
    from syncpose.calibration.sync import Track, estimate_offsets, read_frame_times

    try:
        rig = load_rig(args.rig)
        times = read_frame_times(args.timestamps)
        detector = BoardDetector(board_spec(args))
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
        out(f"sync: {exc}")
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
    write_json(args.json, rows)
    for r in rows:
        flag = "" if r["confident"] else "   (not confident: move the board faster or longer)"
        out(
            f"{r['camera']}: {r['offset_ms']:+.2f} ms ± {r['std_ms']:.2f} "
            f"(contrast {r['contrast']:.1f}, {r['frames']} frames){flag}"
        )
    out(
        "rig YAML (cameras[].latency_ms): "
        + ", ".join(f"{r['camera']}: {r['offset_ms']}" for r in rows)
    )
    return 0


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

    p = sub.add_parser("sync", help="estimate cameras' time offsets from a board recording")
    p.add_argument("--rig", type=Path, required=True, help="the calibrated rig")
    p.add_argument("--videos", type=Path, required=True, help="folder with <camera>.mp4 files")
    p.add_argument("--timestamps", type=Path, required=True, help="CSV of per-frame times")
    add_board_args(p)
    p.add_argument("--search-ms", type=float, default=500.0, help="largest offset searched")
    p.add_argument("--json", type=Path, default=None)
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
