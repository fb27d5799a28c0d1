"""``syncpose bench multi``: several people, on simulated scenes and on real video.

Simulated (:func:`run_multi_bench`): scenes of 2-6 people from real motion capture
(:mod:`syncpose.scenes`: random paths that cross, people hiding each other, weak sync as an
aligner makes it, the simulator's detector error model), through the
:class:`~syncpose.inference.tracking.PeopleTracker`. Reported per people count: PCP (the
Shelf/Campus measure: a limb is correct when the mean error of its two ends is at most half
its length; over every person two views see, a person not reported counts as all limbs
wrong), MPJPE of the people matched, identity switches (per person per minute), false and
missed people per tick, and the association and fusion time per tick.

Real (:func:`run_multi_video`): a real recording of several people through
``syncpose reconstruct``'s path (MediaPipe, the tracker, the shipped denoiser) with
``max_people``; per track its ticks, limb bone-length spread and reprojection error (no
ground truth: rigid bones and agreeing views are the evidence), and jumps of a track's pelvis
larger than a person moves in a tick (what an identity swap looks like).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from syncpose.arrays import FloatArray
from syncpose.inference.association import Skeleton2D
from syncpose.inference.engine import PoseEngine
from syncpose.inference.tracking import PeopleTracker, TrackerTick, ViewPeople
from syncpose.motion import load_motion
from syncpose.scenes import Scene, crossing_paths, simulate_scene
from syncpose.simulate import default_rig
from syncpose.skeleton import JOINTS

#: Shelf-style limbs: upper and lower arms and legs, head, torso.
PCP_LIMBS = (
    ("l_shoulder", "l_elbow"),
    ("l_elbow", "l_wrist"),
    ("r_shoulder", "r_elbow"),
    ("r_elbow", "r_wrist"),
    ("l_hip", "l_knee"),
    ("l_knee", "l_ankle"),
    ("r_hip", "r_knee"),
    ("r_knee", "r_ankle"),
    ("neck", "head"),
    ("pelvis", "neck"),
)
_LIMBS = np.array([(JOINTS.index(a), JOINTS.index(b)) for a, b in PCP_LIMBS])
#: A reported person farther than this from every true person (MPJPE, m) is a false one.
MATCH_M = 0.5
#: A pelvis moving farther than this in one tick (m) did not walk there.
JUMP_M = 0.3


def pcp(pred: FloatArray, truth: FloatArray) -> FloatArray:
    """(L,) whether each limb of ``pred`` (J, 3) is correct against ``truth`` (J, 3)."""
    a, b = _LIMBS[:, 0], _LIMBS[:, 1]
    err = 0.5 * (
        np.linalg.norm(pred[a] - truth[a], axis=-1) + np.linalg.norm(pred[b] - truth[b], axis=-1)
    )
    length = np.linalg.norm(truth[a] - truth[b], axis=-1)
    return np.asarray(np.nan_to_num(err, nan=np.inf) <= 0.5 * length)


def evaluate(scene: Scene, ticks: Sequence[TrackerTick]) -> dict[str, Any]:
    """PCP, MPJPE, identity switches, false and missed people of a tracker's run on a scene."""
    P = scene.people
    correct, limbs, errors = 0, 0, []
    false = missed = 0
    last_id: list[int | None] = [None] * P
    switches = 0
    for k, tick in enumerate(ticks):
        present = np.flatnonzero(scene.detected[:, k].sum(0) >= 2)  # people two views see
        poses = [p.result.pose for p in tick.people]
        cost = np.full((len(poses), P), np.inf)
        for i, pose in enumerate(poses):
            gap = np.linalg.norm(scene.truth[k] - pose[None], axis=-1)  # (P, J)
            seen = np.isfinite(gap)
            cost[i] = np.where(seen.any(-1), np.nanmean(np.where(seen, gap, np.nan), -1), np.inf)
        rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6))
        matched = {int(c): int(r) for r, c in zip(rows, cols, strict=True) if cost[r, c] < MATCH_M}
        false += len(poses) - len(matched)
        for p in (int(x) for x in present):
            limbs += len(_LIMBS)
            if p not in matched:
                missed += 1
                continue
            i = matched[p]
            correct += int(pcp(poses[i], scene.truth[k, p]).sum())
            errors.append(float(cost[i, p]))
        for p, i in matched.items():
            pid = tick.people[i].person_id
            if last_id[p] is not None and last_id[p] != pid:
                switches += 1
            last_id[p] = pid
    period = float(scene.t_ref[1] - scene.t_ref[0]) if len(scene.t_ref) > 1 else 1.0
    minutes = len(ticks) * period / 60.0
    return {
        "people": P,
        "ticks": len(ticks),
        "pcp_percent": round(100.0 * correct / max(limbs, 1), 2),
        "mpjpe_mm": round(1000.0 * float(np.mean(errors)), 2) if errors else None,
        "id_switches": switches,
        "id_switches_per_person_per_min": round(switches / P / max(minutes, 1e-9), 3),
        "false_per_tick": round(false / max(len(ticks), 1), 4),
        "missed_per_tick": round(missed / max(len(ticks), 1), 4),
    }


def scene_views(scene: Scene, k: int) -> dict[str, ViewPeople | None]:
    """Tick ``k`` of ``scene`` as the tracker takes it (true identities left out)."""
    out: dict[str, ViewPeople | None] = {}
    for v, name in enumerate(scene.rig.names):
        t = scene.t_capture[v, k]
        out[name] = (
            None
            if math.isnan(t)
            else ViewPeople(float(t), [Skeleton2D(p, c) for _, p, c in scene.detections(v, k)])
        )
    return out


def run_multi_bench(
    people: Sequence[int] = (2, 3, 4, 5, 6),
    *,
    cameras: int = 4,
    seconds: float = 20.0,
    fps: float = 30.0,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One simulated scene per people count; see the module docstring. Fusion: time-aware
    triangulation (association and tracking are what is measured)."""
    from syncpose.simulate import SyncModel

    clip = load_motion("bundled").clips[0]
    rig = default_rig(cameras)
    reports = []
    for n in people:
        rng = np.random.default_rng([seed, n])
        paths = crossing_paths(clip, n, rng, duration_s=seconds + 1.0)
        ticks_n = int(seconds * fps)
        scene = simulate_scene(
            paths, n, rig, rng, ticks=ticks_n, sync=SyncModel(fps=fps, offsets="aligned")
        )
        tracker = PeopleTracker(rig, PoseEngine(rig), max_people=n)
        ticks = [tracker.step(float(scene.t_ref[k]), scene_views(scene, k)) for k in range(ticks_n)]
        report = evaluate(scene, ticks)
        assoc = np.array([t.timings_ms["associate"] for t in ticks])
        fuse = np.array([t.timings_ms["track"] for t in ticks])
        report.update(
            {
                "cameras": cameras,
                "fps": fps,
                "seconds": seconds,
                "detections_per_tick": round(float(scene.detected.sum() / ticks_n), 2),
                "associate_ms_median": round(float(np.median(assoc)), 3),
                "associate_ms_p95": round(float(np.percentile(assoc, 95)), 3),
                "fuse_ms_median": round(float(np.median(fuse)), 3),
            }
        )
        reports.append(report)
    return reports


def format_multi(reports: Sequence[dict[str, Any]]) -> str:
    lines = [
        "people  PCP %   MPJPE mm  id sw/person/min  false/tick  missed/tick  assoc ms "
        "(p50/p95)  fuse ms"
    ]
    lines.extend(
        f"{r['people']:>6}  {r['pcp_percent']:>5.1f}  {r['mpjpe_mm']!s:>8}  "
        f"{r['id_switches_per_person_per_min']:>16}  {r['false_per_tick']:>10}  "
        f"{r['missed_per_tick']:>11}  {r['associate_ms_median']:>6}/{r['associate_ms_p95']:<6}"
        f"  {r['fuse_ms_median']:>7}"
        for r in reports
    )
    return "\n".join(lines)


def run_multi_video(
    videos: Path, calibration: Path, *, max_people: int = 2, method: str | None = None
) -> dict[str, Any]:
    """The real recording ``videos`` through ``syncpose reconstruct``'s path with
    ``max_people``; per track its summary (:func:`~syncpose.app.offline.summarise_people`)
    and the jumps of its pelvis (see the module docstring)."""
    from syncpose.app.offline import find_videos, reconstruct, video_rig
    from syncpose.config import InferenceConfig

    inference = InferenceConfig(calibration=calibration, max_people=max_people)
    result = reconstruct(
        video_rig(find_videos([videos]), inference=inference), method=method, progress=False
    )
    out: dict[str, Any] = {
        "ticks": len(result.ticks),
        "fps": result.fps,
        "max_people": max_people,
        "method": result.summary["method"],
        "tracks": {},
    }
    pelvis = JOINTS.index("pelvis")
    for pid, s in result.summary["people"].items():
        at = [t.output.person_positions(int(pid))[pelvis] for t in result.ticks]
        ks = [k for k, p in enumerate(at) if np.isfinite(p).all()]
        steps = [
            float(np.linalg.norm(at[b] - at[a])) for a, b in itertools.pairwise(ks) if b == a + 1
        ]
        out["tracks"][pid] = {
            "ticks": len(ks),
            "first_tick": ks[0] if ks else None,
            "last_tick": ks[-1] if ks else None,
            "limb_bone_std_mm_mean": s["limb_bone_std_mm_mean"],
            "limb_bone_std_mm_max": s["limb_bone_std_mm_max"],
            "reprojection_px_median": s["reprojection_px"]["median"],
            "pelvis_jumps": int(sum(step > JUMP_M for step in steps)),
        }
    return out
