"""The weak-sync diffusion denoiser: features (numpy), model and training (torch), ONNX runtime."""
