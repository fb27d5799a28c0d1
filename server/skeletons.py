"""Each person's solved skeleton for the live viewer: the bones of
:data:`~syncpose.solve.BONES` placed by forward kinematics from the solve, with their local
axes, added to the poses the WebSocket streams (not to recordings: a recording keeps the
joints, and BVH export solves them again). Bone lengths are estimated online per track id
(:class:`~syncpose.solve.PeopleLengths`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from syncpose.arrays import AnyArray
from syncpose.messages import PoseResult
from syncpose.posefile import json_points
from syncpose.skeleton import JOINTS
from syncpose.solve import BONES, PeopleLengths, bone_axes, bone_positions, solve

BONE_NAMES = [b.name for b in BONES]
BONE_PARENTS = [b.parent for b in BONES]


class LiveSkeletons:
    """Adds ``skeleton`` to each person of a pose's JSON: ``bones`` (names), ``parents``,
    ``positions`` (B, 3) where each bone starts (world, m) and ``axes`` (B, 3, 3) its local
    axes in the world (rows: its x, y, z). A person without a pelvis gets none."""

    def __init__(self) -> None:
        self.lengths = PeopleLengths()

    def add(
        self, data: dict[str, Any], pose: PoseResult, arrays: dict[str, AnyArray]
    ) -> dict[str, Any]:
        positions = arrays.get("positions")
        if positions is None or pose.joint_names != list(JOINTS):
            return data
        people = []
        for i, person in enumerate(data["people"]):
            p = np.asarray(positions[i], dtype=np.float64)
            solved = solve(p[None])
            if not np.isfinite(solved.root).all():
                people.append(person)
                continue
            try:
                lengths = self.lengths.update(pose.person_ids[i], p)
            except ValueError:  # no bone measured
                people.append(person)
                continue
            axes = np.swapaxes(bone_axes(solved)[0], -1, -2)  # rows: the bone's axes
            skeleton = {
                "bones": BONE_NAMES,
                "parents": BONE_PARENTS,
                "positions": json_points(bone_positions(solved, lengths)[0]),
                "axes": np.round(axes, 4).tolist(),
            }
            people.append({**person, "skeleton": skeleton})
        return {**data, "people": people}
