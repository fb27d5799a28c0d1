"""Pose streams on disk: JSON, CSV, NPZ, TRC (OpenSim), C3D and BVH (:mod:`syncpose.bvh`: a
skeleton with joint rotations, for animation tools), chosen by the file's extension.

A :class:`PoseTrack` holds K ticks of P people of one skeleton: ``t_s`` (K,) seconds from the
first tick, ``person_ids`` (P,) the people's ids, ``positions`` (K, P, J, 3) metres in the rig's
world frame (Z up; NaN = joint unknown, all NaN where the person is absent), ``uncertainty``
(K, P, J) metres, ``bundle_seq`` (K,), ``views_used`` (K lists of camera ids), optionally
``keypoints_2d`` (K, P, V, J, 3) (x px, y px, confidence per rig camera), ``frame_index`` (K,)
(the input frame of each tick, for keypoint-file input), and metadata.

Several people: JSON frames list the people present (``id``, ``positions``, ``uncertainty``);
CSV has a ``person`` column (one row per person present, one empty row for a tick with
nobody); NPZ keeps the arrays as above; TRC and BVH are one file per person when there are
several (``name_P1.trc``, ``name_P2.trc``, …, as Pose2Sim names them: :func:`person_paths`);
C3D labels the points ``P1_pelvis``, … .

C3D (:mod:`syncpose.c3d`) holds the points in millimetres, Z up as recorded, unknown points
with a negative residual. TRC is written for OpenSim, which expects Y up: a point (x, y, z)
of the Z-up world is written as (x, z, −y) — a rotation of −90° about X, still right-handed.
Unknown joints are empty fields in TRC and CSV, ``null`` in JSON and NaN in NPZ.
"""

from __future__ import annotations

import csv
import json
import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from syncpose.arrays import AnyArray, BoolArray, FloatArray, IntArray

FORMATS = (".json", ".csv", ".npz", ".trc", ".c3d", ".bvh")
#: Formats of one person per file: several people are written as ``<stem>_P<id><ext>``.
PER_PERSON = (".trc", ".bvh")
FORMAT_NAME = "syncpose-poses"
FORMAT_VERSION = 2  # 2: several people (version 1 files, one person, still read)


@dataclass
class PoseTrack:
    """K ticks of P people (see the module docstring for shapes). ``positions`` (K, J, 3) and
    ``uncertainty`` (K, J) without ``person_ids`` are one person, id 1."""

    joint_names: list[str]
    t_s: FloatArray
    positions: FloatArray
    uncertainty: FloatArray
    bundle_seq: IntArray
    views_used: list[list[str]]
    fps: float
    camera_ids: list[str] = field(default_factory=list)
    keypoints_2d: FloatArray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    person_ids: IntArray | None = None
    frame_index: IntArray | None = None

    def __post_init__(self) -> None:
        K, J = len(self.t_s), len(self.joint_names)
        if self.person_ids is None and self.positions.ndim == 3:  # one person
            self.positions = self.positions[:, None]
            self.uncertainty = self.uncertainty[:, None]
            if self.keypoints_2d is not None:
                self.keypoints_2d = self.keypoints_2d[:, None]
            self.person_ids = np.array([1], dtype=np.int64)
        ids = np.asarray(self.person_ids if self.person_ids is not None else [], dtype=np.int64)
        self.person_ids = ids
        P = len(ids)
        checks = {
            "positions": (self.positions.shape, (K, P, J, 3)),
            "uncertainty": (self.uncertainty.shape, (K, P, J)),
            "bundle_seq": (self.bundle_seq.shape, (K,)),
        }
        if self.frame_index is not None:
            checks["frame_index"] = (self.frame_index.shape, (K,))
        if self.keypoints_2d is not None:
            checks["keypoints_2d"] = (self.keypoints_2d.shape[:2], (K, P))
        for name, (got, want) in checks.items():
            if tuple(got) != want:
                raise ValueError(f"pose track: {name} has shape {tuple(got)}, expected {want}")
        if len(self.views_used) != K:
            raise ValueError(f"pose track: {len(self.views_used)} views_used lists for {K} poses")
        if len(set(ids.tolist())) != P:
            raise ValueError(f"pose track: person ids {ids.tolist()} repeat")

    def __len__(self) -> int:
        return len(self.t_s)

    @property
    def ids(self) -> list[int]:
        return [int(i) for i in np.asarray(self.person_ids)]

    @property
    def present(self) -> BoolArray:
        """(K, P) whether each person has a joint at each tick."""
        return np.asarray(np.isfinite(self.positions).all(-1).any(-1))

    @property
    def solved_fraction(self) -> float:
        """Share of ticks with at least one person with a joint known."""
        if not len(self):
            return 0.0
        return float(self.present.any(-1).mean())

    def person(self, person_id: int) -> FloatArray:
        """(K, J, 3) one person's joints (NaN where absent)."""
        return np.asarray(self.positions[:, self.ids.index(person_id)])


def check_pose_path(path: str | Path) -> Path:
    """``path`` if its extension is a pose format (:data:`FORMATS`), else ValueError: checked
    before a long job, not after it."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"{path}: unknown pose format {path.suffix!r}; use one of {FORMATS}")
    return path


def write_poses(path: str | Path, track: PoseTrack) -> Path:
    """Write ``track`` in the format of ``path``'s extension (one of :data:`FORMATS`); the path
    written (for TRC or BVH of several people, the first person's: :func:`person_paths` has
    all)."""
    path = check_pose_path(path)
    suffix = path.suffix.lower()
    writers = {
        ".json": _write_json,
        ".csv": _write_csv,
        ".npz": _write_npz,
        ".trc": _write_trc,
        ".c3d": _write_c3d,
        ".bvh": _write_bvh,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in PER_PERSON and len(track.ids) > 1:
        return _write_people(path, track)
    tmp = path.with_name(path.name + ".part")
    writers[suffix](tmp, track)
    tmp.replace(path)  # never leave a half-written file under the final name
    return path


def read_poses(path: str | Path) -> PoseTrack:
    """Read a track written by :func:`write_poses` as NPZ or JSON; ValueError, naming the file,
    for anything else (another format, a damaged or hand-made file)."""
    path = Path(path)
    suffix = path.suffix.lower()
    readers = {".npz": _read_npz, ".json": _read_json}
    if suffix not in readers:
        raise ValueError(f"{path}: can read .npz and .json pose files, not {suffix!r}")
    try:
        return readers[suffix](path)
    except (KeyError, IndexError, TypeError, AttributeError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(
            f"{path}: not a readable pose file ({type(exc).__name__}: {exc})"
        ) from None
    except (ValueError, RecursionError) as exc:  # bad JSON, arrays of the wrong shape
        raise ValueError(f"{path}: not a readable pose file ({exc})"[:300]) from None


def _read_npz(path: Path) -> PoseTrack:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        several = int(meta.get("version", 1)) >= 2
        return PoseTrack(
            joint_names=list(meta["joint_names"]),
            t_s=z["t_s"],
            positions=z["positions"],
            uncertainty=z["uncertainty"],
            bundle_seq=z["bundle_seq"],
            views_used=meta["views_used"],
            fps=float(meta["fps"]),
            camera_ids=list(meta["camera_ids"]),
            keypoints_2d=z.get("keypoints_2d"),
            metadata=meta["metadata"],
            person_ids=z["person_ids"] if several else None,
            frame_index=z.get("frame_index"),
        )


def _read_json(path: Path) -> PoseTrack:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise ValueError(f"not a {FORMAT_NAME} file")
    frames = data["frames"]
    J = len(data["joint_names"])
    common: dict[str, Any] = {
        "joint_names": list(data["joint_names"]),
        "t_s": np.array([f["t_s"] for f in frames], dtype=np.float64),
        "bundle_seq": np.array([f["bundle_seq"] for f in frames], dtype=np.int64),
        "views_used": [list(f["views_used"]) for f in frames],
        "fps": float(data["fps"]),
        "camera_ids": list(data.get("camera_ids", [])),
        "metadata": data.get("metadata", {}),
    }
    if "frame_index" in (frames[0] if frames else {}):
        common["frame_index"] = np.array([f["frame_index"] for f in frames], dtype=np.int64)
    if int(data.get("version", 1)) < 2:  # one person
        return PoseTrack(
            positions=from_json([f["positions"] for f in frames], (J, 3)),
            uncertainty=from_json([f["uncertainty"] for f in frames], (J,)),
            **common,
        )
    ids = sorted({int(p["id"]) for f in frames for p in f["people"]})
    where = {pid: i for i, pid in enumerate(ids)}
    positions = np.full((len(frames), len(ids), J, 3), np.nan)
    uncertainty = np.full((len(frames), len(ids), J), np.nan)
    for k, f in enumerate(frames):
        for p in f["people"]:
            i = where[int(p["id"])]
            positions[k, i] = from_json([p["positions"]], (J, 3))[0]
            uncertainty[k, i] = from_json([p["uncertainty"]], (J,))[0]
    return PoseTrack(
        positions=positions,
        uncertainty=uncertainty,
        person_ids=np.array(ids, dtype=np.int64),
        **common,
    )


def _num(x: float, digits: int = 6) -> float | None:
    return None if not math.isfinite(x) else round(float(x), digits)


def json_values(values: npt.ArrayLike) -> list[float | None]:
    """(N,) numbers as JSON: rounded, NaN → null."""
    return [_num(float(v)) for v in np.asarray(values, dtype=np.float64)]


def json_points(points: npt.ArrayLike) -> list[Any]:
    """(..., D) points as nested JSON lists; a point with any non-finite coordinate → null."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 2:
        return [json_values(q) if np.isfinite(q).all() else None for q in p]
    return [json_points(q) for q in p]


def from_json(rows: list[Any], shape: tuple[int, ...]) -> FloatArray:
    """``rows`` (each of ``shape``, as :func:`json_points` / :func:`json_values` wrote them,
    nulls for whole points or single values) → an array (len(rows), *shape) with NaN."""

    def nan(value: Any, sub: tuple[int, ...]) -> Any:
        if value is None:
            return np.full(sub, np.nan)
        if isinstance(value, list):
            return [nan(v, sub[1:]) for v in value]
        return value

    out = np.full((len(rows), *shape), np.nan)
    for k, row in enumerate(rows):
        out[k] = np.array(nan(row, shape), dtype=np.float64)
    return out


def _write_json(path: Path, track: PoseTrack) -> None:
    frames = []
    present = track.present
    for k in range(len(track)):
        frame: dict[str, Any] = {
            "t_s": round(float(track.t_s[k]), 6),
            "bundle_seq": int(track.bundle_seq[k]),
            "views_used": track.views_used[k],
            "people": [
                {
                    "id": pid,
                    "positions": json_points(track.positions[k, i]),
                    "uncertainty": json_values(track.uncertainty[k, i]),
                }
                for i, pid in enumerate(track.ids)
                if present[k, i]
            ],
        }
        if track.frame_index is not None:
            frame["frame_index"] = int(track.frame_index[k])
        frames.append(frame)
    doc = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "joint_names": track.joint_names,
        "camera_ids": track.camera_ids,
        "person_ids": track.ids,
        "fps": track.fps,
        "units": "m",
        "up": "+z",
        "metadata": track.metadata,
        "frames": frames,
    }
    path.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")


def _write_csv(path: Path, track: PoseTrack) -> None:
    present = track.present
    J = len(track.joint_names)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        header = ["t_s", "bundle_seq", "person", "views_used"]
        for name in track.joint_names:
            header += [f"{name}_x", f"{name}_y", f"{name}_z", f"{name}_uncertainty"]
        out.writerow(header)
        for k in range(len(track)):
            head: list[Any] = [f"{track.t_s[k]:.6f}", int(track.bundle_seq[k])]
            views = " ".join(track.views_used[k])
            people = [i for i in range(len(track.ids)) if present[k, i]]
            if not people:
                out.writerow([*head, "", views] + [""] * (4 * J))
            for i in people:
                row: list[Any] = [*head, track.ids[i], views]
                for j in range(J):
                    p, u = track.positions[k, i, j], track.uncertainty[k, i, j]
                    row += [f"{v:.6f}" if math.isfinite(v) else "" for v in (*p, u)]
                out.writerow(row)


def _write_npz(path: Path, track: PoseTrack) -> None:
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "joint_names": track.joint_names,
        "camera_ids": track.camera_ids,
        "views_used": track.views_used,
        "fps": track.fps,
        "metadata": track.metadata,
    }
    arrays: dict[str, Any] = {
        "t_s": track.t_s,
        "person_ids": np.asarray(track.person_ids),
        "positions": track.positions,
        "uncertainty": track.uncertainty,
        "bundle_seq": track.bundle_seq,
        "meta": np.array(json.dumps(meta)),
    }
    if track.keypoints_2d is not None:
        arrays["keypoints_2d"] = track.keypoints_2d
    if track.frame_index is not None:
        arrays["frame_index"] = track.frame_index
    with path.open("wb") as fh:
        np.savez_compressed(fh, **arrays)


def person_paths(path: str | Path, person_ids: Sequence[int]) -> list[Path]:
    """Where a TRC or BVH export of ``path`` puts each person: ``path`` itself for one
    person, else ``<stem>_P<id><ext>`` beside it."""
    path = Path(path)
    if len(person_ids) <= 1:
        return [path]
    stem = path.name.removesuffix(".part").removesuffix(path.suffix)
    return [path.with_name(f"{stem}_P{pid}{path.suffix}") for pid in person_ids]


def _write_trc(path: Path, track: PoseTrack) -> None:
    _write_trc_person(path, path.name.removesuffix(".part"), track, 0)


def _write_bvh(path: Path, track: PoseTrack) -> None:
    _write_bvh_person(path, "", track, 0)


def _write_bvh_person(path: Path, _name: str, track: PoseTrack, i: int) -> None:
    from syncpose.bvh import bvh_text

    path.write_text(bvh_text(track.positions[:, i], track.fps), encoding="utf-8")


def _write_people(path: Path, track: PoseTrack) -> Path:
    """One file per person (:func:`person_paths`); the first one's path."""
    one = _write_trc_person if path.suffix.lower() == ".trc" else _write_bvh_person
    targets = person_paths(path, track.ids)
    for i, target in enumerate(targets):
        tmp = target.with_name(target.name + ".part")
        one(tmp, target.name, track, i)
        tmp.replace(target)
    return targets[0]


def _write_trc_person(path: Path, name: str, track: PoseTrack, i: int) -> None:
    K, J = len(track), len(track.joint_names)
    rate = f"{track.fps:g}"
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\t"
        "OrigDataStartFrame\tOrigNumFrames",
        f"{rate}\t{rate}\t{K}\t{J}\tm\t{rate}\t1\t{K}",
        "Frame#\tTime\t" + "\t\t\t".join(track.joint_names) + "\t\t",
        "\t\t" + "\t".join(f"X{j + 1}\tY{j + 1}\tZ{j + 1}" for j in range(J)),
        "",
    ]
    pos = track.positions[:, i]
    y_up = np.stack([pos[..., 0], pos[..., 2], -pos[..., 1]], -1)
    for k in range(K):
        values = (f"{v:.6f}" if math.isfinite(v) else "" for v in y_up[k].reshape(-1))
        lines.append(f"{k + 1}\t{track.t_s[k]:.6f}\t" + "\t".join(values))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_c3d(path: Path, track: PoseTrack) -> None:
    from syncpose.c3d import write_c3d

    K, P, J = track.positions.shape[:3]
    if P == 1:
        write_c3d(path, track.joint_names, track.positions[:, 0], track.fps)
        return
    labels = [f"P{pid}_{name}" for pid in track.ids for name in track.joint_names]
    write_c3d(path, labels, track.positions.reshape(K, P * J, 3), track.fps)


def track_from_results(
    results: Sequence[tuple[Any, dict[str, AnyArray]]],
    fps: float,
    metadata: dict[str, Any] | None = None,
    frame_index: Sequence[int] | None = None,
) -> PoseTrack:
    """A track from ``(PoseResult, arrays)`` pairs (as the inference worker publishes them):
    everyone who appears, by id, NaN where absent."""
    if not results:
        raise ValueError("no poses to write")
    first = results[0][0]
    t0 = first.t_ref_ns
    ids = sorted({int(pid) for m, _ in results for pid in m.person_ids})
    where = {pid: i for i, pid in enumerate(ids)}
    K, P, J, V = len(results), len(ids), len(first.joint_names), len(first.camera_ids)
    positions = np.full((K, P, J, 3), np.nan)
    uncertainty = np.full((K, P, J), np.nan)
    has_2d = all("keypoints_2d" in arrays for _, arrays in results)
    kp2d = np.full((K, P, V, J, 3), np.nan) if has_2d else None
    for k, (m, a) in enumerate(results):
        for row, pid in enumerate(m.person_ids):
            i = where[int(pid)]
            positions[k, i] = np.asarray(a["positions"], np.float64)[row]
            uncertainty[k, i] = np.asarray(a["uncertainty"], np.float64)[row]
            if kp2d is not None:
                kp2d[k, i] = np.asarray(a["keypoints_2d"], np.float64)[row]
    return PoseTrack(
        joint_names=list(first.joint_names),
        t_s=np.array([(m.t_ref_ns - t0) / 1e9 for m, _ in results]),
        positions=positions,
        uncertainty=uncertainty,
        bundle_seq=np.array([m.bundle_seq for m, _ in results], dtype=np.int64),
        views_used=[list(m.views_used) for m, _ in results],
        fps=fps,
        camera_ids=list(first.camera_ids),
        keypoints_2d=kp2d,
        metadata={
            "calibration_id": first.calibration_id,
            "method": first.method,
            "detector": first.detector,
            **(metadata or {}),
        },
        person_ids=np.array(ids, dtype=np.int64),
        frame_index=None if frame_index is None else np.asarray(frame_index, dtype=np.int64),
    )
