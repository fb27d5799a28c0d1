"""Offline runs of a recorded rig: video sources → aligner → inference, in one process.

The live rig's parts, unchanged — :class:`~syncpose.capture.sources.video.VideoFileSource`
per camera, the :class:`~syncpose.capture.aligner.Aligner`, the
:class:`~syncpose.inference.pipeline.InferencePipeline` —
driven by a simulated clock instead of wall time, so a recording is reconstructed exactly as
the live rig would have seen it, only as fast as the machine can go. This module composes
``capture`` and ``inference`` (which never import each other), like the CLI does.

Each camera's frames carry their true release times (file frame ``i`` at
``epoch + start_offset + i / fps``); frames reach the aligner in time order, 1 ms after
capture, and every bundle the aligner emits goes through the pipeline with the frames that
had arrived by then.
"""

from __future__ import annotations

import heapq
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from syncpose.camera import Rig
from syncpose.clock import NS_PER_MS, NS_PER_S, FakeClock
from syncpose.config import (
    CameraConfig,
    InferenceConfig,
    RigConfig,
    RigInfo,
    VideoSourceConfig,
)
from syncpose.messages import Bundle, FrameHeader

if TYPE_CHECKING:
    from syncpose.inference.pipeline import InferencePipeline, PoseOutput, ViewFrame

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
EPOCH_NS = 1_000 * NS_PER_S  # the recording's start on the simulated clock
_ARRIVAL_NS = NS_PER_MS  # frames reach the aligner 1 ms after capture
_FRAMES_KEPT = 8


def find_videos(items: Sequence[str | Path]) -> list[Path]:
    """Video files from files and folders (a folder: its videos, sorted by name)."""
    out: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"{path}: no video files ({', '.join(VIDEO_SUFFIXES)})")
            out += found
        elif path.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    if len(out) < 2:
        raise ValueError(f"need at least two videos (one per camera), got {len(out)}")
    return out


def video_rig(
    videos: Sequence[Path],
    *,
    fps: float | None = None,
    offsets_ms: Sequence[float] | None = None,
    frame_step: int = 1,
    start_frames: Sequence[int] | None = None,
    inference: InferenceConfig | None = None,
    camera_ids: Sequence[str] | None = None,
) -> RigConfig:
    """A rig replaying ``videos`` (one camera each, ids from the file names).

    ``fps``: the files' frame rate (default: read from the files; the rig ticks at
    ``fps / frame_step``). ``offsets_ms``: each camera's start relative to the first.
    """
    import cv2

    if offsets_ms is not None and len(offsets_ms) != len(videos):
        raise ValueError(f"{len(offsets_ms)} offsets for {len(videos)} videos")
    if start_frames is not None and len(start_frames) != len(videos):
        raise ValueError(f"{len(start_frames)} start frames for {len(videos)} videos")
    for video in videos:
        probe_video(video)
    file_fps = fps
    if file_fps is None:
        cap = cv2.VideoCapture(str(videos[0]))
        file_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        cap.release()
        if file_fps <= 0:
            raise ValueError(f"{videos[0]}: no frame rate in the file; pass --fps")
    ids = list(camera_ids) if camera_ids else [v.stem for v in videos]
    cameras = [
        CameraConfig(
            id=cam_id,
            source=VideoSourceConfig(
                type="video",
                path=path,
                fps=file_fps,
                frame_step=frame_step,
                start_frame=start_frames[i] if start_frames else 0,
                start_offset_ms=offsets_ms[i] if offsets_ms else 0.0,
                loop=False,
            ),
            encoding="raw",
        )
        for i, (cam_id, path) in enumerate(zip(ids, videos, strict=True))
    ]
    return RigConfig(
        rig=RigInfo(name="offline", fps=file_fps / frame_step),
        cameras=cameras,
        inference=inference or InferenceConfig(),
    )


def probe_video(path: Path) -> None:
    """ValueError unless OpenCV opens ``path`` and decodes a frame of it (checked before the
    work starts, so a bad file is named at once)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        readable = cap.isOpened() and cap.read()[0]
    finally:
        cap.release()
    if not readable:
        raise ValueError(f"{path}: not a video OpenCV can read (no frame could be decoded)")


def frame_count(config: RigConfig) -> int:
    """Frames the rig's video sources will release in all (for progress)."""
    import cv2

    total = 0
    for cam in config.cameras:
        src = cam.source
        if isinstance(src, VideoSourceConfig):
            cap = cv2.VideoCapture(str(src.path))
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            cap.release()
            total += max(0, (n - src.start_frame + src.frame_step - 1) // src.frame_step)
    return total


@dataclass
class OfflineTick:
    """One bundle of the recording and its pose."""

    bundle: Bundle
    output: PoseOutput


def run_offline(
    config: RigConfig,
    pipeline: InferencePipeline,
    *,
    on_frame: Callable[[int], None] | None = None,
) -> Iterator[OfflineTick]:
    """Replay the rig's video cameras through its aligner and ``pipeline``; yields every
    bundle with a present view, in tick order. ``on_frame(n)``: frames read so far."""
    from syncpose.capture.aligner import Aligner, AlignerSettings
    from syncpose.capture.sources import EndOfStream, SourceUnavailable, make_source
    from syncpose.inference.pipeline import ViewFrame

    sources = {}
    for cam in config.cameras:
        if not isinstance(cam.source, VideoSourceConfig):
            raise ValueError(f"camera {cam.id!r}: offline runs replay video files only")
        source = make_source(config, cam.id, epoch_ns=EPOCH_NS, clock=FakeClock(EPOCH_NS))
        source.open()  # SourceUnavailable names the file and the reason
        sources[cam.id] = source
    aligner = Aligner(AlignerSettings.from_rig(config), tick_origin_ns=EPOCH_NS)
    buffers: dict[str, OrderedDict[int, ViewFrame]] = {c: OrderedDict() for c in sources}
    seqs = dict.fromkeys(sources, 0)
    heap: list[tuple[int, int, str]] = []
    pending: dict[str, ViewFrame] = {}

    def read_next(cam_id: str) -> None:
        try:
            frame = sources[cam_id].read()
        except (EndOfStream, SourceUnavailable):
            return
        seqs[cam_id] += frame.skipped
        h, w = frame.image.shape[:2]
        header = FrameHeader(
            camera_id=cam_id,
            seq=seqs[cam_id],
            t_capture_ns=frame.t_capture_ns,
            width=w,
            height=h,
            encoding="raw",
            device_ts_ns=frame.device_ts_ns,
        )
        seqs[cam_id] += 1
        pending[cam_id] = ViewFrame(header, frame.image)
        heapq.heappush(heap, (frame.t_capture_ns, len(heap), cam_id))

    def emit(now: int) -> Iterator[OfflineTick]:
        for bundle in aligner.poll(now):
            if not bundle.present:
                continue
            frames = {
                v.camera_id: buffers[v.camera_id].get(v.header.seq)
                for v in bundle.views
                if v.header is not None
            }
            yield OfflineTick(bundle, pipeline.process(bundle, frames))

    try:
        for cam_id in sources:
            read_next(cam_id)
        read = 0
        last_t = EPOCH_NS
        while heap:
            t, _, cam_id = heapq.heappop(heap)
            frame = pending.pop(cam_id)
            now = t + _ARRIVAL_NS
            yield from emit(now)
            buffer = buffers[cam_id]
            buffer[frame.header.seq] = frame
            while len(buffer) > _FRAMES_KEPT:
                buffer.popitem(last=False)
            aligner.add_frame(frame.header, now)
            yield from emit(now)
            read += 1
            last_t = max(last_t, t)
            if on_frame is not None:
                on_frame(read)
            read_next(cam_id)
        # Flush the ticks still open at the end of the recording.
        yield from emit(last_t + config.tolerance_ns() + 2 * config.period_ns)
    finally:
        for source in sources.values():
            source.close()


def summarise_people(rig: Rig, ticks: Sequence[OfflineTick]) -> dict[str, Any]:
    """The quality summary (:func:`~syncpose.inference.quality.summarise`) of the person
    followed longest, at the top level as for one person, with ``people`` (by id) each
    person's own and ``ticks_with_pose`` counting the ticks with anyone."""
    from syncpose.inference.quality import summarise

    ids = sorted({pid for t in ticks for pid in t.output.person_ids})
    people = {}
    for pid in ids:
        positions = np.stack([t.output.person_positions(pid) for t in ticks])
        kp2d = np.stack([t.output.person_keypoints_2d(pid) for t in ticks])
        people[pid] = summarise(rig, positions, kp2d)
    if people:
        main = max(people, key=lambda pid: people[pid]["ticks_with_pose"])
        summary = dict(people[main])
    else:
        J, V = len(ticks[0].output.message.joint_names), len(rig.cameras)
        summary = summarise(
            rig, np.full((len(ticks), J, 3), np.nan), np.full((len(ticks), V, J, 3), np.nan)
        )
    anyone = sum(1 for t in ticks if t.output.person_ids)
    summary.update(
        {
            "ticks_with_pose": anyone,
            "pose_fraction": anyone / len(ticks) if ticks else 0.0,
            "people": {str(pid): people[pid] for pid in ids},
        }
    )
    return summary


@dataclass
class Reconstruction:
    """What :func:`reconstruct` (or :func:`~syncpose.app.keypoint_input.reconstruct_keypoints`)
    produced: the poses, the quality summary and the timing; ``config`` the video rig replayed
    (None for keypoint files), ``inputs`` the files or folders read, ``frame_index`` each
    tick's input frame (keypoint files)."""

    ticks: list[OfflineTick]
    summary: dict[str, Any]
    config: RigConfig | None
    calibration: Rig
    fps: float
    inputs: list[str]
    frame_index: list[int] | None = None


def reconstruct(
    config: RigConfig,
    *,
    method: str | None = None,
    progress: bool = True,
) -> Reconstruction:
    """Run the video rig ``config`` offline through its pipeline (``method`` overrides the
    fusion: denoiser, time_aware or dlt) and summarise the result's quality and speed."""
    from syncpose.inference.pipeline import InferencePipeline
    from syncpose.progress import ProgressLine

    pipeline = InferencePipeline.from_config(config, method)
    total = frame_count(config)
    bar = ProgressLine("reconstruct", total or None, unit="frames", enabled=progress)
    t0 = time.perf_counter()
    try:
        ticks = list(run_offline(config, pipeline, on_frame=bar.update))
    finally:
        bar.done()
        pipeline.close()
    wall = time.perf_counter() - t0
    if not ticks:
        raise ValueError("the videos gave no bundles (are they readable and long enough?)")
    summary = summarise_people(pipeline.rig, ticks)
    span_s = (ticks[-1].bundle.t_ref_ns - ticks[0].bundle.t_ref_ns) / NS_PER_S + 1 / config.rig.fps
    latency = {
        stage: round(float(np.median([t.output.message.latency_ms.get(stage, np.nan)
                                      for t in ticks])), 3)
        for stage in ("decode", "detect", "fuse", "denoise", "total")
    }  # fmt: skip
    summary.update(
        {
            "method": ticks[0].output.message.method,
            "detector": ticks[0].output.message.detector,
            "rig_fps": config.rig.fps,
            "recording_s": round(span_s, 3),
            "wall_s": round(wall, 3),
            "speed_x_real_time": round(span_s / wall, 3) if wall > 0 else None,
            "latency_ms_median": latency,
        }
    )
    inputs = [str(c.source.path) for c in config.cameras if isinstance(c.source, VideoSourceConfig)]
    return Reconstruction(ticks, summary, config, pipeline.rig, config.rig.fps, inputs)


def write_reconstruction(path: str | Path, result: Reconstruction) -> Path:
    """Write the poses of ``result`` (format by extension, see :mod:`syncpose.posefile`)."""
    from syncpose.posefile import track_from_results, write_poses

    track = track_from_results(
        [(t.output.message, t.output.arrays) for t in result.ticks],
        fps=result.fps,
        metadata={
            "inputs": result.inputs,
            "quality": result.summary,
            "first_t_ref_ns": result.ticks[0].bundle.t_ref_ns,
            "recording_start_ns": EPOCH_NS,
        },
        frame_index=result.frame_index,
    )
    return write_poses(path, track)
