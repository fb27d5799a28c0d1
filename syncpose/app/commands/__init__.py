"""The command groups of the ``syncpose`` command line, one module each, each with
``register(subparsers)`` and ``run(args)``: :mod:`.rig` (validate-config, demo, run, capture,
align), :mod:`.calibration` (calibrate, intrinsics, sync, board), :mod:`.video` (reconstruct),
:mod:`.training` (train, import-bvh) and :mod:`.bench` (every benchmark)."""
