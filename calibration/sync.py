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
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from syncpose.arrays import FloatArray
from syncpose.calibration.triangulate import triangulate
from syncpose.camera import Camera, Rig

#: An offset is searched only where the views share at least this part of the frames the
#: best-overlapping offset gives them.
MIN_SHARED = 0.5
#: The sub-frame search: costs this far apart across a frame, and a parabola through those
#: this near the lowest (s).
FINE_STEP_S, FIT_S = 0.002, 0.006


@dataclass(frozen=True)
class Track:
    """One camera's observations: ``times`` (K,) seconds on its own clock, ascending;
    ``points`` (K, P, 2) pixels, NaN where a point was not seen — or (K, N, P, 2) for up to
    N people, each slot one person followed through the camera's frames (:func:`slot_people`;
    which person of another camera a slot is, the estimator finds out)."""

    times: FloatArray
    points: FloatArray

    def at(self, t: npt.ArrayLike) -> FloatArray:
        """Points (N, ..., 2) interpolated at times ``t`` (N,): a Catmull-Rom spline through
        the four nearest frames, linear where the outer two miss the point; NaN outside the
        track or where either neighbouring frame misses it."""
        t = np.asarray(t, dtype=np.float64)
        k = np.searchsorted(self.times, t) - 1
        valid = (k >= 0) & (k < len(self.times) - 1)
        k = np.clip(k, 0, len(self.times) - 2)
        t0, t1 = self.times[k], self.times[k + 1]
        w = (t - t0) / np.where(t1 > t0, t1 - t0, 1.0)
        w = w.reshape(-1, *([1] * (self.points.ndim - 1)))
        p = self.points
        p1, p2 = p[k], p[k + 1]
        out = (1.0 - w) * p1 + w * p2
        # Catmull-Rom where the frames on either side are there too: a person's joints
        # accelerate, and a straight line between frames is late or early by up to a
        # millisecond at 30 fps (biasing the offset towards whole frames).
        p0, p3 = p[np.maximum(k - 1, 0)], p[np.minimum(k + 2, len(p) - 1)]
        cubic = 0.5 * (
            2.0 * p1
            + (p2 - p0) * w
            + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * w**2
            + (3.0 * (p1 - p2) + p3 - p0) * w**3
        )
        inner = ((k >= 1) & (k + 2 < len(p))).reshape(w.shape)
        out = np.where(inner & np.isfinite(cubic), cubic, out)
        out[~valid] = np.nan
        return np.asarray(out, dtype=np.float64)

    @property
    def slots(self) -> int:
        """People slots: 1 for a (K, P, 2) track."""
        return 1 if self.points.ndim == 3 else int(self.points.shape[1])

    def slot(self, i: int) -> FloatArray:
        """(K, P, 2) slot ``i``'s points."""
        return self.points if self.points.ndim == 3 else self.points[:, i]


@dataclass(frozen=True)
class Fit:
    """What :func:`estimate_offset` finds: seconds, and the minimum's measures (see
    :class:`OffsetEstimate`)."""

    offset_s: float
    std_s: float
    contrast: float
    rise: float
    frames: int
    period_s: float


#: A recording is too still to tell when the views agree less than 10 % worse this far from
#: the minimum (or a frame, whichever is more: people move a few pixels in a frame at 60 fps,
#: less than a detector's noise).
MIN_RISE, RISE_AT_S = 0.1, 0.05


@dataclass(frozen=True)
class OffsetEstimate:
    """The offset of one camera against the reference (milliseconds) and how sure it is."""

    camera: str
    reference: str
    offset_ms: float
    std_ms: float  # bootstrap standard deviation
    contrast: float  # cost one frame away / cost at the minimum (>> 1 means a clear minimum)
    frames: int  # reference frames that took part
    #: how much worse the views agree 50 ms (or a frame) from the minimum (cost ratio - 1;
    #: people's detections have a noise floor of several pixels, so a frame's contrast stays
    #: near 1 even where the minimum is sure)
    rise: float = np.inf
    period_ms: float = np.nan  # the camera's frame period

    @property
    def still(self) -> bool:
        """The recording did not move enough for a frame's shift to show."""
        return self.rise < MIN_RISE

    @property
    def confident(self) -> bool:
        """Sure to a quarter frame (2 ms at most where the period is unknown), from enough
        frames of enough movement."""
        limit = self.period_ms / 4.0 if np.isfinite(self.period_ms) else 2.0
        return self.std_ms < limit and not self.still and self.frames >= 10


def _cost_terms(
    ref_cam: Camera, cam: Camera, ref: Track, other: Track, offset_s: float
) -> FloatArray:
    """Per reference frame: the median reprojection error (px) of the points both views see.

    With several people slots, the slots are paired once for the whole take — the one-to-one
    pairing whose pairs agree best over all frames (:func:`_pair_slots`) — and a frame's cost
    is its paired people's mean; choosing the best-agreeing pair frame by frame instead would
    let two different people agree by chance (NaN: no pair has a point in common)."""
    moved = Track(ref.times, other.at(ref.times + offset_s))  # (K, [N,] P, 2)
    pairs = np.full((ref.slots, other.slots, len(ref.times)), np.nan)
    for i in range(ref.slots):
        for j in range(other.slots):
            obs = np.stack([ref.slot(i), moved.slot(j)])  # (2, K, P, 2)
            tri = triangulate([ref_cam, cam], obs)
            err = np.fmax(tri.errors[0], tri.errors[1])  # (K, P), NaN where not triangulated
            rows = np.isfinite(err).any(axis=1)
            if rows.any():
                pairs[i, j, rows] = np.nanmedian(err[rows], axis=1)
    if pairs.shape[:2] == (1, 1):
        return np.asarray(pairs[0, 0], dtype=np.float64)
    chosen = _pair_slots(pairs)
    if not chosen:
        return np.full(len(ref.times), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames no pair sees: NaN
        return np.asarray(np.nanmean([pairs[i, j] for i, j in chosen], axis=0), np.float64)


def _pair_slots(pairs: FloatArray) -> list[tuple[int, int]]:
    """The one-to-one pairing of two cameras' people slots from per-pair, per-frame costs
    (N, M, K): pairs taken best first by their median cost over the frames they share (at
    least three, and at least :data:`MIN_SHARED` of the most any pair shares), each slot
    used once."""
    cost = np.array([[_cost(pairs[i, j]) for j in range(pairs.shape[1])]
                     for i in range(pairs.shape[0])])  # fmt: skip
    # A slot seen in few frames (a passer-by, a detector's ghost) pairs with nobody: its
    # pairs would make the cost jump with the offset as they come and go.
    shared = np.isfinite(pairs).sum(-1)
    cost[shared < MIN_SHARED * shared.max()] = np.inf
    chosen: list[tuple[int, int]] = []
    used_i: set[int] = set()
    used_j: set[int] = set()
    for flat in np.argsort(cost, axis=None):
        i, j = divmod(int(flat), cost.shape[1])
        if not np.isfinite(cost[i, j]):
            break
        if i not in used_i and j not in used_j:
            chosen.append((i, j))
            used_i.add(i)
            used_j.add(j)
    return chosen


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
) -> Fit:
    """The offset of ``cam`` against ``ref_cam`` and how sure it is."""
    period = float(np.median(np.diff(other.times)))
    # Coarse: half-frame steps over the whole range, on every other reference frame.
    half = Track(ref.times[::2], ref.points[::2])
    coarse = np.arange(-search_s, search_s + 1e-12, period / 2.0)
    coarse_terms = [_cost_terms(ref_cam, cam, half, other, o) for o in coarse]
    costs = np.array([_cost(t) for t in coarse_terms])
    # An offset that leaves the views few frames in common is no candidate: on a short
    # take, a handful of frames at the far end of the search can agree by chance.
    shared = np.array([np.isfinite(t).sum() for t in coarse_terms])
    costs[shared < MIN_SHARED * shared.max()] = np.inf
    if not np.isfinite(costs).any():
        return Fit(np.nan, np.nan, 0.0, 0.0, 0, period)
    best = coarse[int(np.nanargmin(costs))]
    # Fine: 2 ms steps across one frame around it; a parabola gives the sub-millisecond part.
    fine = best + np.arange(-period / 2.0, period / 2.0 + 1e-12, FINE_STEP_S)
    terms = np.stack([_cost_terms(ref_cam, cam, ref, other, o) for o in fine])  # (F, K)
    frames = int(np.isfinite(terms).all(axis=0).sum())

    def minimiser(t: FloatArray) -> float:
        """The minimum of the costs within FIT_S of the lowest, as a hyperbola's: an error
        of a noise floor b and a slope a per second off, sqrt(b² + a² (x - x0)²), is V-shaped
        away from x0, where a parabola through the costs themselves is pulled towards the
        grid point; its square is a parabola, fitted by least squares."""
        c = np.array([_cost(row) for row in t])
        i = int(np.nanargmin(c))
        near = (np.abs(fine - fine[i]) <= FIT_S) & np.isfinite(c)
        if near.sum() >= 3:
            x = fine[near] - fine[i]
            a, b, _ = np.polyfit(x, c[near] ** 2, 2)
            if a > 0 and abs(b / (2.0 * a)) <= FIT_S:
                return float(fine[i] - b / (2.0 * a))
        return float(fine[i])

    offset = minimiser(terms)
    rng = np.random.default_rng(seed)
    k = terms.shape[1]
    boots = [minimiser(terms[:, rng.integers(0, k, k)]) for _ in range(bootstrap)]

    def worse(distance: float) -> float:
        """How much worse the views agree ``distance`` either side of the minimum (the
        better side): the cost there over the cost at the minimum, less one."""
        away = min(_cost(_cost_terms(ref_cam, cam, ref, other, offset + d))
                   for d in (-distance, distance))  # fmt: skip
        return float(away / at_min - 1.0) if at_min > 0 else np.inf

    at_min = _cost(_cost_terms(ref_cam, cam, ref, other, offset))
    contrast = worse(period) + 1.0
    rise = worse(max(period, RISE_AT_S))
    return Fit(offset, float(np.std(boots)), float(contrast), rise, frames, period)


def estimate_offsets(
    rig: Rig,
    tracks: Mapping[str, Track],
    *,
    reference: str | None = None,
    search_ms: float = 500.0,
) -> list[OffsetEstimate]:
    """Each camera's offset against ``reference`` (default: the first camera); the reference
    itself gets 0.

    Every pair of cameras is fitted (:func:`estimate_offset`), and the offsets are the
    weighted least-squares solution of ``o_b - o_a = fit_ab`` over all pairs (weights: the
    fits' bootstrap variances, pairs without a fit left out), so each camera is timed
    against all the others, not the reference alone. The minimum's measures (contrast,
    rise, frames) are those of the camera's pair with the reference where that pair was
    fitted, else of its best pair; ``std_ms`` is the solution's."""
    names: list[str] = [c.name for c in rig.cameras if c.name in tracks]
    ref_name = reference or names[0]
    if ref_name not in names:
        raise ValueError(f"reference camera {ref_name!r} has no track")
    order = [ref_name] + [n for n in names if n != ref_name]
    fits: dict[tuple[int, int], Fit] = {}
    for a in range(len(order)):
        for b in range(a + 1, len(order)):
            fits[a, b] = estimate_offset(
                rig.camera(order[a]), rig.camera(order[b]), tracks[order[a]],
                tracks[order[b]], search_s=search_ms / 1000.0,
            )  # fmt: skip
    offsets, stds = _solve_pairs(len(order), fits)
    out = [OffsetEstimate(ref_name, ref_name, 0.0, 0.0, np.inf, len(tracks[ref_name].times))]
    for v in range(1, len(order)):
        mine = [f for (a, b), f in fits.items() if v in (a, b) and np.isfinite(f.offset_s)]
        own = fits[0, v]
        shown = own if np.isfinite(own.offset_s) or not mine else min(mine, key=lambda f: f.std_s)
        out.append(
            OffsetEstimate(
                order[v], ref_name, offsets[v] * 1000.0, stds[v] * 1000.0, shown.contrast,
                shown.frames, shown.rise, own.period_s * 1000.0,
            )
        )  # fmt: skip
    rank = {n: i for i, n in enumerate(names)}
    return sorted(out, key=lambda e: rank[e.camera])


#: The least bootstrap spread a pair's fit is weighted with (s): a spread of zero is luck.
MIN_PAIR_STD_S = 1e-4


def _solve_pairs(n: int, fits: Mapping[tuple[int, int], Fit]) -> tuple[FloatArray, FloatArray]:
    """Offsets (n,) with the first at 0 from pairwise differences, by weighted least squares,
    and their standard deviations (NaN for a camera no fitted pair reaches).

    A pair that disagrees with the rest (its residual over :data:`PAIR_OUTLIER` of its
    spread: two views that see the person too much alike, whose cost has more than one
    valley) is left out, the worst first, while every camera stays reached."""
    pairs = [
        (a, b, f.offset_s, max(f.std_s, MIN_PAIR_STD_S))
        for (a, b), f in fits.items()
        if np.isfinite(f.offset_s) and np.isfinite(f.std_s)
    ]
    while True:
        offsets, stds = _least_squares(n, pairs)
        if len(pairs) <= n - 1:
            return offsets, stds
        resid = [abs(offsets[b] - offsets[a] - o) / s for a, b, o, s in pairs]
        worst = int(np.nanargmax(resid))
        if not resid[worst] > PAIR_OUTLIER:
            return offsets, stds
        kept = pairs[:worst] + pairs[worst + 1 :]
        reached = {0} | {a for a, *_ in kept} | {b for _, b, *_ in kept}
        if len(reached) < len({0} | {a for a, *_ in pairs} | {b for _, b, *_ in pairs}):
            return offsets, stds
        pairs = kept


#: A pair whose fit lies this many of its spreads from the joint solution is left out.
PAIR_OUTLIER = 3.0


def _least_squares(
    n: int, pairs: Sequence[tuple[int, int, float, float]]
) -> tuple[FloatArray, FloatArray]:
    """The weighted least-squares offsets of ``pairs`` (a, b, o_b - o_a, spread), first at 0."""
    offsets, stds = np.full(n, np.nan), np.full(n, np.nan)
    offsets[0] = stds[0] = 0.0
    if not pairs:
        return offsets, stds
    rows = np.zeros((len(pairs), n - 1))
    for r, (a, b, _, _) in enumerate(pairs):
        if a > 0:
            rows[r, a - 1] = -1.0
        rows[r, b - 1] = 1.0
    w = 1.0 / np.array([s for *_, s in pairs])
    A, y = rows * w[:, None], np.array([o for _, _, o, _ in pairs]) * w
    reached = np.abs(rows).sum(0) > 0
    sol, *_ = np.linalg.lstsq(A[:, reached], y, rcond=None)
    cov = np.linalg.pinv(A[:, reached].T @ A[:, reached])
    offsets[1:][reached] = sol
    stds[1:][reached] = np.sqrt(np.maximum(np.diag(cov), 0.0))
    return offsets, stds


#: A detection joins a person slot whose last points lie within this share of its size
#: (bounding-box diagonal, px) of it on average (else it starts a free slot) ...
SLOT_GATE = 0.5
#: ... and a slot unseen for this many frames is free again.
SLOT_FORGET = 15


def slot_people(frames: Sequence[Sequence[FloatArray]], slots: int) -> FloatArray:
    """One camera's people, frame by frame — ``frames[k]`` the (J, 2) points (NaN = unseen)
    of everyone detected in frame k, in any order — as (K, slots, J, 2) slots, each one
    person followed from frame to frame by where their joints were last (a detection goes to
    the nearest slot within :data:`SLOT_GATE` of its size, else to a free slot; people
    beyond ``slots`` are left out, the largest kept). Pure 2D: which slot of one camera is
    which of another is for the estimator to find."""
    J = next((len(p) for f in frames for p in f), 17)
    out = np.full((len(frames), slots, J, 2), np.nan)
    last = np.full((slots, J, 2), np.nan)
    seen_at = np.full(slots, -(10**9))
    for k, people in enumerate(frames):
        people = sorted(people, key=lambda p: -_size(p))  # the largest claim slots first
        taken: set[int] = set()
        for points in people:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # nothing in common: NaN
                gaps = np.nanmean(np.linalg.norm(last - points, axis=-1), axis=-1)  # (slots,)
            gaps[list(taken) + list(np.flatnonzero(k - seen_at > SLOT_FORGET))] = np.inf
            gaps = np.where(np.isnan(gaps), np.inf, gaps)
            near = int(np.argmin(gaps))
            if gaps[near] < SLOT_GATE * max(_size(points), 1.0):
                slot = near
            else:
                free = [i for i in range(slots) if i not in taken and k - seen_at[i] > SLOT_FORGET]
                if not free:
                    continue
                slot = free[0]
            taken.add(slot)
            out[k, slot] = points
            last[slot] = np.where(np.isfinite(points), points, last[slot])
            seen_at[slot] = k
    return out


def _size(points: FloatArray) -> float:
    """The diagonal (px) of the box around a person's seen points (0: fewer than two)."""
    seen = points[np.isfinite(points).all(-1)]
    return float(np.linalg.norm(seen.max(0) - seen.min(0))) if len(seen) >= 2 else 0.0


def speed_lag_ms(ref: Track, other: Track, *, max_lag: int = 30) -> float:
    """The whole-frame offset (ms) of ``other`` against ``ref`` by cross-correlating their
    keypoint speeds (Pose2Sim's method, for comparison): each camera's mean 2D joint speed
    per frame (slot 0, normalised by its median: cameras see the person at different sizes),
    the lag of the largest correlation over ``-max_lag..max_lag`` frames, in the other
    camera's frame period (NaN: no lag has ten frames in common)."""

    def speed(track: Track) -> FloatArray:
        p = track.slot(0)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # frames with nobody: NaN
            v = np.nanmean(np.linalg.norm(np.diff(p, axis=0), axis=-1), axis=-1)
            return np.asarray(v / np.nanmedian(v), dtype=np.float64)

    a, b = speed(ref), speed(other)
    best, best_lag = -np.inf, np.nan
    for lag in range(-max_lag, max_lag + 1):
        k0, k1 = max(0, -lag), min(len(a), len(b) - lag)  # ref frame k meets other k + lag
        if k1 - k0 < 10:
            continue
        x, y = a[k0:k1], b[k0 + lag : k1 + lag]
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() < 10:
            continue
        r = float(np.corrcoef(x[ok], y[ok])[0, 1])
        if np.isfinite(r) and r > best:
            best, best_lag = r, lag
    period = float(np.median(np.diff(other.times)))
    return float(best_lag * period * 1000.0)


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
