"""``syncpose reconstruct``: 3D poses from recorded multi-camera video, offline, through the
live rig's own parts (:mod:`syncpose.app.offline`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from syncpose.app.output import floats, ints, out, write_json
from syncpose.config import (
    DenoiserConfig,
    DetectorConfig,
    InferenceConfig,
    SmoothingConfig,
)
from syncpose.openpose import LAYOUTS

logger = logging.getLogger(__name__)


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
    from syncpose.app.offline import find_videos, reconstruct, video_rig, write_reconstruction
    from syncpose.calibration.rigfile import RigFileError
    from syncpose.capture.sources import SourceUnavailable
    from syncpose.posefile import check_pose_path

    try:
        check_pose_path(args.out)  # before the work, not after it
        inference = InferenceConfig(
            calibration=args.calibration,
            detector=load_detector(args.detector_config),
            denoiser=DenoiserConfig(provider=args.provider),
            smoothing=SmoothingConfig() if args.smoothing else None,
            max_people=args.max_people,
        )
        offsets = floats(args.offsets_ms) if args.offsets_ms else None
        starts = ints(args.start_frames) if args.start_frames else None
        if args.keypoints is not None:
            from syncpose.app.keypoint_input import reconstruct_keypoints

            if args.fps is None:
                raise ValueError("--keypoints needs --fps (the frame rate of the keypoint files)")
            result = reconstruct_keypoints(
                args.keypoints,
                calibration=args.calibration,
                fps=args.fps,
                inference=inference,
                layout=args.layout,
                offsets_ms=offsets,
                start_frames=starts,
                method=args.method,
            )
        else:
            config = video_rig(
                find_videos(args.videos),
                fps=args.fps,
                offsets_ms=offsets,
                frame_step=args.frame_step,
                start_frames=starts,
                inference=inference,
            )
            result = reconstruct(config, method=args.method)
        written = write_reconstruction(args.out, result)
    except (RigFileError, ValueError, OSError, SourceUnavailable) as exc:
        out(f"reconstruct: {exc}")
        return 1
    s = result.summary
    rep = s.get("reprojection_px", {})
    kept = s.get("reprojection_px_kept_views", {})
    out(
        f"{written}: {s['ticks_with_pose']}/{s['ticks']} ticks with a pose "
        f"({100 * s['pose_fraction']:.1f} %), {s['method']} on {s['detector']}; "
        f"reprojection median {rep.get('median')} px (views kept: {kept.get('median')} px); "
        f"limb bone-length std mean "
        f"{s['limb_bone_std_mm_mean']} mm (max {s['limb_bone_std_mm_max']}); "
        f"{s['recording_s']:.2f} s of video in {s['wall_s']:.2f} s "
        f"({s['speed_x_real_time']}x real time)"
    )
    people = s.get("people", {})
    if len(people) > 1:
        for pid, p in people.items():
            out(
                f"  person {pid}: {p['ticks_with_pose']} ticks, limb bone-length std mean "
                f"{p['limb_bone_std_mm_mean']} mm (max {p['limb_bone_std_mm_max']}), "
                f"reprojection median {p.get('reprojection_px', {}).get('median')} px"
            )
    write_json(args.report, s)
    return 0


def add_recording_args(p: argparse.ArgumentParser) -> None:
    """What a recording is given as, for the commands that read one (``reconstruct``,
    ``sync``): ``--videos`` or ``--keypoints`` (one of them), and the keypoints' ``--layout``."""
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument("--videos", nargs="+", help="one video per camera, or a folder")
    given.add_argument(
        "--keypoints", type=Path, help="a folder of OpenPose JSON folders, one per camera"
    )
    p.add_argument(
        "--layout", choices=sorted(LAYOUTS), default=None,
        help="keypoint layout of --keypoints (needed for 25 keypoints: body25 or body25b)",
    )  # fmt: skip


def register(sub: Any) -> None:
    """Add ``reconstruct`` to the top-level sub-parsers."""
    p = sub.add_parser(
        "reconstruct", help="3D poses from recorded multi-camera videos (offline, same path)"
    )
    add_recording_args(p)
    p.add_argument("--calibration", type=Path, required=True, help="rig TOML or .qca.txt")
    p.add_argument(
        "--offsets-ms", default=None, help="each video's start time in ms, e.g. '0,0,16.7,0'"
    )
    p.add_argument(
        "--fps", type=float, default=None, help="the files' frame rate (needed with --keypoints)"
    )
    p.add_argument("--frame-step", type=int, default=1, help="use every n-th frame")
    p.add_argument("--start-frames", default=None, help="first frame per video, e.g. '0,1,0,1'")
    p.add_argument("--method", choices=["denoiser", "time_aware", "dlt"], default="denoiser")
    p.add_argument(
        "--detector-config", type=Path, default=None, help="YAML detector section (default: "
        "MediaPipe); e.g. 'type: onnx' with its model and decoding",
    )  # fmt: skip
    p.add_argument("--provider", default="auto", help="onnxruntime provider to try first")
    p.add_argument("--smoothing", action="store_true", help="One-Euro filter the poses")
    p.add_argument(
        "--max-people", type=int, default=1, help="people to follow (1: one, never two fused)"
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help=".json, .csv, .npz, .trc, .c3d or .bvh (TRC and BVH: one file per person)",
    )
    p.add_argument("--report", type=Path, default=None, help="write the quality summary (JSON)")
    p.set_defaults(run=run, handler=cmd_reconstruct)


def run(args: argparse.Namespace) -> int:
    """Run the command chosen (``reconstruct``, its handler set by :func:`register`)."""
    return int(args.handler(args))
