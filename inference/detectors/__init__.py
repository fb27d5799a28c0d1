"""2D keypoint detectors, each mapping its keypoints into the project skeleton."""
