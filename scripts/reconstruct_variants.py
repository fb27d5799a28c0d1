"""The real-video reconstruction under the settings the README compares: the worker's default
(denoiser, hypotheses' mean, swap repair), plain DLT, selection by reprojection, and no swap
repair. Prints each quality summary.

Run from the repository root: ``python scripts/reconstruct_variants.py`` (reads
``../shared/data/video/pose2sim_single``, or ``$SYNCPOSE_SHARED_DATA``).
"""

from __future__ import annotations

from syncpose.app.offline import find_videos, reconstruct, video_rig
from syncpose.app.output import shared_data
from syncpose.config import DenoiserConfig, InferenceConfig


def main() -> None:
    base = shared_data() / "video/pose2sim_single"
    videos = find_videos([base / "videos"])
    calibration = base / "Calib_qualisys.toml"
    variants = {
        "default (denoiser, mean, swap repair)": (InferenceConfig(calibration=calibration), None),
        "dlt": (InferenceConfig(calibration=calibration), "dlt"),
        "selection by reprojection": (
            InferenceConfig(calibration=calibration, denoiser=DenoiserConfig(select=True)),
            None,
        ),
        "no swap repair": (InferenceConfig(calibration=calibration, fix_swaps=False), None),
    }
    for label, (inference, method) in variants.items():
        s = reconstruct(
            video_rig(videos, inference=inference), method=method, progress=False
        ).summary
        print(  # noqa: T201 (the script's output)
            f"{label}: reprojection median {s['reprojection_px']['median']} px "
            f"(kept views {s['reprojection_px_kept_views']['median']} px), limb bone std "
            f"{s['limb_bone_std_mm_mean']} mm"
        )


if __name__ == "__main__":
    main()
