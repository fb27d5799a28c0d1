"""The application layer: the only place that wires the packages together.

* :mod:`syncpose.app.cli` and :mod:`syncpose.app.commands`: the ``syncpose`` command line;
* :mod:`syncpose.app.rig`: which processes a rig config starts, and the loop that runs them;
* :mod:`syncpose.app.offline`: a recorded rig through the live rig's parts (``reconstruct``);
* :mod:`syncpose.app.bench_video`, :mod:`syncpose.app.bench_e2e` and :mod:`syncpose.app.faults`:
  the benchmarks that run capture, inference and the server together.

Nothing below imports this package: the core (``syncpose``'s own modules) imports none of the
packages above it, and ``capture``, ``inference`` and ``server`` meet only on the bus.
"""
