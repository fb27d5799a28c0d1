"""The timer-driven aligner, as pure logic (no I/O, no clock of its own).

It ticks at the rig frame rate: tick ``k`` has reference time ``t_ref = origin + k / fps``. For
each tick and camera it takes the unused frame nearest ``t_ref`` with ``|δ_v| <= tolerance``
(``δ_v = corrected capture time − t_ref``) and emits a :class:`~syncpose.messages.Bundle`.

Frame times are corrected before matching: ``t = t_capture + host_offset[host] − latency[cam]``.

When is a camera's choice for a tick *decided*?

1. a frame at or after ``t_ref`` has arrived (later frames can only be farther), or
2. the camera's next frame, predicted from its measured period less a safety margin (4 σ of
   its measured frame intervals, at least 0.5 ms), would be farther than the best candidate or
   outside the window, or
3. the camera is stale (silent for ``stale_after``; never waited for) and ``t_ref`` has passed, or
4. the tick's deadline ``t_ref + tolerance + max_wait`` has passed.

A tick is emitted as soon as every camera is decided, in order, so a dead camera costs at most
``max_wait`` until it is declared stale and nothing after that. Each frame is used at most once.
Cameras may run at their own rates (15, 29.97, 30, 60 fps): matching is by time, not by count.

**Tick phase.** The tick *rate* is fixed but its *phase* is the aligner's to choose. A camera
whose frames fall half a period from the ticks misses ticks whenever jitter pushes a frame past
±T/2 of both neighbours. With ``auto_phase`` the aligner measures each camera's phase (circular
mean of recent frame times modulo T) and, when it pays by more than T/16, moves its grid by
less than T/2 so the ticks sit in the middle of the cameras' phases (opposite the largest gap):
the largest |δ_v| becomes as small as the rig allows. Ticks stay monotonic, at least T/2 apart.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from syncpose.clock import NS_PER_S, ms_to_ns, period_ns
from syncpose.config import RigConfig
from syncpose.messages import Bundle, BundleView, CameraSync, FrameHeader, RigStatus

_PERIOD_HISTORY = 16
_MAX_PENDING = 256


@dataclass(frozen=True)
class AlignerSettings:
    """Everything the aligner needs; see :meth:`from_rig`."""

    camera_ids: tuple[str, ...]
    fps: float
    tolerance_ns: int
    max_wait_ns: int
    stale_after_ns: int
    camera_fps: Mapping[str, float] = field(default_factory=dict)
    latency_ns: Mapping[str, int] = field(default_factory=dict)
    host_offset_ns: Mapping[str, int] = field(default_factory=dict)
    #: Safety margin of the next-frame prediction, in robust standard deviations of the
    #: camera's frame intervals, and its floor; before enough intervals are seen, a quarter period.
    prediction_sigmas: float = 4.0
    prediction_margin_floor_ns: int = 500_000
    #: Ticks whose deadline is older than this are skipped (counted) instead of emitted.
    max_catch_up_ns: int = NS_PER_S
    #: Move the tick phase to the middle of the cameras' phases (see the module docstring).
    auto_phase: bool = True
    #: How often the tick phase is reconsidered.
    rephase_interval_ns: int = NS_PER_S

    def __post_init__(self) -> None:
        if len(set(self.camera_ids)) != len(self.camera_ids) or not self.camera_ids:
            raise ValueError(f"camera ids must be unique and non-empty: {self.camera_ids}")
        if self.tolerance_ns <= 0 or self.max_wait_ns < 0 or self.stale_after_ns <= 0:
            raise ValueError("tolerance and stale_after must be > 0, max_wait >= 0")

    @classmethod
    def from_rig(cls, rig: RigConfig) -> AlignerSettings:
        return cls(
            camera_ids=tuple(rig.camera_ids),
            fps=rig.rig.fps,
            tolerance_ns=rig.tolerance_ns(),
            max_wait_ns=ms_to_ns(rig.aligner.max_wait_ms),
            stale_after_ns=ms_to_ns(rig.aligner.stale_after_ms),
            camera_fps={c: rig.camera_fps(c) for c in rig.camera_ids},
            latency_ns={c.id: ms_to_ns(c.latency_ms) for c in rig.cameras},
            host_offset_ns=rig.host_offsets_ns(),
            auto_phase=rig.aligner.auto_phase,
        )


@dataclass
class _Track:
    """Per-camera state."""

    nominal_period_ns: int
    pending: list[tuple[int, int, FrameHeader]] = field(default_factory=list)  # (t, seq, hdr)
    host: str | None = None
    last_used_t: int | None = None
    last_t: int | None = None
    last_seq: int | None = None
    last_arrival_ns: int | None = None
    intervals: deque[float] = field(default_factory=lambda: deque(maxlen=_PERIOD_HISTORY))
    recent_t: deque[int] = field(default_factory=lambda: deque(maxlen=_PERIOD_HISTORY))
    recent_missing: deque[int] = field(default_factory=lambda: deque(maxlen=8))
    frames: int = 0
    used: int = 0
    gaps: int = 0
    late: int = 0
    unused: int = 0
    restarts: int = 0
    abs_offset_sum: float = 0.0
    last_offset_ns: int | None = None

    @property
    def period_ns(self) -> float:
        if len(self.intervals) >= 3:
            return statistics.median(self.intervals)
        return float(self.nominal_period_ns)

    def prediction_margin_ns(self, sigmas: float, floor_ns: int) -> float:
        """How much earlier than predicted the next frame may plausibly come."""
        period = self.period_ns
        if len(self.intervals) < 8:
            return period / 4.0
        median = statistics.median(self.intervals)
        mad = statistics.median(abs(x - median) for x in self.intervals)
        return min(max(sigmas * 1.4826 * mad, floor_ns), period / 2.0)

    def stale(self, now_ns: int, stale_after_ns: int) -> bool:
        return self.last_arrival_ns is None or now_ns - self.last_arrival_ns > stale_after_ns


class Aligner:
    """Builds weakly synchronised bundles from frame headers. Feed it frames, poll it for bundles.

    ``tick_origin_ns`` fixes the tick grid (e.g. a rig epoch shared with synthetic cameras);
    by default the first :meth:`poll` starts it.
    """

    def __init__(self, settings: AlignerSettings, tick_origin_ns: int | None = None) -> None:
        self.settings = settings
        self._origin = tick_origin_ns
        self._k = 0
        self._tracks = {
            cam: _Track(period_ns(settings.camera_fps.get(cam, settings.fps)))
            for cam in settings.camera_ids
        }
        self.bundles = 0
        self.complete_bundles = 0
        self.skipped_ticks = 0
        self.unknown_camera = 0
        self.duplicates = 0
        self.rephases = 0
        self._next_rephase_ns: int | None = None
        self._host_offsets = dict(settings.host_offset_ns)

    # -- time grid -----------------------------------------------------------------------------

    def t_ref(self, k: int) -> int:
        """Reference time of tick ``k`` (no drift: computed from ``k``, not accumulated)."""
        assert self._origin is not None
        return self._origin + round(k * NS_PER_S / self.settings.fps)

    def _deadline(self, k: int) -> int:
        """After this instant tick ``k`` is emitted with whatever has arrived."""
        return self._deadline_of(self.t_ref(k))

    def _deadline_of(self, t_ref: int) -> int:
        return t_ref + self.settings.tolerance_ns + self.settings.max_wait_ns

    def next_wakeup_ns(self, now_ns: int) -> int:
        """When :meth:`poll` must next be called even if no frame arrives."""
        if self._origin is None:
            return now_ns
        candidates = [
            self.t_ref(self._k) if now_ns < self.t_ref(self._k) else self._deadline(self._k)
        ]
        for track in self._tracks.values():
            if track.last_arrival_ns is not None:
                stale_at = track.last_arrival_ns + self.settings.stale_after_ns + 1
                if stale_at > now_ns:
                    candidates.append(stale_at)
        return min(candidates)

    # -- input ---------------------------------------------------------------------------------

    def corrected_time(self, header: FrameHeader) -> int:
        """The frame's capture time on the aligner's clock, latency removed."""
        return (
            header.t_capture_ns
            + self._host_offsets.get(header.host, 0)
            - self.settings.latency_ns.get(header.camera_id, 0)
        )

    @property
    def host_offsets_ns(self) -> dict[str, int]:
        """The clock offset applied to each host's timestamps."""
        return dict(self._host_offsets)

    def set_host_offset(self, host: str, offset_ns: int) -> None:
        """Apply a newly measured clock offset of ``host``; frames already held are re-timed."""
        delta = offset_ns - self._host_offsets.get(host, 0)
        self._host_offsets[host] = offset_ns
        if delta == 0:
            return
        for track in self._tracks.values():
            if track.host != host:
                continue
            track.pending = sorted((t + delta, seq, h) for t, seq, h in track.pending)
            track.recent_t = deque((t + delta for t in track.recent_t), maxlen=_PERIOD_HISTORY)
            if track.last_t is not None:
                track.last_t += delta
            if track.last_used_t is not None:
                track.last_used_t += delta

    def add_frame(self, header: FrameHeader, now_ns: int) -> None:
        """Take a frame header that arrived at ``now_ns`` (aligner clock)."""
        track = self._tracks.get(header.camera_id)
        if track is None:
            self.unknown_camera += 1
            return
        t = self.corrected_time(header)
        track.host = header.host
        if track.last_seq is not None:
            if header.seq == track.last_seq:
                self.duplicates += 1
                return
            if header.seq < track.last_seq:  # the worker restarted and counts from 0 again
                track.restarts += 1
                track.intervals.clear()
            else:
                track.gaps += header.seq - track.last_seq - 1
                if track.last_t is not None and t > track.last_t:
                    track.intervals.append((t - track.last_t) / (header.seq - track.last_seq))
        track.last_seq = header.seq
        track.last_t = t if track.last_t is None else max(track.last_t, t)
        track.last_arrival_ns = now_ns
        track.frames += 1
        track.recent_t.append(t)
        if self._origin is not None and not self._usable(track, t):
            if any(abs(t - t_ref) <= self.settings.tolerance_ns for t_ref in track.recent_missing):
                track.late += 1
            else:
                track.unused += 1
            return
        bisect.insort(track.pending, (t, header.seq, header))
        if len(track.pending) > _MAX_PENDING:  # e.g. a host clock far ahead: keep memory bounded
            del track.pending[0]
            track.unused += 1

    def _usable(self, track: _Track, t: int) -> bool:
        if track.last_used_t is not None and t <= track.last_used_t:
            return False
        return t >= self.t_ref(self._k) - self.settings.tolerance_ns

    # -- output --------------------------------------------------------------------------------

    def _decide(
        self, track: _Track, t_ref: int, now_ns: int
    ) -> tuple[bool, tuple[int, int, FrameHeader] | None]:
        s = self.settings
        lo, hi = t_ref - s.tolerance_ns, t_ref + s.tolerance_ns
        best: tuple[int, int, FrameHeader] | None = None
        for item in track.pending:
            t = item[0]
            if t > hi:
                break
            if t >= lo and (best is None or abs(t - t_ref) < abs(best[0] - t_ref)):
                best = item
        if now_ns >= self._deadline_of(t_ref):
            return True, best
        if track.stale(now_ns, s.stale_after_ns):
            return now_ns >= t_ref, best
        if track.last_t is not None:
            if track.last_t >= t_ref:
                return True, best
            margin = track.prediction_margin_ns(s.prediction_sigmas, s.prediction_margin_floor_ns)
            next_t = track.last_t + track.period_ns - margin
            bound = hi if best is None else min(hi, 2 * t_ref - best[0])
            if next_t > bound:
                return True, best
        return False, None

    def poll(self, now_ns: int) -> list[Bundle]:
        """Bundles whose ticks are decided at ``now_ns``, in tick order (possibly none)."""
        if self._origin is None:
            self._origin = now_ns
        s = self.settings
        if self._next_rephase_ns is None:
            self._next_rephase_ns = now_ns + s.rephase_interval_ns
        out: list[Bundle] = []
        while True:
            if now_ns - self._deadline(self._k) > s.max_catch_up_ns:
                self._skip_to(now_ns)
            t_ref = self.t_ref(self._k)
            choices: list[tuple[int, int, FrameHeader] | None] = []
            for cam in s.camera_ids:
                decided, choice = self._decide(self._tracks[cam], t_ref, now_ns)
                if not decided:
                    return out
                choices.append(choice)
            out.append(self._emit(t_ref, choices, now_ns))
            # Right after an emission the next deadline is far enough ahead that a phase shift
            # of up to half a period cannot put it in the past.
            if s.auto_phase and now_ns >= self._next_rephase_ns:
                self._next_rephase_ns = now_ns + s.rephase_interval_ns
                self._rephase(now_ns)

    def _rephase(self, now_ns: int) -> None:
        """Move the tick grid so the ticks sit in the middle of the cameras' phases."""
        assert self._origin is not None
        period = NS_PER_S / self.settings.fps
        phases = []
        for track in self._tracks.values():
            if track.stale(now_ns, self.settings.stale_after_ns) or len(track.recent_t) < 4:
                continue
            angles = 2.0 * math.pi * ((np.asarray(track.recent_t) - self._origin) % period) / period
            mean = np.angle(np.exp(1j * angles).mean())
            phases.append(float(mean % (2.0 * math.pi)) * period / (2.0 * math.pi))
        if not phases:
            return
        shift = round(best_tick_phase(phases, period))
        if worst_offset(phases, 0.0, period) - worst_offset(phases, shift, period) <= period / 16:
            return
        if self._deadline(self._k) + shift < now_ns:
            return  # the next tick would be overdue at once; try again later
        self._origin += shift
        self.rephases += 1

    def _skip_to(self, now_ns: int) -> None:
        """Jump past ticks too old to be worth emitting (the caller stalled)."""
        s = self.settings
        assert self._origin is not None
        behind = now_ns - s.max_catch_up_ns - s.tolerance_ns - s.max_wait_ns - self._origin
        k_new = max(self._k, int(behind * s.fps // NS_PER_S) + 1)
        self.skipped_ticks += k_new - self._k
        self._k = k_new
        self._prune(self.t_ref(self._k) - s.tolerance_ns)

    def _emit(
        self, t_ref: int, choices: Sequence[tuple[int, int, FrameHeader] | None], now_ns: int
    ) -> Bundle:
        views: list[BundleView] = []
        offsets: list[int] = []
        for cam, choice in zip(self.settings.camera_ids, choices, strict=True):
            track = self._tracks[cam]
            if choice is None:
                views.append(BundleView(camera_id=cam))
                track.recent_missing.append(t_ref)
                continue
            t, _, header = choice
            offset = t - t_ref
            views.append(BundleView(camera_id=cam, header=header, offset_ns=offset))
            offsets.append(offset)
            track.last_used_t = t
            track.used += 1
            track.abs_offset_sum += abs(offset)
            track.last_offset_ns = offset
        bundle = Bundle(
            bundle_seq=self._k,
            t_ref_ns=t_ref,
            period_ns=period_ns(self.settings.fps),
            views=views,
            max_skew_ns=max(offsets) - min(offsets) if len(offsets) >= 2 else None,
            t_emit_ns=now_ns,
        )
        self.bundles += 1
        if len(offsets) == len(views):
            self.complete_bundles += 1
        self._k += 1
        self._prune(self.t_ref(self._k) - self.settings.tolerance_ns)
        return bundle

    def _prune(self, earliest_usable: int) -> None:
        for track in self._tracks.values():
            keep = []
            for item in track.pending:
                t = item[0]
                if track.last_used_t is not None and t <= track.last_used_t:
                    continue  # the used frame itself, or older ones
                if t < earliest_usable:
                    track.unused += 1
                    continue
                keep.append(item)
            track.pending = keep

    # -- status --------------------------------------------------------------------------------

    def camera_sync(self, now_ns: int) -> list[CameraSync]:
        out = []
        for cam, track in self._tracks.items():
            if track.last_arrival_ns is None:
                state = "never_seen"
            elif track.stale(now_ns, self.settings.stale_after_ns):
                state = "stale"
            else:
                state = "ok"
            out.append(
                CameraSync(
                    camera_id=cam,
                    state=state,
                    fps=NS_PER_S / track.period_ns if track.frames >= 4 else 0.0,
                    frames=track.frames,
                    used=track.used,
                    gaps=track.gaps,
                    late=track.late,
                    last_offset_ns=track.last_offset_ns,
                    mean_abs_offset_ns=track.abs_offset_sum / track.used if track.used else None,
                )
            )
        return out

    def rig_status(self, now_ns: int, decode_errors: int = 0, probes_refused: int = 0) -> RigStatus:
        cameras = self.camera_sync(now_ns)
        degraded = any(c.state != "ok" for c in cameras)
        return RigStatus(
            state="degraded" if degraded else "running",
            bundles=self.bundles,
            complete_bundles=self.complete_bundles,
            skipped_ticks=self.skipped_ticks,
            cameras=cameras,
            host_offsets_ns=self.host_offsets_ns,
            decode_errors=decode_errors,
            probes_refused=probes_refused,
            t_ns=now_ns,
        )


def _circular_distance(a: float, b: float, period: float) -> float:
    d = (a - b) % period
    return min(d, period - d)


def worst_offset(phases: Sequence[float], tick_phase: float, period: float) -> float:
    """Largest |δ| any camera would have with ticks at ``tick_phase`` (all modulo ``period``)."""
    return max(_circular_distance(p, tick_phase, period) for p in phases)


def best_tick_phase(phases: Sequence[float], period: float) -> float:
    """Tick phase in (−period/2, period/2] minimising :func:`worst_offset`.

    The cameras' phases occupy the circle except for its largest empty gap; the best tick is
    the middle of the occupied arc.
    """
    ps = sorted(p % period for p in phases)
    gaps = [(ps[(i + 1) % len(ps)] - ps[i]) % period for i in range(len(ps))]
    if len(ps) == 1:
        gaps = [period]
    i = int(np.argmax(gaps))
    start = ps[(i + 1) % len(ps)]  # the occupied arc runs from here ...
    arc = period - gaps[i]  # ... for this long
    middle = (start + arc / 2.0) % period
    return middle - period if middle > period / 2 else middle
