"""Lean edge runtime: MediaPipe face detection and onnxruntime/TFLite classifiers, no TensorFlow.

Installed from the wheel it is the package ``edge_face``; in this repository it is ``runtime``.
The Python API (``Analyzer``, ``Face``, ``TaskResult``) loads on first use, so importing a
small module such as ``runtime.card`` does not pull in the detector and the engines.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("edge-face")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Analyzer", "Face", "TaskResult", "__version__"]


def __getattr__(name: str) -> object:
    if name in ("Analyzer", "Face", "TaskResult"):
        return getattr(import_module(".api", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
