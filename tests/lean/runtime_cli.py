"""Running the runtime's CLI as a user does, for the tests (one helper, not one per file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_runtime(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """``python -m runtime --no-show ARGS`` from the repository root, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "runtime", "--no-show", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )
