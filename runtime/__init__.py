"""Lean edge runtime: MediaPipe face detection and onnxruntime/TFLite classifiers, no TensorFlow."""
