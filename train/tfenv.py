"""Import TensorFlow without its start-up chatter on stderr.

TensorFlow's C++ side prints absl/oneDNN banners straight to file descriptor 2,
before any Python logging setting applies; they would bury our one-line errors.
The import runs with fd 2 captured, and every line that is not a known banner is
passed on, so real import problems stay visible.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

NOISE = re.compile(r"(All log messages before absl::InitializeLog|oneDNN custom operations are on"
                   r"|TF-TRT Warning|Unable to register cu|computation placer already registered"
                   r"|This TensorFlow binary is optimized|rebuild TensorFlow with the appropriate)")


def import_tensorflow():
    """Return the tensorflow module, imported once with its banners filtered out."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras  # noqa: F401  (its backend import is where the banners come from)
            import tensorflow as tf
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                if line.strip() and not NOISE.search(line):
                    print(line, file=sys.stderr)
    return tf
