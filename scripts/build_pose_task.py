"""Build ``inference/models/pose_landmarker_full.task`` from MediaPipe 0.10.21's own model files.

Current MediaPipe wheels ship no pose models, and the lite/heavy Tasks models are downloaded at
run time (impossible offline). MediaPipe 0.10.21's wheel ships ``pose_detection.tflite`` and
``pose_landmark_full.tflite``; the Tasks API refuses float models without NormalizationOptions
metadata, so this script adds it (mean/std 127.5/127.5 for the detector, 0/255 for the landmark
model, as MediaPipe's own pipelines normalise them) with 0.10.21's metadata writer and bundles
both into a ``.task`` file (a zip of ``pose_detector.tflite`` and
``pose_landmarks_detector.tflite``). Run it in a throwaway environment:

    python3 -m venv /tmp/mpbuild && /tmp/mpbuild/bin/pip install mediapipe==0.10.21
    /tmp/mpbuild/bin/python scripts/build_pose_task.py \
        --out inference/models/pose_landmarker_full.task

The model files are Google's, under the Apache License 2.0 (``inference/models/NOTICE.md``).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import mediapipe
from mediapipe.tasks.python.metadata.metadata_writers import (
    metadata_writer,
    model_asset_bundle_utils,
)


def with_normalization(model: bytes, name: str, mean: float, std: float) -> bytes:
    writer = metadata_writer.MetadataWriter.create(bytearray(model))
    writer.add_general_info(name, f"{name} from MediaPipe {mediapipe.__version__}")
    writer.add_image_input(norm_mean=[mean], norm_std=[std])
    populated, _ = writer.populate()
    return bytes(populated)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if mediapipe.__version__ != "0.10.21":
        raise SystemExit(
            "needs mediapipe 0.10.21 (the last wheel with pose models), "
            f"found {mediapipe.__version__}"
        )
    modules = Path(mediapipe.__file__).parent / "modules"
    detector = (modules / "pose_detection" / "pose_detection.tflite").read_bytes()
    landmarks = (modules / "pose_landmark" / "pose_landmark_full.tflite").read_bytes()
    bundle = {
        "pose_detector.tflite": with_normalization(detector, "pose_detector", 127.5, 127.5),
        "pose_landmarks_detector.tflite": with_normalization(
            landmarks, "pose_landmarks_detector", 0.0, 255.0
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model_asset_bundle_utils.create_model_asset_bundle(bundle, str(args.out))
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, sha256 {digest})")  # noqa: T201


if __name__ == "__main__":
    main()
