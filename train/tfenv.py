"""Import TensorFlow without its start-up chatter on stderr.

TensorFlow's C++ side prints absl/oneDNN banners straight to file descriptor 2,
before any Python logging setting applies; they would bury our one-line errors.
The import runs inside ``runtime.quiet.native_banners_filtered``, so real import
problems stay visible.
"""

from __future__ import annotations

import os
import sys

from runtime.quiet import native_banners_filtered


def import_tensorflow():
    """Return the tensorflow module, imported once with its banners filtered out."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_banners_filtered():
        import keras  # noqa: F401  (its backend import is where the banners come from)
        import tensorflow as tf
    return tf
