"""Time offsets between cameras, from a recording of anything that moves (a board, a person).

Each camera's frames carry its own timestamps. For camera ``v`` an offset ``o_v`` (the
camera's constant latency: what its stamps read minus when the frame was really taken) is
sought such that the views agree best in 3D: camera ``v``'s 2D tracks are interpolated in time
at ``T + o_v`` for the reference camera's frame times ``T``, triangulated together with the
reference view, and scored by their median reprojection error. The search runs over whole
frames first (a coarse grid), then sub-frame (a fine grid and a parabola through the best
three). Confidence: the spread of the minimiser over bootstrap resamples of the frames, and the
depth of the minimum (how much worse the cost is one frame away). The aligner applies the
offsets as per-camera ``latency_ms``.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from syncpose.arrays import FloatArray
from syncpose.calibration.triangulate import triangulate
from syncpose.camera import Camera, Rig


@dataclass(frozen=True)
class Track:
    """One camera's observations: ``times`` (K,) seconds on its own clock, ascending;
    ``points`` (K, P, 2) pixels, NaN where a point was not seen."""

    times: FloatArray
    points: FloatArray

    def at(self, t: npt.ArrayLike) -> FloatArray:
        """Points (N, P, 2) linearly interpolated at times ``t`` (N,); NaN outside the track or
        where either neighbouring frame misses the point."""
        t = np.asarray(t, dtype=np.float64)
        k = np.searchsorted(self.times, t) - 1
        valid = (k >= 0) & (k < len(self.times) - 1)
        k = np.clip(k, 0, len(self.times) - 2)
        t0, t1 = self.times[k], self.times[k + 1]
        w = ((t - t0) / np.where(t1 > t0, t1 - t0, 1.0))[:, None, None]
        out = (1.0 - w) * self.points[k] + w * self.points[k + 1]
        out[~valid] = np.nan
        return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True)
class OffsetEstimate:
    """The offset of one camera against the reference (milliseconds) and how sure it is."""

    camera: str
    reference: str
    offset_ms: float
    std_ms: float  # bootstrap standard deviation
    contrast: float  # cost one frame away / cost at the minimum (>> 1 means a clear minimum)
    frames: int  # reference frames that took part

    @property
    def confident(self) -> bool:
        return self.std_ms < 2.0 and self.contrast > 1.5 and self.frames >= 10


def _cost_terms(
    ref_cam: Camera, cam: Camera, ref: Track, other: Track, offset_s: float
) -> FloatArray:
    """Per reference frame: median reprojection error (px) of the points both views see."""
    moved = other.at(ref.times + offset_s)  # (K, P, 2)
    obs = np.stack([ref.points, moved])  # (2, K, P, 2)
    tri = triangulate([ref_cam, cam], obs)
    err = np.fmax(tri.errors[0], tri.errors[1])  # (K, P), NaN where not triangulated
    seen = np.isfinite(err)
    per_frame = np.full(err.shape[0], np.nan)
    rows = seen.any(axis=1)
    if rows.any():
        per_frame[rows] = np.nanmedian(err[rows], axis=1)
    return per_frame


def _cost(terms: FloatArray) -> float:
    finite = terms[np.isfinite(terms)]
    return float(np.median(finite)) if finite.size >= 3 else np.inf


def estimate_offset(
    ref_cam: Camera,
    cam: Camera,
    ref: Track,
    other: Track,
    *,
    search_s: float = 0.5,
    bootstrap: int = 30,
    seed: int = 0,
) -> tuple[float, float, float, int]:
    """(offset_s, std_s, contrast, frames) of ``cam`` against ``ref_cam``."""
    period = float(np.median(np.diff(other.times)))
    # Coarse: half-frame steps over the whole range, on every other reference frame.
    half = Track(ref.times[::2], ref.points[::2])
    coarse = np.arange(-search_s, search_s + 1e-12, period / 2.0)
    costs = np.array([_cost(_cost_terms(ref_cam, cam, half, other, o)) for o in coarse])
    if not np.isfinite(costs).any():
        return np.nan, np.nan, 0.0, 0
    best = coarse[int(np.nanargmin(costs))]
    # Fine: 1 ms steps across one frame around it; a parabola gives the sub-millisecond part.
    fine = best + np.arange(-period / 2.0, period / 2.0 + 1e-12, 0.001)
    terms = np.stack([_cost_terms(ref_cam, cam, ref, other, o) for o in fine])  # (F, K)
    frames = int(np.isfinite(terms).all(axis=0).sum())

    def minimiser(t: FloatArray) -> float:
        c = np.array([_cost(row) for row in t])
        i = int(np.nanargmin(c))
        if 0 < i < len(c) - 1 and np.isfinite(c[i - 1 : i + 2]).all():
            denom = c[i - 1] - 2.0 * c[i] + c[i + 1]
            if denom > 0:
                return float(fine[i] + 0.5 * (c[i - 1] - c[i + 1]) / denom * (fine[1] - fine[0]))
        return float(fine[i])

    offset = minimiser(terms)
    rng = np.random.default_rng(seed)
    k = terms.shape[1]
    boots = [minimiser(terms[:, rng.integers(0, k, k)]) for _ in range(bootstrap)]
    at_min = _cost(_cost_terms(ref_cam, cam, ref, other, offset))
    away = min(
        _cost(_cost_terms(ref_cam, cam, ref, other, offset - period)),
        _cost(_cost_terms(ref_cam, cam, ref, other, offset + period)),
    )
    contrast = away / at_min if at_min > 0 else np.inf
    return offset, float(np.std(boots)), float(contrast), frames


def estimate_offsets(
    rig: Rig,
    tracks: Mapping[str, Track],
    *,
    reference: str | None = None,
    search_ms: float = 500.0,
) -> list[OffsetEstimate]:
    """Each camera's offset against ``reference`` (default: the first camera); the reference
    itself gets 0."""
    names: Sequence[str] = [c.name for c in rig.cameras if c.name in tracks]
    ref_name = reference or names[0]
    ref_cam = rig.camera(ref_name)
    out = [OffsetEstimate(ref_name, ref_name, 0.0, 0.0, np.inf, len(tracks[ref_name].times))]
    for name in names:
        if name == ref_name:
            continue
        offset, std, contrast, frames = estimate_offset(
            ref_cam, rig.camera(name), tracks[ref_name], tracks[name], search_s=search_ms / 1000.0
        )
        out.append(OffsetEstimate(name, ref_name, offset * 1000.0, std * 1000.0, contrast, frames))
    return out


def read_frame_times(path: str | Path) -> dict[str, FloatArray]:
    """Per-camera frame times (seconds), in frame order, from a CSV file.

    Either ``camera,frame,time_s`` (syncpose's) or Caliscope's ``sync_index,cam_id,frame_time``
    (camera ``N`` becomes ``cam_N``; frames are ordered by sync index).
    """
    path = Path(path)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no rows")
    cols = set(rows[0])
    if {"camera", "frame", "time_s"} <= cols:
        cam_col, prefix, order, value = "camera", "", "frame", "time_s"
    elif {"sync_index", "cam_id", "frame_time"} <= cols:
        cam_col, prefix, order, value = "cam_id", "cam_", "sync_index", "frame_time"
    else:
        raise ValueError(
            f"{path}: expected columns camera,frame,time_s (or Caliscope's "
            f"sync_index,cam_id,frame_time), found {sorted(cols)}"
        )
    per_cam: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        per_cam.setdefault(prefix + r[cam_col], []).append((int(r[order]), float(r[value])))
    return {cam: np.array([t for _, t in sorted(v)]) for cam, v in per_cam.items()}


def simulate_tracks(
    rig: Rig,
    latency_ms: Sequence[float],
    phase_ms: Sequence[float],
    *,
    fps: float = 30.0,
    noise_px: float = 0.7,
    seed: int = 0,
) -> dict[str, Track]:
    """Tracks of a person moving with the bundled motion capture, seen by ``rig``'s cameras at
    ``fps`` with their own frame phases, stamped ``latency_ms`` late (the offsets to recover),
    with Gaussian detector noise."""
    from syncpose.motion import load_motion

    rng = np.random.default_rng(seed)
    clip = load_motion("bundled").clips[0]
    tracks = {}
    for cam, latency, phase in zip(rig.cameras, latency_ms, phase_ms, strict=True):
        t_true = np.arange(0.0, clip.duration_s - 0.1, 1.0 / fps) + phase / 1000.0
        pts = cam.project(clip.sample(t_true))
        pts = pts + rng.normal(0.0, noise_px, pts.shape)
        tracks[cam.name] = Track(t_true + latency / 1000.0, pts)
    return tracks
