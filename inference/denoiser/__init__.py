"""The weak-sync diffusion denoiser at run time: its rig-independent inputs (numpy) and the
exported ONNX sampler through onnxruntime. The torch model, its training and export live in
:mod:`syncpose.inference.research`."""
