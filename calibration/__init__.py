"""Calibration: camera and rig model, boards, intrinsics, extrinsics and time offsets.

Empty until the calibration issue lands.
"""
