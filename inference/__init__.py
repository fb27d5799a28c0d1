"""Inference: 2D detectors, triangulation, the weak-sync denoiser and the inference worker.

Empty until the denoiser and pipeline issues land; it meets capture only on the bus.
"""
