"""The server's view of the rig, fed by the bus listener thread, read by the routes.

:class:`PoseHub` keeps the latest pose, the cameras' and workers' states, and fans every pose
out to the WebSocket clients. Each client has a short queue of its own; one that falls that far
behind is switched to latest-only (its queue holds just the newest pose) and counted, so a slow
client never slows the pipeline or the other clients.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from syncpose.arrays import AnyArray
from syncpose.messages import PoseResult, RigStatus, WorkerStatus
from syncpose.posefile import json_points, json_values


def pose_json(pose: PoseResult, arrays: dict[str, AnyArray]) -> dict[str, Any]:
    """A :class:`PoseResult` as JSON-ready data (NaN → null): its fields, and ``people``, per
    person its ``id``, ``positions``, ``uncertainty``, ``views_used`` and (when sent)
    ``keypoints_2d``."""
    kp = arrays.get("keypoints_2d")
    people = []
    for i, pid in enumerate(pose.person_ids):
        person: dict[str, Any] = {
            "id": pid,
            "positions": json_points(arrays["positions"][i]),
            "uncertainty": json_values(arrays["uncertainty"][i]),
            "views_used": pose.people_views[i] if i < len(pose.people_views) else [],
        }
        if kp is not None:
            person["keypoints_2d"] = json_points(kp[i])
        people.append(person)
    return {**pose.model_dump(mode="json"), "people": people}


@dataclass(eq=False)  # compared and hashed by identity
class Client:
    """One WebSocket subscriber."""

    queue: asyncio.Queue[dict[str, Any]]
    latest_only: bool = False
    dropped: int = 0


@dataclass
class PoseHub:
    ws_queue: int = 8
    latest_pose: dict[str, Any] | None = None
    rig_status: RigStatus | None = None
    workers: dict[str, WorkerStatus] = field(default_factory=dict)
    heard: dict[str, float] = field(default_factory=dict)  # worker -> monotonic time last heard
    silent_after_s: float = 3.0
    poses: int = 0
    clients: set[Client] = field(default_factory=set)
    preview_clients: set[Client] = field(default_factory=set)
    previews: dict[str, dict[str, Any]] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop the WebSocket clients live on."""
        self._loop = loop

    # -- from the listener thread -------------------------------------------------------------

    def on_pose(self, pose: dict[str, Any]) -> None:
        with self._lock:
            self.latest_pose = pose
            self.poses += 1
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._fan_out, pose)

    def on_preview(self, preview: dict[str, Any]) -> None:
        """A camera's preview frame (``camera_id``, ``seq``, ``jpeg_base64``, size and the
        keypoints of the latest pose that used it), from the listener thread."""
        with self._lock:
            self.previews[preview["camera_id"]] = preview
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._fan_out_to, self.preview_clients, preview)

    @property
    def wants_previews(self) -> bool:
        return bool(self.preview_clients)

    def on_rig(self, status: RigStatus) -> None:
        with self._lock:
            self.rig_status = status

    def on_worker(self, status: WorkerStatus) -> None:
        with self._lock:
            self.workers[status.worker] = status
            self.heard[status.worker] = time.monotonic()

    # -- on the event loop --------------------------------------------------------------------

    def _fan_out(self, pose: dict[str, Any]) -> None:
        self._fan_out_to(self.clients, pose)

    def _fan_out_to(self, clients: set[Client], pose: dict[str, Any]) -> None:
        for client in list(clients):
            if client.queue.full():
                while not client.queue.empty():  # behind: keep only the newest from now on
                    client.queue.get_nowait()
                    client.dropped += 1
                client.latest_only = True
            client.queue.put_nowait(pose)

    def subscribe(self, previews: bool = False) -> Client:
        client = Client(asyncio.Queue(maxsize=self.ws_queue))
        (self.preview_clients if previews else self.clients).add(client)
        return client

    def unsubscribe(self, client: Client) -> None:
        self.clients.discard(client)
        self.preview_clients.discard(client)

    # -- snapshots for the routes -------------------------------------------------------------

    def worker_states(self) -> dict[str, str]:
        """Each worker's last reported state, or ``silent`` when its heartbeats stopped (it
        died, or is being restarted by the supervisor)."""
        now = time.monotonic()
        with self._lock:
            items = sorted(self.workers.items())
            heard = dict(self.heard)
        return {
            name: "silent"
            if w.state != "stopped" and now - heard.get(name, now) > self.silent_after_s
            else w.state
            for name, w in items
        }

    def cameras(self) -> list[dict[str, Any]]:
        """Per camera: the aligner's view (state, fps, gaps, offset) and its worker's."""
        states = self.worker_states()
        with self._lock:
            status, workers = self.rig_status, dict(self.workers)
        out = []
        for cam in status.cameras if status else []:
            worker = workers.get(f"capture:{cam.camera_id}")
            out.append(
                {
                    "camera_id": cam.camera_id,
                    "state": cam.state,
                    "fps": round(cam.fps, 3),
                    "frames": cam.frames,
                    "drops": cam.gaps,
                    "late": cam.late,
                    "offset_ms": None
                    if cam.last_offset_ns is None
                    else round(cam.last_offset_ns / 1e6, 3),
                    "mean_abs_offset_ms": None
                    if cam.mean_abs_offset_ns is None
                    else round(cam.mean_abs_offset_ns / 1e6, 3),
                    "worker_state": states.get(f"capture:{cam.camera_id}") if worker else None,
                    "worker_error": worker.last_error if worker else None,
                }
            )
        return out
