"""Bundles of a synthetic rig built in-process: the frames its cameras would send, the bundle
the aligner would make of them, and the true pose at each tick."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from syncpose.capture.sources.synthetic import SyntheticSource
from syncpose.clock import NS_PER_S, FakeClock, period_ns
from syncpose.config import RigConfig
from syncpose.configfile import parse_config
from syncpose.inference.pipeline import ViewFrame
from syncpose.messages import Bundle, BundleView, FrameHeader
from syncpose.skeleton import MOCAP

EPOCH = 100 * NS_PER_S
OFFSETS_MS = (0.0, 8.0, -6.0, 4.0)


def synthetic_rig_config(base_port: int = 5550, extra: str = "") -> RigConfig:
    cams = "\n".join(
        f"  - id: cam{i}\n    source: {{type: synthetic, clock_offset_ms: {o}, seed: {i}}}\n"
        f"    encoding: raw"
        for i, o in enumerate(OFFSETS_MS)
    )
    text = f"rig: {{name: test, fps: 30}}\ncameras:\n{cams}\nbus: {{base_port: {base_port}}}\n"
    return parse_config(text + extra)


@dataclass
class Tick:
    bundle: Bundle
    frames: dict[str, ViewFrame]
    truth: np.ndarray  # (J, 3)


def synthetic_ticks(
    config: RigConfig, n: int, missing: dict[int, set[str]] | None = None
) -> list[Tick]:
    """``n`` ticks from 1 s in; ``missing[k]``: cameras absent from bundle ``k``."""
    sources = [
        SyntheticSource(
            cam.source,  # type: ignore[arg-type]
            camera_id=cam.id,
            camera_index=i,
            camera_count=len(config.cameras),
            rig_fps=config.rig.fps,
            epoch_ns=EPOCH,
            clock=FakeClock(EPOCH + NS_PER_S),
        )
        for i, cam in enumerate(config.cameras)
    ]
    for s in sources:
        s.open()
    period = period_ns(config.rig.fps)
    first = EPOCH + NS_PER_S
    ticks = []
    for k in range(n):
        t_ref = first + k * period
        views, frames = [], {}
        for s, cam in zip(sources, config.cameras, strict=True):
            f = s.read()
            header = FrameHeader(
                camera_id=cam.id,
                seq=k,
                t_capture_ns=f.t_capture_ns,
                width=f.image.shape[1],
                height=f.image.shape[0],
                encoding="raw",
            )
            if missing and cam.id in missing.get(k, set()):
                views.append(BundleView(camera_id=cam.id))
                continue
            views.append(
                BundleView(camera_id=cam.id, header=header, offset_ns=f.t_capture_ns - t_ref)
            )
            frames[cam.id] = ViewFrame(
                header,
                f.image,
                np.asarray(f.keypoints, np.float64),
                f.keypoint_names,
                np.asarray(f.keypoint_depth, np.float64),
            )
        bundle = Bundle(bundle_seq=k, t_ref_ns=t_ref, period_ns=period, views=views)
        truth = MOCAP.apply(sources[0].player.pose_at((t_ref - EPOCH) / NS_PER_S))[0]
        ticks.append(Tick(bundle, frames, truth))
    return ticks
