"""Recordings of the pose stream: durable on disk, listed after a restart, exported on demand.

A recording is a folder ``<recordings_dir>/<id>/`` holding

* ``meta.json`` — id, name, state (``recording``, ``stopped``; one found ``recording`` after a
  restart is reported ``interrupted``), start and stop times, counts; replaced atomically
  (written to a temporary file, then renamed), so it is never half-written;
* ``poses.jsonl`` — one JSON line per pose, appended as poses arrive, flushed at once and
  fsync'ed at least every second: a crash loses at most the last second, and a torn last
  line is skipped on reading.

The folders are the index: listing scans them, so the index survives restarts and crashes.
Ids are checked against ``[A-Za-z0-9_-]`` before any path is built from them.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from syncpose.posefile import PoseTrack, from_json

#: What an id may be: matched whole (``re.fullmatch``; ``$`` would let a trailing newline in).
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,80}")
_FSYNC_EVERY_S = 1.0


class RecordingError(ValueError):
    """A bad recording request (unknown id, bad name, already recording)."""


def valid_id(text: str) -> bool:
    """Whether ``text`` is a valid id (of a recording, a camera): letters, digits, - and _."""
    return ID_PATTERN.fullmatch(text) is not None


def safe_id(text: str) -> str:
    """``text`` if it is a valid recording id, else :class:`RecordingError`."""
    if not valid_id(text):
        raise RecordingError(f"invalid recording id {text[:80]!r} (letters, digits, - and _ only)")
    return text


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


@dataclass
class _Active:
    id: str
    folder: Path
    meta: dict[str, Any]
    fh: IO[str]
    last_sync: float = field(default_factory=time.monotonic)


class RecordingStore:
    """All recordings under ``root``; at most one being written at a time. Thread-safe."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._active: _Active | None = None
        self._recover()

    def _recover(self) -> None:
        """Recordings left ``recording`` by a process that died are ``interrupted``: say so in
        their metadata once, with the poses that were written, instead of recounting their
        lines on every listing."""
        for folder in self.root.iterdir():
            if not (folder.is_dir() and valid_id(folder.name)):
                continue
            meta = self._meta(folder.name)
            if meta is not None and meta.get("state") == "interrupted":
                _write_atomic(folder / "meta.json", meta)

    # -- writing ------------------------------------------------------------------------------

    def start(
        self, name: str | None = None, metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        label = safe_id(name) if name else "rec"
        with self._lock:
            if self._active is not None:
                raise RecordingError(f"already recording {self._active.id!r}; stop it first")
            rec_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"
            n = 1
            while (self.root / rec_id).exists():
                n += 1
                rec_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{label}-{n}"
            folder = self.root / rec_id
            folder.mkdir()
            meta = {
                "id": rec_id,
                "name": label,
                "state": "recording",
                "started_unix": time.time(),
                "stopped_unix": None,
                "poses": 0,
                "metadata": metadata or {},
            }
            _write_atomic(folder / "meta.json", meta)
            fh = (folder / "poses.jsonl").open("a", encoding="utf-8")
            self._active = _Active(rec_id, folder, meta, fh)
            return dict(meta)

    def add(self, pose: dict[str, Any]) -> None:
        """Append one pose (a JSON-ready dict); no-op when not recording."""
        with self._lock:
            active = self._active
            if active is None:
                return
            active.fh.write(json.dumps(pose, separators=(",", ":")) + "\n")
            active.fh.flush()
            active.meta["poses"] += 1
            now = time.monotonic()
            if now - active.last_sync >= _FSYNC_EVERY_S:
                os.fsync(active.fh.fileno())
                active.last_sync = now

    def stop(self) -> dict[str, Any]:
        with self._lock:
            active = self._active
            if active is None:
                raise RecordingError("not recording")
            active.fh.flush()
            os.fsync(active.fh.fileno())
            active.fh.close()
            active.meta.update(state="stopped", stopped_unix=time.time())
            _write_atomic(active.folder / "meta.json", active.meta)
            self._active = None
            return dict(active.meta)

    @property
    def active_id(self) -> str | None:
        with self._lock:
            return self._active.id if self._active else None

    # -- reading ------------------------------------------------------------------------------

    def recordings(self) -> list[dict[str, Any]]:
        out = []
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and valid_id(folder.name):
                meta = self._meta(folder.name)
                if meta is not None:
                    out.append(meta)
        return out

    def meta(self, rec_id: str) -> dict[str, Any]:
        meta = self._meta(safe_id(rec_id))
        if meta is None:
            raise KeyError(f"no recording {rec_id!r}")
        return meta

    def _meta(self, rec_id: str) -> dict[str, Any] | None:
        path = self.root / rec_id / "meta.json"
        try:
            meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        with self._lock:
            live = self._active is not None and self._active.id == rec_id
            if live and self._active is not None:
                meta["poses"] = self._active.meta["poses"]
        if meta.get("state") == "recording" and not live:
            meta["state"] = "interrupted"  # its process ended without stopping it
            meta["poses"] = sum(1 for _ in self.read_lines(rec_id))
        return meta

    def read_lines(self, rec_id: str) -> list[dict[str, Any]]:
        """Every complete pose line (a torn last line, from a crash, is skipped)."""
        path = self.root / safe_id(rec_id) / "poses.jsonl"
        if not path.is_file():
            raise KeyError(f"no recording {rec_id!r}")
        out = []
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break
                try:
                    out.append(json.loads(line))
                except ValueError:
                    break
        return out

    def track(self, rec_id: str, fps: float) -> PoseTrack:
        """The recording as a :class:`~syncpose.posefile.PoseTrack` (for export)."""
        lines = self.read_lines(rec_id)
        if not lines:
            raise RecordingError(f"recording {rec_id!r} has no poses")
        t0 = lines[0]["t_ref_ns"]
        names = list(lines[0]["joint_names"])
        J = len(names)
        ids = sorted({int(p["id"]) for x in lines for p in x.get("people", [])})
        where = {pid: i for i, pid in enumerate(ids)}
        positions = np.full((len(lines), len(ids), J, 3), np.nan)
        uncertainty = np.full((len(lines), len(ids), J), np.nan)
        for k, x in enumerate(lines):
            for p in x.get("people", []):
                i = where[int(p["id"])]
                positions[k, i] = from_json([p["positions"]], (J, 3))[0]
                uncertainty[k, i] = from_json([p["uncertainty"]], (J,))[0]
        return PoseTrack(
            joint_names=names,
            t_s=np.array([(x["t_ref_ns"] - t0) / 1e9 for x in lines]),
            positions=positions,
            uncertainty=uncertainty,
            bundle_seq=np.array([x["bundle_seq"] for x in lines], dtype=np.int64),
            views_used=[list(x["views_used"]) for x in lines],
            fps=fps,
            camera_ids=list(lines[0].get("camera_ids", [])),
            metadata={"recording": self.meta(rec_id)},
            person_ids=np.array(ids, dtype=np.int64),
        )

    def close(self) -> None:
        if self.active_id is not None:
            self.stop()
