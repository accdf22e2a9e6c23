"""One detector for stills made of two: the video detector's faces, and the faces a second,
slower model finds that the first did not.

A photo is analysed once, so it may spend what a webcam frame may not. Every face the first
detector finds is kept exactly as it is (so its crop, labels and figures are the ones the
video path gives); a face of the second is added only where it overlaps none of them. Each
detection names the detector that found it, so each face is cropped by the rule measured for
that detector's boxes (``ModelCard.crop_for``). On video frames (``tile`` False) only the
first detector runs: a webcam keeps its speed.
"""

from __future__ import annotations

import numpy as np

from .detection import Detection, Detector
from .geometry import iou, mostly_inside


def overlaps(a: Detection, kept: list[Detection], threshold: float = 0.3) -> bool:
    return any(iou(a.box, k.box) >= threshold or mostly_inside(a.box, k.box) for k in kept)


class Fused:
    """``first`` everywhere; on stills also ``second``'s faces that ``first`` missed."""

    def __init__(self, name: str, first: Detector, second: Detector) -> None:
        self.name, self.first, self.second = name, first, second
        self.min_score = first.min_score

    def detect(self, frame_bgr: np.ndarray, tile: bool = False) -> list[Detection]:
        found = [
            d if d.source else d.with_source(self.first.name) for d in self.first.detect(frame_bgr, tile)
        ]
        if not tile:
            return found
        extra = [d for d in self.second.detect(frame_bgr, tile) if not overlaps(d, found)]
        return found + [d if d.source else d.with_source(self.second.name) for d in extra]

    def close(self) -> None:
        self.first.close()
        self.second.close()

    def __enter__(self) -> Fused:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
