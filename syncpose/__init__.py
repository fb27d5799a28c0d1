"""syncpose: real-time 3D human pose from several unsynchronised cameras.

One import root. Its own modules are the small shared core that every package may import —
configuration models, wire messages and the bus, clocks, the camera model, the skeleton,
motion files and the simulator, pose files, process supervision — and that imports none of the
packages above it: :mod:`syncpose.capture`, :mod:`syncpose.calibration`,
:mod:`syncpose.inference`, :mod:`syncpose.server`, and the application layer that wires them
together, :mod:`syncpose.app` (the ``syncpose`` command line).
"""

__version__ = "0.1.0"
