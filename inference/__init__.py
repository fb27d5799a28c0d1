"""Inference: baselines, the weak-sync denoiser (``syncpose.inference.denoiser``), the
bundle-by-bundle fusion engine, filters, detectors and the ONNX runtime. It meets capture only
on the bus."""
