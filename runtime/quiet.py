"""Keep native libraries' start-up banners off the terminal, and nothing else.

TensorFlow, MediaPipe and LiteRT log from C++ straight to file descriptor 2, before and
beside any Python logging setting; their banners would bury our one-line messages.
While a noisy call runs, fd 2 goes to a temporary file; afterwards every line that is
not a known banner is passed on, so real warnings and errors stay visible.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

NATIVE_BANNERS = re.compile(
    r"(All log messages before absl::InitializeLog|Logging before InitGoogle"
    r"|oneDNN custom operations are on|TF-TRT Warning|Unable to register cu"
    r"|computation placer already registered|This TensorFlow binary is optimized"
    r"|rebuild TensorFlow with the appropriate|^INFO: |^[IW]0000 .*\] (?!.*error)"
    r"|XNNPACK delegate|gl_context|Feedback manager requires"
    r"|Sparsity tensors may not yet be fully supported)")


@contextmanager
def native_banners_filtered(noise: re.Pattern = NATIVE_BANNERS) -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                if line.strip() and not noise.search(line):
                    print(line, file=sys.stderr)
