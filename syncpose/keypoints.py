"""Several views' 2D keypoints over time: what the batch fusion methods take.

:class:`KeypointTracks` holds a rig's detections at K ticks — every view's keypoints, their
confidences and the views' capture times — the input of DLT, time-aware triangulation and the
denoiser run over a whole stream. The simulator makes them (with its ground truth beside them,
:class:`~syncpose.simulate.Sequence2D`); the runtime only ever needs what is here.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncpose.arrays import FloatArray
from syncpose.camera import Rig


@dataclass
class KeypointTracks:
    """A rig's 2D detections at K ticks. Shapes: K ticks, V views (the rig's cameras, in
    order), J joints.

    ``t_ref`` (K,) seconds, the ticks; ``points`` (V, K, J, 2) pixels, NaN = not seen;
    ``confidence`` (V, K, J), 0 = missed; ``t_capture`` (V, K) seconds, each view's capture
    time on the ticks' clock, NaN = no frame.
    """

    rig: Rig
    t_ref: FloatArray
    points: FloatArray
    confidence: FloatArray
    t_capture: FloatArray
