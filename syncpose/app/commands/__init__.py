"""The command groups of the ``syncpose`` command line, one module each: :mod:`.rig`
(validate-config, demo, run, capture, align), :mod:`.calibration` (calibrate, intrinsics, sync,
board), :mod:`.video` (reconstruct), :mod:`.training` (train, import-bvh) and :mod:`.bench`
(every benchmark).

Each has ``register(subparsers)``, which adds its commands and gives each parser the group's
``run`` and the command's handler (``set_defaults(run=run, handler=…)``), and ``run(args)``,
which runs the handler of the command chosen."""
