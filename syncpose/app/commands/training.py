"""The commands that make the denoiser: ``train`` (on motion capture, through the simulator;
needs the ``train`` extra) and ``import-bvh`` (BVH motion capture into the motion format)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from syncpose.app.output import out, shared_data


def cmd_train(args: argparse.Namespace) -> int:
    """Train the denoiser (needs the ``train`` extra: torch)."""
    try:
        from syncpose.inference.research.train import TrainConfig, train
    except ImportError as exc:
        out(f"train: {exc}; install the training extra: pip install -e '.[train]'")
        return 1
    try:
        cfg = TrainConfig.from_yaml(args.config) if args.config else TrainConfig()
    except (ValueError, TypeError, OSError) as exc:
        out(f"train: {exc}")
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
        out(f"train: motion file(s) {missing} not found (looked under {args.data})")
        return 1
    summary = train(cfg, args.out, args.data)
    last = summary["history"][-1] if summary["history"] else {}
    out(
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
        out(f"exported {path}")
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
        out(f"import-bvh: {exc}")
        return 1
    frames = sum(c.n_frames for c in merged.clips)
    out(f"wrote {args.out}: {len(merged.clips)} clips, {frames} frames at {fps.pop():g} fps")
    return 0


def register(sub: Any) -> None:
    """Add the training commands to the top-level sub-parsers."""
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
    p.set_defaults(run=run, handler=cmd_train)

    p = sub.add_parser("import-bvh", help="BVH files (Bandai-Namco, CMU) -> a motion .npz")
    p.add_argument("bvh", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(run=run, handler=cmd_import_bvh)


def run(args: argparse.Namespace) -> int:
    """Run the training command chosen (its handler, set by :func:`register`)."""
    return int(args.handler(args))
