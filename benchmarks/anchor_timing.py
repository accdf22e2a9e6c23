"""The calibration models' time on this machine, through OpenCV DNN (their project's engine):
``python benchmarks/anchor_timing.py ANCHORS_DIR`` prints JSON. Needs only OpenCV and NumPy,
so it runs in the calibration environment (requirements/pi-calibration.txt, OpenCV 4.10 as
their Raspberry Pi timings were published with), apart from the runtime's OpenCV 5."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

MODELS = {
    "yunet_fp32": ("face_detection_yunet_2023mar.onnx", (160, 120)),
    "fer_int8": ("facial_expression_recognition_mobilefacenet_2022july_int8.onnx", (112, 112)),
}
ROUNDS = 5


def anchor_call(key: str, path: Path, size: tuple[int, int]) -> Callable[[], None]:
    """One call of a calibration model as its project's benchmark makes it: YuNet through
    ``cv2.FaceDetectorYN`` (which pads the input to its strides and decodes the boxes), the
    classifier as a plain DNN forward pass; on fixed random input."""
    rng = np.random.default_rng(0)
    if key.startswith("yunet"):
        detector = cv2.FaceDetectorYN.create(str(path), "", size)
        image = rng.integers(0, 256, (size[1], size[0], 3), np.uint8)

        def detect() -> None:
            detector.detect(image)

        return detect
    net = cv2.dnn.readNet(str(path))
    blob = rng.random((1, 3, size[1], size[0]), np.float32)

    def call() -> None:
        net.setInput(blob)
        net.forward()

    return call


def median_ms(key: str, path: Path, size: tuple[int, int], threads: int, repeats: int = 200) -> float:
    """Median of ``repeats`` calls on ``threads`` threads (after 30 to warm up; their project's
    benchmark takes the median too, which a tiny model's noisy calls need)."""
    cv2.setNumThreads(threads)
    call = anchor_call(key, path, size)
    for _ in range(30):
        call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1000


def main() -> int:
    """``anchor_timing.py ANCHORS_DIR [THREADS ...]``: ms per model and thread count (default
    1 and every core here: their published timings used OpenCV's default, every core)."""
    anchors = Path(sys.argv[1])
    threads = [int(t) for t in sys.argv[2:]] or sorted({1, os.cpu_count() or 1})
    rounds: dict[str, dict[str, list[float]]] = {str(t): {key: [] for key in MODELS} for t in threads}
    for _ in range(ROUNDS):  # interleaved, so that a slow spell of the machine touches every figure
        for t in threads:
            for key, (name, size) in MODELS.items():
                rounds[str(t)][key].append(median_ms(key, anchors / name, size, t))
    out = {t: {key: round(float(np.median(v)), 3) for key, v in x.items()} for t, x in rounds.items()}
    print(json.dumps({"opencv": cv2.__version__, "ms": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
