"""Research on the denoiser, apart from the runtime: the torch model, training on motion
capture through the simulator, ONNX export, the ablation, the accuracy benchmark and its
measures, and the denoiser's speed benchmark.

Only the application layer (``syncpose.app``: ``syncpose train``, ``syncpose bench …``) and
the tests import this package; the service imports none of it. torch is imported only by
:mod:`~syncpose.inference.research.model`, :mod:`~syncpose.inference.research.train` and
:mod:`~syncpose.inference.research.export` (and, where installed, by the speed benchmark's
torch figures).
"""
