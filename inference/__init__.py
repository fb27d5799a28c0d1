"""Inference: the 2D detectors, the pipeline from a bundle's frames to a pose (keypoints onto
the calibration's pixel grid, left/right swap repair, fusion, filtering), the fusion engine and
its baselines, the weak-sync denoiser at run time (``syncpose.inference.denoiser``), the ONNX
runtime and the inference worker process. It meets capture only on the bus. Training, export
and the accuracy benchmark are kept apart in ``syncpose.inference.research``."""
