"""Keep native libraries' start-up banners off the terminal, and nothing else.

TensorFlow, MediaPipe and LiteRT log from C++ straight to file descriptor 2, before and
beside any Python logging setting; their banners would bury our one-line messages.
While a noisy call runs, fd 2 goes to a temporary file; afterwards every line that is
not a known banner is passed on, so real warnings and errors stay visible.

fd 2 belongs to the whole process, so one lock serialises the redirections: two engines
warming up on parallel threads would otherwise each save the other's temporary file as
"the terminal" and leave fd 2 pointing at a deleted file, swallowing every later message.
Python's own ``sys.stderr`` is pointed at the real terminal for the window, so the
runtime's messages are never held back or filtered, whichever thread prints them.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

NATIVE_BANNERS = re.compile(
    r"(All log messages before absl::InitializeLog|Logging before InitGoogle"
    r"|oneDNN custom operations are on|TF-TRT Warning|Unable to register cu"
    r"|computation placer already registered|This TensorFlow binary is optimized"
    r"|rebuild TensorFlow with the appropriate|^INFO: |^[IW]0000 .*\] (?!.*error)"
    r"|XNNPACK delegate|gl_context|Feedback manager requires"
    r"|Sparsity tensors may not yet be fully supported)"
)


# fd 2 is one per process: this lock is the one piece of module state, and it guards it.
_FD2_LOCK = threading.RLock()


class NativeNoiseFilter:
    """A reusable fd-2 capture for calls that may log natively on any call, not just the first.

    MediaPipe warns from inside ``detect`` whenever a frame lands on unaligned memory, which
    depends on the allocator: so every call is filtered. Reusing one capture file keeps that
    to two ``dup2`` calls and an ``fstat`` per call; the file is read only when it grew.
    """

    def __init__(self, noise: re.Pattern = NATIVE_BANNERS) -> None:
        self.noise = noise
        self._capture = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 - lives with the filter

    @contextmanager
    def active(self) -> Iterator[None]:
        with _FD2_LOCK:
            py_stderr = sys.stderr
            py_stderr.flush()
            saved = os.dup(2)
            terminal = (
                os.fdopen(
                    os.dup(saved),
                    "w",
                    buffering=1,
                    errors="replace",
                    encoding=getattr(py_stderr, "encoding", None) or "utf-8",
                )
                if _writes_to_fd2(py_stderr)
                else None
            )
            try:
                os.dup2(self._capture.fileno(), 2)
                if terminal is not None:
                    sys.stderr = terminal  # Python-level messages bypass the capture
                try:
                    yield
                finally:
                    sys.stderr = py_stderr
                    os.dup2(saved, 2)
                    self._pass_on(py_stderr)
            finally:
                os.close(saved)
                if terminal is not None:
                    terminal.close()

    def _pass_on(self, stream: TextIO) -> None:
        """Print what the call logged, banners excepted, and empty the capture file."""
        if os.fstat(self._capture.fileno()).st_size == 0:
            return
        self._capture.seek(0)
        text = self._capture.read().decode(errors="replace")
        self._capture.seek(0)
        self._capture.truncate()
        for line in text.splitlines():
            if line.strip() and not self.noise.search(line):
                print(line, file=stream)

    def close(self) -> None:
        self._capture.close()


@contextmanager
def native_banners_filtered(noise: re.Pattern = NATIVE_BANNERS) -> Iterator[None]:
    """Filter one call (a start-up or a first allocation)."""
    quiet = NativeNoiseFilter(noise)
    try:
        with quiet.active():
            yield
    finally:
        quiet.close()


def _writes_to_fd2(stream: object) -> bool:
    """Whether a Python stream is the process's fd 2 (not a test's or a caller's buffer)."""
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
