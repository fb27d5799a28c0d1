"""Capture: frame sources, the per-camera capture worker, and the timer-driven aligner."""
