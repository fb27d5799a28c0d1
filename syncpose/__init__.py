"""syncpose: real-time 3D human pose from several unsynchronised cameras.

This package is the small shared core: configuration models, wire messages, clocks, ZeroMQ helpers,
motion files and the simulated camera, the process launcher and the ``syncpose`` command line.
"""

__version__ = "0.1.0"
