"""Boxes in pixel coordinates and how much two of them overlap: the one home of both."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in pixel coordinates, (x, y) top-left, may extend past the frame."""

    x: int
    y: int
    w: int
    h: int

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


def intersection(a: Box, b: Box) -> int:
    """The area two boxes share."""
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    return max(0, x1 - x0) * max(0, y1 - y0)


def iou(a: Box, b: Box) -> float:
    inter = intersection(a, b)
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


def mostly_inside(a: Box, b: Box, share: float = 0.7) -> bool:
    """The smaller of the two boxes lies mostly (``share`` of its area) inside the other."""
    return intersection(a, b) >= share * min(a.w * a.h, b.w * b.h)
