"""Instructions per call of each stage, counted under qemu-user with the marker plugin
(scripts/qemu_plugin/insn_markers.c); run inside the arm64 root by scripts/count_aarch64.sh.

``count_instructions.py ours OUT.json`` (the runtime's venv): the BlazeFace detector per
640x480 frame and every shipped classifier per face, one thread. ``count_instructions.py
anchors ANCHORS_DIR OUT.json`` (the calibration venv, OpenCV 4.10): the two calibration models
per call, one thread. Each piece of work is bracketed by two marker calls (``getpgid`` with a
marker argument, which the plugin reports with its running instruction count on stderr);
this script writes which marker is which, and the host turns the pairs into counts.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

MARKER = 2100000000  # the plugin's marker base (insn_markers.c)
CALLS = 4  # counted calls per stage, after one to warm up (instruction counts barely vary)


def mark(k: int) -> None:
    """Tell the plugin to print its count now, tagged ``k``."""
    with contextlib.suppress(ProcessLookupError):
        os.getpgid(MARKER + k)


def bracket(names: list[str], name: str, call: Callable[[], object], calls: int = CALLS) -> None:
    """Warm ``call`` up once, then count ``calls`` calls between markers 2i and 2i+1."""
    call()
    i = len(names)
    names.append(name)
    mark(2 * i)
    for _ in range(calls):
        call()
    mark(2 * i + 1)


def ours(names: list[str]) -> dict:
    import numpy as np

    from runtime.backends import open_classifier
    from runtime.card import sha256_of
    from runtime.detector import open_detector
    from runtime.model_folder import shipped_exports
    from runtime.sources import DemoSource

    frames = [f.image for f in DemoSource(frames=CALLS + 1, size=(640, 480)).frames()]
    with open_detector("short") as det:
        it = iter(frames * 2)
        bracket(names, "detect", lambda: det.detect(next(it)))
        engine = getattr(det, "engine", "")  # LiteRT where MediaPipe's build cannot run
    files = {}  # what was counted: benchmarks.pi_estimate refuses counts of other files
    for key, path in shipped_exports().items():
        files[key] = sha256_of(path)
        clf = open_classifier(path, threads=1)
        x = np.zeros((1, *clf.input_shape), np.float32)
        bracket(names, key, lambda c=clf, x=x: c.predict(x))
    return {"detector_engine": engine, "files": files}


def anchors(names: list[str], folder: Path) -> dict:
    import cv2

    sys.path.insert(0, str(Path(__file__).parent))
    from anchor_timing import MODELS, anchor_call

    cv2.setNumThreads(1)
    for key, (name, size) in MODELS.items():
        bracket(names, key, anchor_call(key, folder / name, size))
    return {}


def main() -> int:
    names: list[str] = []
    info = ours(names) if sys.argv[1] == "ours" else anchors(names, Path(sys.argv[2]))
    Path(sys.argv[-1]).write_text(json.dumps({"calls": CALLS, "names": names, **info}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
