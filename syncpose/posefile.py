"""Pose streams on disk: JSON, CSV, NPZ, TRC (OpenSim) and C3D, chosen by the file's extension.

A :class:`PoseTrack` holds K poses of one skeleton: ``t_s`` (K,) seconds from the first tick,
``positions`` (K, J, 3) metres in the rig's world frame (Z up; NaN = joint unknown),
``uncertainty`` (K, J) metres, ``bundle_seq`` (K,), ``views_used`` (K lists of camera ids),
optionally ``keypoints_2d`` (K, V, J, 3) (x px, y px, confidence per rig camera), and metadata.

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

from syncpose.arrays import AnyArray, FloatArray, IntArray

FORMATS = (".json", ".csv", ".npz", ".trc", ".c3d")
FORMAT_NAME = "syncpose-poses"
FORMAT_VERSION = 1


@dataclass
class PoseTrack:
    """K poses of one skeleton (see the module docstring for shapes)."""

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

    def __post_init__(self) -> None:
        K, J = len(self.t_s), len(self.joint_names)
        checks = {
            "positions": (self.positions.shape, (K, J, 3)),
            "uncertainty": (self.uncertainty.shape, (K, J)),
            "bundle_seq": (self.bundle_seq.shape, (K,)),
        }
        for name, (got, want) in checks.items():
            if tuple(got) != want:
                raise ValueError(f"pose track: {name} has shape {tuple(got)}, expected {want}")
        if len(self.views_used) != K:
            raise ValueError(f"pose track: {len(self.views_used)} views_used lists for {K} poses")

    def __len__(self) -> int:
        return len(self.t_s)

    @property
    def solved_fraction(self) -> float:
        """Share of poses with at least one joint known."""
        if not len(self):
            return 0.0
        return float(np.isfinite(self.positions).all(-1).any(-1).mean())


def check_pose_path(path: str | Path) -> Path:
    """``path`` if its extension is a pose format (:data:`FORMATS`), else ValueError: checked
    before a long job, not after it."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"{path}: unknown pose format {path.suffix!r}; use one of {FORMATS}")
    return path


def write_poses(path: str | Path, track: PoseTrack) -> Path:
    """Write ``track`` in the format of ``path``'s extension (one of :data:`FORMATS`)."""
    path = check_pose_path(path)
    suffix = path.suffix.lower()
    writers = {
        ".json": _write_json,
        ".csv": _write_csv,
        ".npz": _write_npz,
        ".trc": _write_trc,
        ".c3d": _write_c3d,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
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
        )


def _read_json(path: Path) -> PoseTrack:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise ValueError(f"not a {FORMAT_NAME} file")
    frames = data["frames"]
    J = len(data["joint_names"])
    return PoseTrack(
        joint_names=list(data["joint_names"]),
        t_s=np.array([f["t_s"] for f in frames], dtype=np.float64),
        positions=from_json([f["positions"] for f in frames], (J, 3)),
        uncertainty=from_json([f["uncertainty"] for f in frames], (J,)),
        bundle_seq=np.array([f["bundle_seq"] for f in frames], dtype=np.int64),
        views_used=[list(f["views_used"]) for f in frames],
        fps=float(data["fps"]),
        camera_ids=list(data.get("camera_ids", [])),
        metadata=data.get("metadata", {}),
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
    for k in range(len(track)):
        pos = track.positions[k]
        frames.append(
            {
                "t_s": round(float(track.t_s[k]), 6),
                "bundle_seq": int(track.bundle_seq[k]),
                "positions": json_points(pos),
                "uncertainty": json_values(track.uncertainty[k]),
                "views_used": track.views_used[k],
            }
        )
    doc = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "joint_names": track.joint_names,
        "camera_ids": track.camera_ids,
        "fps": track.fps,
        "units": "m",
        "up": "+z",
        "metadata": track.metadata,
        "frames": frames,
    }
    path.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")


def _write_csv(path: Path, track: PoseTrack) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        header = ["t_s", "bundle_seq", "views_used"]
        for name in track.joint_names:
            header += [f"{name}_x", f"{name}_y", f"{name}_z", f"{name}_uncertainty"]
        out.writerow(header)
        for k in range(len(track)):
            row: list[Any] = [f"{track.t_s[k]:.6f}", int(track.bundle_seq[k])]
            row.append(" ".join(track.views_used[k]))
            for j in range(len(track.joint_names)):
                p, u = track.positions[k, j], track.uncertainty[k, j]
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
        "positions": track.positions,
        "uncertainty": track.uncertainty,
        "bundle_seq": track.bundle_seq,
        "meta": np.array(json.dumps(meta)),
    }
    if track.keypoints_2d is not None:
        arrays["keypoints_2d"] = track.keypoints_2d
    with path.open("wb") as fh:
        np.savez_compressed(fh, **arrays)


def _write_trc(path: Path, track: PoseTrack) -> None:
    K, J = len(track), len(track.joint_names)
    rate = f"{track.fps:g}"
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name.removesuffix('.part')}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\t"
        "OrigDataStartFrame\tOrigNumFrames",
        f"{rate}\t{rate}\t{K}\t{J}\tm\t{rate}\t1\t{K}",
        "Frame#\tTime\t" + "\t\t\t".join(track.joint_names) + "\t\t",
        "\t\t" + "\t".join(f"X{j + 1}\tY{j + 1}\tZ{j + 1}" for j in range(J)),
        "",
    ]
    y_up = np.stack(
        [track.positions[..., 0], track.positions[..., 2], -track.positions[..., 1]], -1
    )
    for k in range(K):
        values = (f"{v:.6f}" if math.isfinite(v) else "" for v in y_up[k].reshape(-1))
        lines.append(f"{k + 1}\t{track.t_s[k]:.6f}\t" + "\t".join(values))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_c3d(path: Path, track: PoseTrack) -> None:
    from syncpose.c3d import write_c3d

    write_c3d(path, track.joint_names, track.positions, track.fps)


def track_from_results(
    results: Sequence[tuple[Any, dict[str, AnyArray]]],
    fps: float,
    metadata: dict[str, Any] | None = None,
) -> PoseTrack:
    """A track from ``(PoseResult, arrays)`` pairs (as the inference worker publishes them)."""
    if not results:
        raise ValueError("no poses to write")
    first = results[0][0]
    t0 = first.t_ref_ns
    has_2d = all("keypoints_2d" in arrays for _, arrays in results)
    return PoseTrack(
        joint_names=list(first.joint_names),
        t_s=np.array([(m.t_ref_ns - t0) / 1e9 for m, _ in results]),
        positions=np.stack([np.asarray(a["positions"], np.float64) for _, a in results]),
        uncertainty=np.stack([np.asarray(a["uncertainty"], np.float64) for _, a in results]),
        bundle_seq=np.array([m.bundle_seq for m, _ in results], dtype=np.int64),
        views_used=[list(m.views_used) for m, _ in results],
        fps=fps,
        camera_ids=list(first.camera_ids),
        keypoints_2d=(
            np.stack([np.asarray(a["keypoints_2d"], np.float64) for _, a in results])
            if has_2d
            else None
        ),
        metadata={
            "calibration_id": first.calibration_id,
            "method": first.method,
            "detector": first.detector,
            **(metadata or {}),
        },
    )
