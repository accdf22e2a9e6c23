"""The calibration models' time on this machine, through OpenCV DNN (their project's engine):
``python benchmarks/anchor_timing.py ANCHORS_DIR`` prints JSON. Needs only OpenCV and NumPy,
so it runs in the calibration environment (requirements/pi-calibration.txt, OpenCV 4.10 as
their Raspberry Pi timings were published with), apart from the runtime's OpenCV 5."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

MODELS = {
    "yunet_fp32": ("face_detection_yunet_2023mar.onnx", (160, 120)),
    "fer_int8": ("facial_expression_recognition_mobilefacenet_2022july_int8.onnx", (112, 112)),
}


def mean_ms(key: str, path: Path, size: tuple[int, int], repeats: int = 200) -> float:
    """Mean of ``repeats`` calls, one thread (after 10 to warm up), as the models' own
    benchmark calls them: YuNet through ``cv2.FaceDetectorYN`` (which pads the input to its
    strides and decodes the boxes), the classifier as a plain DNN forward pass."""
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    if key.startswith("yunet"):
        detector = cv2.FaceDetectorYN.create(str(path), "", size)
        image = rng.integers(0, 256, (size[1], size[0], 3), np.uint8)

        def call() -> None:
            detector.detect(image)
    else:
        net = cv2.dnn.readNet(str(path))
        blob = rng.random((1, 3, size[1], size[0]), np.float32)

        def call() -> None:
            net.setInput(blob)
            net.forward()

    for _ in range(10):
        call()
    t0 = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - t0) / repeats * 1000


def main() -> int:
    anchors = Path(sys.argv[1])
    out = {key: round(mean_ms(key, anchors / name, size), 3) for key, (name, size) in MODELS.items()}
    print(json.dumps({"opencv": cv2.__version__, "ms": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
