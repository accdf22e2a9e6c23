"""What every face detector gives the engine, and the helpers detectors share.

A detector is anything with ``name``, ``detect(frame_bgr, tile=False)`` and ``close()``
(:class:`Detector`); ``runtime.detector`` opens one by name. Its ``name`` is also the key
of the crop rules a model card measured against its boxes (``ModelCard.crop_for``).
Tiling (for small faces in large stills) and non-maximum suppression are here, shared,
so a new detector only has to find faces in one image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from .geometry import Box, iou, mostly_inside


class DetectorError(RuntimeError):
    """The detector model is missing, altered, or its engine cannot start."""


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float
    # Roll of the eye line in degrees (clockwise on screen, y down), from the detector's eye
    # keypoints: rotating the image by this much about the box centre makes the eyes level.
    roll: float = 0.0
    # The detector whose box this is ("" = the one the pipeline opened): each face is cropped
    # by the rule its card measured for that detector's boxes.
    source: str = ""

    def with_source(self, source: str) -> Detection:
        return replace(self, source=source)


class Detector(Protocol):
    """A face detector as the engine uses it."""

    name: str  # the registry name; the key of the crop rules measured against its boxes
    min_score: float

    def detect(self, frame_bgr: np.ndarray, tile: bool = False) -> list[Detection]:
        """Faces in a BGR frame; ``tile`` also searches overlapping crops (stills)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Detector: ...

    def __exit__(self, *exc: object) -> None: ...


def eye_roll(right_eye: tuple[float, float], left_eye: tuple[float, float]) -> float:
    """Degrees the eye line is turned clockwise on screen. The first eye keypoint is the
    subject's right eye, which a camera shows on the left."""
    dx, dy = left_eye[0] - right_eye[0], left_eye[1] - right_eye[1]
    return float(np.degrees(np.arctan2(dy, dx))) if dx or dy else 0.0


def non_max_suppression(dets: list[Detection], threshold: float = 0.4) -> list[Detection]:
    """Keep the best-scoring box of each overlapping group (also a box inside another one,
    as a tile can see a face that the whole-image pass saw larger)."""
    kept: list[Detection] = []
    for d in sorted(dets, key=lambda d: d.score, reverse=True):
        if all(iou(d.box, k.box) < threshold and not mostly_inside(d.box, k.box) for k in kept):
            kept.append(d)
    return kept


def tiles(width: int, height: int, side: int, overlap: float = 0.25) -> list[tuple[int, int, int]]:
    """(x, y, side) squares covering the image with the given overlap."""
    side = min(side, width, height)
    step = max(1, int(side * (1 - overlap)))
    xs = list(range(0, max(1, width - side) + 1, step))
    ys = list(range(0, max(1, height - side) + 1, step))
    if xs[-1] + side < width:
        xs.append(width - side)
    if ys[-1] + side < height:
        ys.append(height - side)
    return [(x, y, side) for y in ys for x in xs]


# find(image, dx, dy, min_score): the faces of one image, boxes moved by (dx, dy)
FindFaces = Callable[[np.ndarray, int, int, float], list[Detection]]


def detect_tiled(
    find: FindFaces, image: np.ndarray, input_side: int, tile_min_score: float
) -> list[Detection]:
    """The whole image, then (when it is much larger than the network's input) overlapping
    tiles from half its short side down, merged by NMS. Tiles must score ``tile_min_score``:
    a zoomed-in tile shows the network texture it never saw at that scale."""
    found = find(image, 0, 0, 0.0)
    h, w = image.shape[:2]
    if min(h, w) <= 3 * input_side:
        return found
    side = min(h, w) // 2
    smallest = max(input_side, min(h, w) // 16)  # an 8K still: ~800 tiles, not 3000
    while side >= smallest:
        for x, y, s in tiles(w, h, side):
            found += find(image[y : y + s, x : x + s], x, y, tile_min_score)
        side //= 2
    return non_max_suppression(found)
