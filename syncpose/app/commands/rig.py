"""The rig commands: ``validate-config``, ``demo``, ``run``, and ``capture`` and ``align`` (one
worker in the foreground, for a camera on another host)."""

from __future__ import annotations

import argparse
import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from syncpose.app.output import out
from syncpose.config import RigConfig, ServerConfig, VmcOutputConfig, dotted_key
from syncpose.configfile import load_config, parse_config

logger = logging.getLogger(__name__)


def demo_config_text() -> str:
    """The embedded demo rig (4 synthetic cameras, 30 fps, weakly synchronised)."""
    return (resources.files("syncpose") / "data" / "demo_rig.yaml").read_text(encoding="utf-8")


def cmd_validate_config(args: argparse.Namespace) -> int:
    from syncpose.app.rig import check_calibration

    config = load_config(args.file)  # problems are printed by main(), exit status 1
    unusable = check_calibration(config)
    if unusable:
        out(f"{args.file}: inference.calibration: {unusable}")
        return 1
    out(
        f"{args.file}: OK — rig {config.rig.name!r}, {len(config.cameras)} cameras "
        f"at {config.rig.fps:g} fps"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    return _run(load_config(args.config), args)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.video is not None:
        config = _video_demo_config(args)
        if config is None:
            return 1
    else:
        config = parse_config(demo_config_text(), source="<embedded demo_rig.yaml>")
    updates: dict[str, Any] = {}
    server_updates = {
        key: value
        for key, value in (
            ("port", args.port),
            ("host", args.host),
            ("token", args.token or os.environ.get("SYNCPOSE_TOKEN") or None),
            ("open_without_token", True if args.open_without_token else None),
            ("recordings_dir", args.recordings),
        )
        if value is not None
    }
    if server_updates:
        server = {**config.server.model_dump(), **server_updates}
        updates["server"] = ServerConfig.model_validate(server)
    if args.bus_port is not None:
        updates["bus"] = config.bus.model_copy(update={"base_port": args.bus_port})
    if args.people is not None and args.video is None:
        updates.update(_people_updates(config, args.people))
    config = config.model_copy(update=updates)
    problems = config.problems()  # the flags checked as the rig file's keys would be
    for loc, message in problems:
        out(f"syncpose demo: {dotted_key(loc)}: {message}")
    if problems:
        return 1
    logger.info(
        "demo: %d %s cameras (weakly synchronised) at %g fps; Ctrl-C stops",
        len(config.cameras),
        "replayed" if args.video is not None else "synthetic",
        config.rig.fps,
    )
    return _run(config, args)


#: The demo's rate with several people: each person costs the inference worker its own fusion
#: (about 20 ms a person with the denoiser on this 2-core machine, beside four rendering cameras).
PEOPLE_DEMO_FPS = 15.0


def _people_updates(config: RigConfig, people: int) -> dict[str, Any]:
    """``people`` walking through every synthetic camera's scene, all of them followed; with
    more than one, the rig ticks at :data:`PEOPLE_DEMO_FPS`."""
    cameras = [
        c.model_copy(update={"source": c.source.model_copy(update={"people": people})})
        for c in config.cameras
    ]
    inference = config.inference.model_copy(update={"max_people": max(1, people)})
    updates: dict[str, Any] = {"cameras": cameras, "inference": inference}
    if people > 1:
        updates["rig"] = config.rig.model_copy(update={"fps": min(config.rig.fps, PEOPLE_DEMO_FPS)})
    return updates


def _video_demo_config(args: argparse.Namespace) -> RigConfig | None:
    """A live rig replaying the videos in ``args.video`` in real time (looping), with the
    MediaPipe detector and ``args.calibration``."""
    from syncpose.app.offline import find_videos, video_rig
    from syncpose.config import InferenceConfig, MediaPipeDetectorConfig

    if args.calibration is None:
        out("demo --video needs --calibration RIG.toml")
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
        out(f"demo: {exc}")
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


def vmc_target(text: str) -> VmcOutputConfig:
    """``HOST[:PORT]`` (an IPv6 host in brackets) as a VMC output (port 39539 by default)."""
    host, sep, port = text.rpartition(":") if not text.endswith("]") else ("", "", "")
    if not sep:
        host, port = text, ""
    host = host.strip("[]")
    try:
        return VmcOutputConfig(type="vmc", host=host, **({"port": int(port)} if port else {}))
    except (ValueError, ValidationError) as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not HOST[:PORT] with a port 1-65535 ({exc.__class__.__name__})"
        ) from None


def _run(config: RigConfig, args: argparse.Namespace) -> int:
    """Run the rig ``config`` in the foreground until Ctrl-C or ``--seconds``; ``--vmc``
    targets are added to its outputs."""
    from syncpose.app.rig import RigError, run_rig

    if getattr(args, "vmc", None):
        config = config.model_copy(update={"outputs": [*config.outputs, *args.vmc]})
    try:
        return run_rig(config, seconds=args.seconds, log_level=args.log_level)
    except RigError as exc:
        out(f"syncpose {args.command}: {exc}")
        return 1


def _add_vmc(p: argparse.ArgumentParser) -> None:
    """``--vmc HOST[:PORT]``, for the commands that run a rig."""
    p.add_argument(
        "--vmc",
        type=vmc_target,
        action="append",
        metavar="HOST[:PORT]",
        help="also send the poses to this VMC receiver (OSC/UDP, port 39539 by default; "
        "repeatable)",
    )


def register(sub: Any) -> None:
    """Add the rig commands to the top-level sub-parsers."""
    p = sub.add_parser("validate-config", help="check a rig YAML file; exit 1 on problems")
    p.add_argument("file", type=Path)
    p.set_defaults(run=run, handler=cmd_validate_config)

    p = sub.add_parser("demo", help="run the built-in synthetic 4-camera rig (no camera needed)")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")
    p.add_argument("--port", type=int, default=None, help="server port (default 8000)")
    p.add_argument(
        "--host", default=None, help="server address (default 127.0.0.1; 0.0.0.0: all, needs a "
        "token or --open-without-token)",
    )  # fmt: skip
    p.add_argument("--token", default=None, help="API token (default: $SYNCPOSE_TOKEN)")
    p.add_argument(
        "--open-without-token", action="store_true",
        help="serve a non-local --host without a token: anyone on the network may use the API",
    )  # fmt: skip
    p.add_argument("--bus-port", type=int, default=None, help="first ZeroMQ port (default 5550)")
    _add_vmc(p)
    p.add_argument("--recordings", type=Path, default=None, help="recordings folder")
    p.add_argument("--video", type=Path, default=None, help="replay these videos (a folder)")
    p.add_argument("--calibration", type=Path, default=None, help="with --video: the rig TOML")
    p.add_argument("--frame-step", type=int, default=1, help="with --video: every n-th frame")
    p.add_argument(
        "--people", type=int, default=None, help="people in the synthetic scene (default 1)"
    )
    p.set_defaults(run=run, handler=cmd_demo)

    p = sub.add_parser("run", help="run the rig described by a YAML file")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")
    _add_vmc(p)
    p.set_defaults(run=run, handler=cmd_run)

    p = sub.add_parser("capture", help="run one camera's capture worker in the foreground")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--camera", required=True)
    p.set_defaults(run=run, handler=cmd_capture)

    p = sub.add_parser("align", help="run the aligner in the foreground")
    p.add_argument("--config", type=Path, required=True)
    p.set_defaults(run=run, handler=cmd_align)


def run(args: argparse.Namespace) -> int:
    """Run the rig command chosen (its handler, set by :func:`register`)."""
    return int(args.handler(args))
