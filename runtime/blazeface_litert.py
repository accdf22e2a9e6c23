"""BlazeFace on LiteRT with MediaPipe's decoding, for CPUs MediaPipe's own build cannot run on.

MediaPipe's aarch64 wheel is compiled for ARMv8.1 atomics (LSE) and stops at start-up on an
ARMv8.0 core such as the Raspberry Pi 4's Cortex-A72 ("compiled with lse enabled, but this
feature is not available"). The BlazeFace files are plain TFLite models, so here LiteRT (which
the classifiers already use, and which runs on any aarch64 core) runs the same file and this
module does what MediaPipe's FaceDetector graph does around it: letterbox to the network's
square input scaled to [-1, 1], SSD anchors, box and keypoint decoding, sigmoid scores and
weighted non-maximum suppression at IoU 0.3, then back to image pixels. Its boxes match
MediaPipe's to within a pixel or two (tests/lean/test_blazeface_litert.py), so the crop rules
measured with MediaPipe hold.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .detection import DetectorError
from .quiet import native_banners_filtered


@dataclass(frozen=True)
class AnchorScheme:
    """MediaPipe's SsdAnchorsCalculator settings for one BlazeFace variant (fixed anchor size:
    every anchor is a centre; the network's offsets are in input pixels)."""

    side: int  # the network's square input
    strides: tuple[int, ...]  # one per anchor layer; equal strides share a grid
    per_layer: int  # anchors per cell per layer (2 with the interpolated aspect ratio)


SCHEMES = {
    "short": AnchorScheme(128, (8, 16, 16, 16), 2),  # 896 anchors
    "full": AnchorScheme(192, (4,), 1),  # 2304 anchors
}
NMS_IOU = 0.3  # MediaPipe FaceDetectorOptions.min_suppression_threshold's default
KEYPOINTS = 6


def anchors(scheme: AnchorScheme) -> np.ndarray:
    """(N, 2) anchor centres in [0, 1], in the order the network's outputs use."""
    out, i = [], 0
    while i < len(scheme.strides):
        stride, n = scheme.strides[i], 0
        while i < len(scheme.strides) and scheme.strides[i] == stride:
            n, i = n + scheme.per_layer, i + 1
        cells = -(-scheme.side // stride)
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], -1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, n, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x0, y0, x1, y1) box with each of ``boxes``."""
    x0, y0 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x1, y1 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def weighted_nms(coords: np.ndarray, scores: np.ndarray, threshold: float = NMS_IOU) -> list:
    """MediaPipe's WEIGHTED suppression: the best remaining detection and every one overlapping
    it by more than ``threshold`` become one, their coordinates averaged by score, the best
    one's score kept. ``coords`` rows start with (x0, y0, x1, y1)."""
    order = np.argsort(-scores, kind="stable")
    out = []
    while order.size:
        top = order[0]
        near = iou(coords[top, :4], coords[order, :4]) > threshold
        near[0] = True
        group = order[near]
        w = scores[group][:, None]
        out.append(((coords[group] * w).sum(0) / w.sum(), float(scores[top])))
        order = order[~near]
    return out


class LiteRTBlazeFaceEngine:
    """One BlazeFace variant on LiteRT: :meth:`faces` is what MediaPipe's ``detect`` returns,
    as (x, y, w, h, score, right eye (x, y), left eye (x, y)) in image pixels."""

    def __init__(self, path: Path, variant: str, min_score: float, threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.scheme, self.min_score = SCHEMES[variant], min_score
        self.interpreter: Any = None
        try:
            with native_banners_filtered():
                # Like MediaPipe's own pool, up to 4 cores: the classifiers take --threads.
                self.interpreter = Interpreter(
                    model_path=str(path), num_threads=threads or min(4, os.cpu_count() or 1)
                )
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise DetectorError(f"LiteRT cannot load the {variant}-range detector {path}: {e}") from e
        self.input = self.interpreter.get_input_details()[0]
        outputs = self.interpreter.get_output_details()
        by_width = {int(o["shape"][-1]): o["index"] for o in outputs}
        self.regressors, self.scores = by_width[4 + 2 * KEYPOINTS], by_width[1]
        self.anchors = anchors(self.scheme)
        n = int(outputs[0]["shape"][1])
        if n != len(self.anchors):
            raise DetectorError(f"{path.name} has {n} anchors, not the {len(self.anchors)} of its scheme")

    def _letterbox(self, rgb: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """The image fitted into the square input, centred on black (MediaPipe's keep_aspect_ratio
        with BORDER_ZERO, sampled as its affine warp samples: corner to corner), in [-1, 1];
        and the square's side and corner in image pixels, to map outputs back."""
        side, (h, w) = self.scheme.side, rgb.shape[:2]
        size = float(max(h, w))
        x0, y0 = (w - size) / 2, (h - size) / 2
        k = side / size
        warp = np.array([[k, 0, -x0 * k], [0, k, -y0 * k]], np.float32)
        square = cv2.warpAffine(rgb, warp, (side, side), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        return square.astype(np.float32) / 127.5 - 1.0, size, x0, y0

    def faces(self, rgb: np.ndarray) -> list[tuple]:
        if self.interpreter is None:
            raise DetectorError("the face detector is closed; make a new detector")
        x, size, x0, y0 = self._letterbox(rgb)
        self.interpreter.set_tensor(self.input["index"], x[None])
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self.regressors)[0]
        logits = np.clip(self.interpreter.get_tensor(self.scores)[0, :, 0], -100, 100)
        score = 1 / (1 + np.exp(-logits.astype(np.float64)))
        keep = score >= self.min_score
        if not keep.any():
            return []
        raw, score, anc = raw[keep] / self.scheme.side, score[keep], self.anchors[keep]
        cx, cy = raw[:, 0] + anc[:, 0], raw[:, 1] + anc[:, 1]
        half_w, half_h = raw[:, 2] / 2, raw[:, 3] / 2
        points = raw[:, 4 : 4 + 2 * KEYPOINTS].reshape(-1, KEYPOINTS, 2) + anc[:, None, :]
        coords = np.concatenate(
            [np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], 1), points[:, :2].reshape(-1, 4)],
            1,
        )
        out = []
        for c, s in weighted_nms(coords, score):
            xs, ys = c[0::2] * size + x0, c[1::2] * size + y0  # the square's units to pixels
            # Whole pixels as MediaPipe reports them: truncated, the corner clipped at the edge.
            left, top = max(0, int(xs[0])), max(0, int(ys[0]))
            bw, bh = int(xs[1] - xs[0]), int(ys[1] - ys[0])
            out.append((left, top, bw, bh, s, (float(xs[2]), float(ys[2])), (float(xs[3]), float(ys[3]))))
        return out

    def close(self) -> None:
        self.interpreter = None
