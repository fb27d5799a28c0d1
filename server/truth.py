"""The true pose of a synthetic rig's subject, for demos and end-to-end tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syncpose.config import RigConfig, SyntheticSourceConfig
from syncpose.motion import load_motion
from syncpose.simulate import MotionPlayer
from syncpose.skeleton import JOINTS, MOCAP


@dataclass
class SyntheticTruth:
    """The true pose of a synthetic rig's subject at any instant (the rig's motion, timed from
    its epoch, in the project skeleton)."""

    player: MotionPlayer
    epoch_ns: int

    @classmethod
    def of(cls, rig: RigConfig, epoch_ns: int | None) -> SyntheticTruth | None:
        """For a rig whose cameras are all synthetic and film the same motion of one person;
        else None."""
        sources = [c.source for c in rig.cameras]
        if epoch_ns is None or not rig.all_synthetic:
            return None
        motions = {(s.motion, s.clip) for s in sources if isinstance(s, SyntheticSourceConfig)}
        if len(motions) != 1:
            return None
        if any(isinstance(s, SyntheticSourceConfig) and s.people > 1 for s in sources):
            return None  # a scene of several people: no single true pose to give
        ((motion, clip),) = motions
        return cls(MotionPlayer(load_motion(motion), clip), epoch_ns)

    def at(self, t_ns: int) -> dict[str, Any]:
        """``t_ns``, the joint names and the true positions (metres) at ``t_ns``."""
        joints, _ = MOCAP.apply(self.player.pose_at((t_ns - self.epoch_ns) / 1e9))
        return {
            "t_ns": t_ns,
            "joint_names": list(JOINTS),
            "positions": [[round(float(v), 6) for v in p] for p in joints],
        }
